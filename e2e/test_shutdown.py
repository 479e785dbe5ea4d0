"""Graceful shutdown: SIGTERM drains the batcher into the sink and exits 0.

A POST /v1/traces is answered only once its spans are written by the sink, so with a
long flush interval the requests wait in the batcher; SIGTERM must write them at once
(not after the interval), answer every waiting request 200, and keep every span."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from harness import JSON, PROTOBUF, ServerError, compress
from otlp_helpers import keys_of, make_request, make_span, to_json_bytes
from store_helpers import StoreDir, wait_until

DRAIN_TIMEOUT_S = 10  # the flush interval is 60 s: a drain that waits for it fails clearly


@pytest.mark.parametrize("kind", ["file", "store"])
def test_sigterm_drains_waiting_requests(start_server, kind):
    srv = start_server(
        {"sink": {"kind": kind}, "segments": {"max_age_ms": 600_000},
         "batcher": {"max_batch_spans": 1_000_000, "flush_interval_ms": 60_000, "max_queued_spans": 200_000}},
        name=f"drain-{kind}",
    )
    reqs = [
        (make_request([make_span(name=f"pb {i}") for i in range(20)]), PROTOBUF, None),
        (make_request([make_span(name=f"json {i}") for i in range(10)], service="drain-json"), JSON, None),
        (make_request([make_span(name=f"pb gzip {i}") for i in range(20)]), PROTOBUF, "gzip"),
    ]
    sent = set().union(*(keys_of(r) for r, _, _ in reqs))
    assert len(sent) == 50
    results: dict[int, object] = {}

    def post(idx, req, ctype, enc):
        body = to_json_bytes(req) if ctype == JSON else req.SerializeToString()
        headers = {"Content-Type": ctype, **({"Content-Encoding": enc} if enc else {})}
        try:
            results[idx] = requests.post(srv.traces_url, data=compress(body, enc), headers=headers, timeout=90)
        except requests.RequestException as e:
            results[idx] = e

    threads = [threading.Thread(target=post, args=(i, *r), daemon=True) for i, r in enumerate(reqs)]
    for t in threads:
        t.start()

    # all 50 spans wait in the batcher; the requests are not answered before they are written
    wait_until(lambda: srv.metrics().total("pyflare_batcher_queue_spans") == 50, timeout=10,
               what="pyflare_batcher_queue_spans == 50",
               describe=lambda: f"queue={srv.metrics().total('pyflare_batcher_queue_spans')}, answered={results}")
    time.sleep(0.3)  # give a (wrong) early answer the chance to show up
    assert not results, f"requests answered before their spans were written: {results}"
    assert all(t.is_alive() for t in threads)
    if kind == "file":
        assert not srv.sink.records(), "spans written before the 60 s interval; the drain is not being tested"
    else:
        tid = next(iter(sent))[0]
        assert srv.api_get(f"/api/v1/traces/{tid}").status_code == 404, "spans stored before the interval"

    t0 = time.monotonic()
    try:
        rc = srv.stop(timeout=DRAIN_TIMEOUT_S)
    except ServerError as e:
        raise AssertionError(
            f"SIGTERM with {len(reqs)} requests waiting in the batcher (flush_interval_ms 60000) did not exit "
            f"within {DRAIN_TIMEOUT_S}s (killed); the drain waits for the flush interval instead of writing at "
            f"once. Answers so far: {results} ({str(e).splitlines()[0]})"
        ) from None
    took = time.monotonic() - t0
    for t in threads:
        t.join(timeout=15)
    assert rc == 0, f"exit code {rc}\n{srv.logs()}"
    statuses = {i: getattr(r, "status_code", repr(r)) for i, r in results.items()}
    assert statuses == {0: 200, 1: 200, 2: 200}, f"waiting requests after SIGTERM: {statuses}"
    assert took < DRAIN_TIMEOUT_S, took

    if kind == "file":
        records = srv.sink.records()
        stored = [(r["trace_id"], r["span_id"]) for r in records]
        by_name = {r["name"]: r for r in records}
    else:
        assert len(StoreDir(srv.data_dir).segments()) == 1, "SIGTERM should seal the drained spans"
        srv.start()
        records = [sp for tid in {k[0] for k in sent} for sp in srv.get_trace(tid)["spans"]]
        stored = [(r["trace_id"], r["span_id"]) for r in records]
        by_name = {r["name"]: r for r in records}
    missing = sent - set(stored)
    assert not missing, f"{len(missing)} of 50 drained spans were lost on SIGTERM"
    assert len(stored) == len(set(stored)) == 50, f"{len(stored)} records, {len(set(stored))} distinct"
    assert by_name["json 3"]["pyflare"]["service"] == "drain-json"
