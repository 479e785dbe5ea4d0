"""Graceful shutdown: SIGTERM drains the batcher into the sink and exits 0."""

from __future__ import annotations

import time

from harness import JSON, PROTOBUF
from otlp_helpers import keys_of, make_request, make_span, to_json_bytes


def test_sigterm_drains_queued_spans(start_server):
    srv = start_server(
        {"batcher": {"max_batch_spans": 1_000_000, "flush_interval_ms": 60_000, "max_queued_spans": 200_000}},
        name="drain",
    )
    reqs = [
        (make_request([make_span(name=f"pb {i}") for i in range(20)]), PROTOBUF, None),
        (make_request([make_span(name=f"json {i}") for i in range(10)], service="drain-json"), JSON, None),
        (make_request([make_span(name=f"pb gzip {i}") for i in range(20)]), PROTOBUF, "gzip"),
    ]
    sent = set()
    for req, ctype, enc in reqs:
        body = to_json_bytes(req) if ctype == JSON else req.SerializeToString()
        resp = srv.post_traces(body, ctype, enc)
        assert resp.status_code == 200, f"HTTP {resp.status_code}: {resp.content[:300]!r}"
        sent |= keys_of(req)
    assert len(sent) == 50

    # nothing may be flushed yet: neither the size nor the age trigger can have fired
    time.sleep(1.0)
    early = srv.sink.records()
    assert not early, f"{len(early)} span(s) flushed before the 60 s interval; the drain is not being tested"
    queued = srv.metrics().total("pyflare_batcher_queue_spans")
    assert queued == 50, f"pyflare_batcher_queue_spans = {queued}, expected the 50 waiting spans"

    took = srv.stop_ok()
    assert took < 30, took
    records = srv.sink.records()
    stored = [(r["trace_id"], r["span_id"]) for r in records]
    missing = sent - set(stored)
    assert not missing, f"{len(missing)} of 50 queued spans were lost on SIGTERM"
    assert len(stored) == len(set(stored)) == 50, f"{len(stored)} records, {len(set(stored))} distinct"
    by_name = {r["name"]: r for r in records}
    assert by_name["json 3"]["pyflare"]["service"] == "drain-json"
