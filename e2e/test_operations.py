"""`GET /api/v1/operations` (the Operations page's figures) counts what the receivers did, per
project: spans accepted through the real OTLP/HTTP exporter, malformed requests, log records,
and spans refused with 429 when the queue is full; the store's WAL and unsealed figures."""

from __future__ import annotations

import requests

from harness import STORE_CONFIG, merge_config
from otlp_helpers import make_request, make_span
from store_helpers import wait_until


def operations(srv) -> dict:
    r = requests.get(f"{srv.api_base}/api/v1/operations", timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def test_counts_accepted_malformed_and_refused_spans(start_server):
    # a queue of 10 spans: a request of 20 is refused whole with 429
    srv = start_server(merge_config(STORE_CONFIG, {"batcher": {"max_queued_spans": 10}}), name="operations")
    start = operations(srv)
    assert start["ingest"]["totals"]["spans_accepted"] == 0 and len(start["ingest"]["per_minute"]) == 60
    assert start["ingest"]["queue"]["capacity_spans"] == 10 and start["store"]["wal_fsync"] == "always"
    assert start["disk"]["min_free_bytes"] >= 0

    ok = srv.post_traces(make_request([make_span(name=f"op {i}") for i in range(6)]).SerializeToString())
    assert ok.status_code == 200, ok.text
    assert srv.post_traces(b"\xff\xff not protobuf").status_code == 400
    refused = srv.post_traces(make_request([make_span(name=f"big {i}") for i in range(20)]).SerializeToString())
    assert refused.status_code == 429, refused.text

    now = operations(srv)
    totals = now["ingest"]["totals"]
    assert totals["spans_accepted"] == 6 and totals["requests_malformed"] == 1 and totals["spans_refused_busy"] == 20
    assert sum(m["spans_accepted"] for m in now["ingest"]["per_minute"]) == 6
    assert sum(m["spans_refused_busy"] for m in now["ingest"]["per_minute"]) == 20
    assert now["store"]["wal_files"] >= 1 and now["store"]["wal_bytes"] > 0
    assert now["store"]["unsealed_spans"] in (0, 6)  # sealed on age, or not yet
    wait_until(lambda: operations(srv)["ingest"]["queue"]["spans"] == 0, timeout=10, what="an empty queue")
