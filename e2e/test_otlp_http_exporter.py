"""The real OpenTelemetry Python SDK + OTLP/HTTP exporter against pyflare.

The expected sink content is derived from the very spans the exporter sent
(encoded with the exporter's own encoder), and the important fields are also
checked explicitly against the SDK's span contexts.
"""

from __future__ import annotations

import threading

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from otlp_helpers import assert_spans_match, request_to_expected


class RecordingExporter(OTLPSpanExporter):
    """OTLPSpanExporter that remembers what it exported and what export() returned."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.lock = threading.Lock()
        self.results: list[SpanExportResult] = []
        self.spans = []

    def export(self, spans):
        result = super().export(spans)
        with self.lock:
            self.results.append(result)
            self.spans.extend(spans)
        return result


LLM_ATTRIBUTES = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.response.model": "gpt-4o-2024-08-06",
    "gen_ai.request.temperature": 0.7,
    "gen_ai.request.top_p": 1.0,
    "gen_ai.request.max_tokens": 2048,
    "gen_ai.request.stream": False,
    "gen_ai.usage.input_tokens": 1000,
    "gen_ai.usage.output_tokens": 500,
    "gen_ai.response.finish_reasons": ["stop", "length"],
    "gen_ai.request.stop_sequences": ("\n\n", "END"),
    "pyflare.e2e.int_list": [1, -2, 3],
    "pyflare.e2e.float_list": [0.5, 1.5],
    "pyflare.e2e.bool_list": [True, False],
    "user.id": "user-1",
    "session.id": "sess-1",
    "app.feature": "e2e-feature",
}


@pytest.mark.parametrize(
    "compression", [Compression.Gzip, Compression.NoCompression, Compression.Deflate], ids=lambda c: c.value
)
def test_sdk_exporter_roundtrip(server, compression):
    since = server.sink.snapshot()
    resource = Resource.create({"service.name": "e2e-exporter", "deployment.environment.name": "e2e"})
    provider = TracerProvider(resource=resource)
    exporter = RecordingExporter(endpoint=server.traces_url, compression=compression, timeout=10)
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=100))
    tracer = provider.get_tracer("pyflare.e2e.exporter", "1.2.3")

    with tracer.start_as_current_span("link target", kind=SpanKind.INTERNAL) as target:
        pass
    with tracer.start_as_current_span("POST /chat", kind=SpanKind.SERVER) as root:
        root.set_attribute("http.request.method", "POST")
        with tracer.start_as_current_span(
            "chat gpt-4o",
            kind=SpanKind.CLIENT,
            links=[Link(target.get_span_context(), {"link.reason": "follows", "link.n": 3})],
        ) as llm:
            llm.set_attributes(LLM_ATTRIBUTES)
            llm.add_event(
                "gen_ai.choice",
                {"index": 0, "finish_reason": "stop", "score": 0.25, "final": True, "tags": ["a", "b"]},
            )
            llm.set_status(Status(StatusCode.ERROR, "rate limited by provider"))

    assert provider.force_flush(timeout_millis=30000), "force_flush() timed out"
    provider.shutdown()

    # the exporter must have been told SUCCESS by the server for every batch
    assert exporter.results, "the exporter was never called"
    assert all(r == SpanExportResult.SUCCESS for r in exporter.results), exporter.results
    assert len(exporter.spans) == 3

    sdk = {s.name: s for s in exporter.spans}
    expected = request_to_expected(encode_spans(exporter.spans))["spans"]
    keys = {(e["trace_id"], e["span_id"]) for e in expected}
    found = server.sink.wait_for_spans(keys, since)
    assert_spans_match(found, expected)

    def rec(name):
        ctx = sdk[name].get_span_context()
        return found[(format(ctx.trace_id, "032x"), format(ctx.span_id, "016x"))][0]

    # ---- explicit checks against the SDK's own view ---------------------
    llm_sdk, root_sdk, target_sdk = sdk["chat gpt-4o"], sdk["POST /chat"], sdk["link target"]
    r = rec("chat gpt-4o")
    ctx = llm_sdk.get_span_context()
    assert r["trace_id"] == format(ctx.trace_id, "032x")
    assert r["span_id"] == format(ctx.span_id, "016x")
    assert r["parent_span_id"] == format(root_sdk.get_span_context().span_id, "016x")
    assert r["name"] == "chat gpt-4o"
    assert r["kind"] == 3  # SpanKind.CLIENT -> SPAN_KIND_CLIENT
    assert r["start_time_unix_nano"] == llm_sdk.start_time
    assert r["end_time_unix_nano"] == llm_sdk.end_time
    assert r["duration_ns"] == llm_sdk.end_time - llm_sdk.start_time
    attrs = r["attributes"]
    assert attrs["gen_ai.request.model"] == "gpt-4o"
    assert attrs["gen_ai.usage.input_tokens"] == 1000 and type(attrs["gen_ai.usage.input_tokens"]) is int
    assert attrs["gen_ai.request.temperature"] == 0.7 and isinstance(attrs["gen_ai.request.temperature"], float)
    assert attrs["gen_ai.request.stream"] is False
    assert attrs["gen_ai.response.finish_reasons"] == ["stop", "length"]
    assert attrs["gen_ai.request.stop_sequences"] == ["\n\n", "END"]
    assert attrs["pyflare.e2e.int_list"] == [1, -2, 3]
    assert attrs["pyflare.e2e.bool_list"] == [True, False]
    assert len(r["events"]) == 1
    ev = r["events"][0]
    assert ev["name"] == "gen_ai.choice"
    assert ev["time_unix_nano"] == llm_sdk.events[0].timestamp
    assert ev["attributes"] == {"index": 0, "finish_reason": "stop", "score": 0.25, "final": True, "tags": ["a", "b"]}
    assert len(r["links"]) == 1
    tctx = target_sdk.get_span_context()
    assert r["links"][0]["trace_id"] == format(tctx.trace_id, "032x")
    assert r["links"][0]["span_id"] == format(tctx.span_id, "016x")
    assert r["links"][0]["attributes"] == {"link.reason": "follows", "link.n": 3}
    assert r["status"] == {"code": 2, "message": "rate limited by provider"}
    assert r["resource"]["attributes"]["service.name"] == "e2e-exporter"
    assert r["resource"]["attributes"]["deployment.environment.name"] == "e2e"
    assert r["resource"]["attributes"]["telemetry.sdk.language"] == "python"
    assert r["scope"]["name"] == "pyflare.e2e.exporter"
    assert r["scope"]["version"] == "1.2.3"

    pf = r["pyflare"]
    want = {
        "service": "e2e-exporter",
        "environment": "e2e",
        "model": "gpt-4o",
        "response_model": "gpt-4o-2024-08-06",
        "provider": "openai",
        "operation": "chat",
        "input_tokens": 1000,
        "output_tokens": 500,
        "total_tokens": 1500,
        "cost_micros": 7500,  # 1000 * 2.50 + 500 * 10.00 micro-dollars
        "cost_source": "pricing",
        "price_model": "gpt-4o",
        "user": "user-1",
        "session": "sess-1",
        "feature": "e2e-feature",
    }
    got = {k: pf.get(k) for k in want}
    assert got == want, f"pyflare block mismatch: {pf}"
    for k in ("cache_read_tokens", "cache_write_tokens", "reasoning_tokens"):
        assert k in pf and pf[k] in (None, 0), f"pyflare.{k} should be null (unknown) or 0, got {pf.get(k)!r}"
    assert "ai_kind" in pf

    # the root span is not an LLM call: model and cost are unknown, never 0
    rp = rec("POST /chat")["pyflare"]
    assert rp["service"] == "e2e-exporter" and rp["environment"] == "e2e"
    assert rp["model"] is None, rp
    assert rp["cost_micros"] is None, rp
    assert rp["input_tokens"] is None and rp["output_tokens"] is None, rp
    assert rec("POST /chat")["kind"] == 2 and rec("POST /chat")["parent_span_id"] == ""
