"""GET /metrics on the API port: Prometheus text with the pyflare_* series."""

from __future__ import annotations

from harness import PROTOBUF
from otlp_helpers import keys_of, make_request, make_span

REQUIRED = [
    "pyflare_spans_received_total",
    "pyflare_spans_accepted_total",
    "pyflare_spans_rejected_total",
    "pyflare_http_requests_total",
    "pyflare_batcher_queue_spans",
    "pyflare_batches_flushed_total",
    "pyflare_received_bytes_total",
    "pyflare_sampler_spans_total",
]


def test_metrics_after_ingest(server):
    before = server.metrics()
    assert before.content_type.startswith("text/plain"), before.content_type

    n = 25
    req = make_request([make_span(name=f"metrics {i}") for i in range(n)])
    body = req.SerializeToString()
    since = server.sink.snapshot()
    resp = server.post_traces(body, PROTOBUF)
    assert resp.status_code == 200
    bad = make_request([make_span(name="metrics good"), make_span(name="metrics zero", trace_id=bytes(16))])
    resp = server.post_traces(bad.SerializeToString(), PROTOBUF)
    assert resp.status_code == 200
    server.sink.wait_for_spans(keys_of(req), since)

    after = server.metrics()
    missing = [m for m in REQUIRED if m not in after.names()]
    assert not missing, f"missing metrics {missing}; got {sorted(after.names())}"

    def delta(name, **labels):
        return after.total(name, **labels) - before.total(name, **labels)

    assert delta("pyflare_spans_received_total") >= n + 2
    assert delta("pyflare_spans_accepted_total") >= n + 1
    assert delta("pyflare_spans_rejected_total") >= 1
    assert after.total("pyflare_spans_received_total") >= after.total("pyflare_spans_accepted_total")
    assert delta("pyflare_http_requests_total") >= 2
    assert delta("pyflare_batches_flushed_total") >= 1
    assert delta("pyflare_received_bytes_total") >= len(body)
    assert after.total("pyflare_batcher_queue_spans") >= 0

    sampler = after.series("pyflare_sampler_spans_total")
    for labels, _ in sampler:
        assert "strategy" in labels and labels.get("decision") in ("sampled", "dropped"), labels
    assert delta("pyflare_sampler_spans_total", strategy="always_on", decision="sampled") >= n + 1, sampler
    assert delta("pyflare_sampler_spans_total", decision="dropped") == 0, sampler


def test_health(server):
    import requests

    assert requests.get(f"{server.api_base}/health", timeout=10).status_code == 200
