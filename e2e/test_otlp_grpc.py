"""The OTLP/gRPC receiver (TraceService/Export) with the real grpcio and the real
OpenTelemetry Python SDK gRPC exporter, against the durable store.

* the SDK's gRPC `OTLPSpanExporter` (batch and simple processors, with and without gzip):
  every span comes back from GET /api/v1/traces/{id} field by field;
* the same spans over gRPC and over OTLP/HTTP give byte-identical trace documents;
* raw grpcio calls: INVALID_ARGUMENT for malformed requests, OK for an empty one,
  partial_success for spans refused one by one, the message size limit, gzip/deflate;
* backpressure: UNAVAILABLE with `google.rpc.retryinfo-bin` / `grpc-status-details-bin`
  trailers, and the SDK exporter's retries losing nothing it was told SUCCESS for;
* `pyflare_grpc_requests_total` in /metrics; SIGTERM with gRPC connections open.
"""

from __future__ import annotations

import contextlib
import threading
import time

import grpc
import pytest
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GRPCSpanExporter
from opentelemetry.exporter.otlp.proto.http import Compression as HTTPCompression
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from harness import PROTOBUF, STORE_CONFIG, ServerError, merge_config
from otlp_helpers import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
    fixture_bytes,
    make_request,
    make_span,
    request_to_expected,
)
from store_helpers import StoreDir, assert_stored, remap_ids, wait_until
from test_otlp_http_exporter import LLM_ATTRIBUTES, RecordingExporter as RecordingHTTPExporter

TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
GRPC_TIMEOUT_S = 30.0
SMALL_LIMIT = 65536


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


class RecordingGRPCExporter(GRPCSpanExporter):
    """The SDK's gRPC OTLPSpanExporter, remembering each export() call: its spans, its
    result and how many attempts (requests) it took (the exporter re-encodes the request
    once per attempt, so `_translate_data` counts them)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.lock = threading.Lock()
        self.calls: list[tuple[list, SpanExportResult, int]] = []
        self._attempts = threading.local()

    def _translate_data(self, data):
        self._attempts.n = getattr(self._attempts, "n", 0) + 1
        return super()._translate_data(data)

    def export(self, spans):
        self._attempts.n = 0
        result = super().export(spans)
        with self.lock:
            self.calls.append((list(spans), result, self._attempts.n))
        return result

    @property
    def results(self) -> list[SpanExportResult]:
        return [r for _, r, _ in self.calls]

    @property
    def spans(self) -> list:
        return [s for spans, _, _ in self.calls for s in spans]


@contextlib.contextmanager
def grpc_channel(srv):
    channel = grpc.insecure_channel(f"127.0.0.1:{srv.grpc_port}")
    try:
        yield channel
    finally:
        channel.close()


def _serialize(msg) -> bytes:
    return msg if isinstance(msg, bytes) else msg.SerializeToString()


def export_stub(channel):
    """TraceService/Export as a plain grpcio unary call (bytes pass through untouched,
    so malformed requests can be sent)."""
    return channel.unary_unary(TRACE_EXPORT, request_serializer=_serialize,
                               response_deserializer=ExportTraceServiceResponse.FromString)


class Answer:
    """What one raw Export call got back."""

    def __init__(self, code, details="", response=None, trailing=()):
        self.code = code
        self.details = details
        self.response = response
        self.trailing = dict(trailing or ())

    def __repr__(self):
        return f"Answer({self.code}, {self.details!r}, trailing={sorted(self.trailing)})"


def call(stub, request, **kwargs) -> Answer:
    try:
        response, c = stub.with_call(request, timeout=GRPC_TIMEOUT_S, **kwargs)
        return Answer(c.code(), c.details() or "", response, c.trailing_metadata())
    except grpc.RpcError as e:
        return Answer(e.code(), e.details() or "", None, e.trailing_metadata())


def export_ok(stub, request, **kwargs) -> ExportTraceServiceResponse:
    a = call(stub, request, **kwargs)
    assert a.code == grpc.StatusCode.OK, f"Export: {a}"
    return a.response


def trace_status(srv, trace_id_hex: str) -> int:
    return srv.api_get(f"/api/v1/traces/{trace_id_hex}").status_code


def trace_ids(req: ExportTraceServiceRequest) -> set[str]:
    return {sp.trace_id.hex() for rs in req.resource_spans for ss in rs.scope_spans for sp in ss.spans}


def grpc_calls(srv, code: int) -> float:
    return srv.metrics().total("pyflare_grpc_requests_total", signal="traces", code=str(code))


def sdk_expected(spans) -> list[dict]:
    return request_to_expected(encode_spans(spans))["spans"]


def hex_ids(span) -> tuple[str, str]:
    ctx = span.get_span_context()
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


def record_genai_spans(tracer) -> None:
    """A chat request with an LLM call and a tool call: attributes of every type the SDK
    has (str, int, float, bool, homogeneous arrays), events and links with their own
    attributes, an error status and an exception event."""
    with tracer.start_as_current_span("retrieve docs", kind=SpanKind.INTERNAL) as target:
        target.set_attribute("retrieval.documents", 3)
    with tracer.start_as_current_span("POST /chat", kind=SpanKind.SERVER) as root:
        root.set_attribute("http.request.method", "POST")
        root.set_attribute("http.response.status_code", 200)
        with tracer.start_as_current_span(
            "chat gpt-4o", kind=SpanKind.CLIENT,
            links=[Link(target.get_span_context(), {"link.reason": "context", "link.n": 3, "link.w": 0.5,
                                                    "link.ok": True, "link.tags": ["x", "y"]})],
        ) as llm:
            llm.set_attributes(LLM_ATTRIBUTES)
            llm.set_attribute("e2e.double.whole", 2.0)
            llm.set_attribute("e2e.int.big", 2**62 + 1)
            llm.set_attribute("e2e.str.utf8", "résumé ✓ 日本 🚀")
            llm.set_attribute("e2e.str.empty", "")
            llm.add_event("gen_ai.content.prompt", {"gen_ai.prompt": "What is the weather in Paris?"})
            llm.add_event("gen_ai.choice", {"index": 0, "finish_reason": "stop", "score": 0.25, "final": True,
                                            "tags": ["a", "b"], "ints": [1, 2], "doubles": [1.0, 2.5]})
            llm.set_status(Status(StatusCode.ERROR, "rate limited by provider"))
        with tracer.start_as_current_span("execute_tool get_weather", kind=SpanKind.INTERNAL) as tool:
            tool.set_attributes({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather",
                                 "gen_ai.tool.call.id": "call_1", "e2e.latency_s": 0.125})
            tool.record_exception(ValueError("unknown city: Pariss"))


GENAI_SPAN_NAMES = {"retrieve docs", "POST /chat", "chat gpt-4o", "execute_tool get_weather"}


def check_genai_docs(docs: dict, sdk_spans: list, phase: str) -> None:
    """Explicit checks of the chat span against the SDK's own view, on top of the
    field-by-field comparison (types must survive: ints stay ints, doubles doubles)."""
    sdk = {s.name: s for s in sdk_spans}
    trace_id, span_id = hex_ids(sdk["chat gpt-4o"])
    spans = {s["span_id"]: s for s in docs[trace_id]["spans"]}
    r = spans[span_id]
    where = f"[{phase}] chat span"
    a = r["attributes"]
    assert type(a["gen_ai.usage.input_tokens"]) is int and a["gen_ai.usage.input_tokens"] == 1000, (where, a)
    assert type(a["e2e.int.big"]) is int and a["e2e.int.big"] == 2**62 + 1, (where, a)
    assert type(a["gen_ai.request.temperature"]) is float and a["gen_ai.request.temperature"] == 0.7, (where, a)
    assert type(a["e2e.double.whole"]) is float and a["e2e.double.whole"] == 2.0, (where, a)
    assert a["gen_ai.request.stream"] is False, (where, a)
    assert a["e2e.str.utf8"] == "résumé ✓ 日本 🚀" and a["e2e.str.empty"] == "", (where, a)
    assert a["gen_ai.response.finish_reasons"] == ["stop", "length"], (where, a)
    assert a["pyflare.e2e.int_list"] == [1, -2, 3] and all(type(x) is int for x in a["pyflare.e2e.int_list"])
    assert a["pyflare.e2e.float_list"] == [0.5, 1.5] and all(type(x) is float for x in a["pyflare.e2e.float_list"])
    assert a["pyflare.e2e.bool_list"] == [True, False], (where, a)
    assert [e["name"] for e in r["events"]] == ["gen_ai.content.prompt", "gen_ai.choice"], (where, r["events"])
    ev = r["events"][1]
    assert ev["time_unix_nano"] == sdk["chat gpt-4o"].events[1].timestamp, (where, ev)
    assert ev["attributes"] == {"index": 0, "finish_reason": "stop", "score": 0.25, "final": True,
                                "tags": ["a", "b"], "ints": [1, 2], "doubles": [1.0, 2.5]}, (where, ev)
    assert all(type(x) is float for x in ev["attributes"]["doubles"]), (where, ev)
    ln = r["links"][0]
    assert (ln["trace_id"], ln["span_id"]) == hex_ids(sdk["retrieve docs"]), (where, ln)
    assert ln["attributes"] == {"link.reason": "context", "link.n": 3, "link.w": 0.5, "link.ok": True,
                                "link.tags": ["x", "y"]}, (where, ln)
    assert r["parent_span_id"] == hex_ids(sdk["POST /chat"])[1], (where, r["parent_span_id"])
    assert r["kind"] == 3 and r["status"] == {"code": 2, "message": "rate limited by provider"}, (where, r)
    assert r["start_time_unix_nano"] == sdk["chat gpt-4o"].start_time, where
    assert r["end_time_unix_nano"] == sdk["chat gpt-4o"].end_time, where
    pf = r["pyflare"]
    got = (pf["service"], pf["environment"], pf["model"], pf["provider"], pf["operation"], pf["input_tokens"],
           pf["output_tokens"], pf["cost_micros"], pf["user"], pf["session"], pf["feature"])
    assert got == ("e2e-grpc", "e2e", "gpt-4o", "openai", "chat", 1000, 500, 7500, "user-1", "sess-1",
                   "e2e-feature"), (where, pf)
    tool = spans[hex_ids(sdk["execute_tool get_weather"])[1]]
    assert tool["events"][0]["name"] == "exception", (where, tool["events"])
    assert tool["events"][0]["attributes"]["exception.type"] == "ValueError", (where, tool["events"])
    assert tool["attributes"]["e2e.latency_s"] == 0.125 and tool["pyflare"]["operation"] == "execute_tool", tool


RESOURCE = {"service.name": "e2e-grpc", "deployment.environment.name": "e2e"}


def make_provider(processor) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create(RESOURCE))
    provider.add_span_processor(processor)
    return provider


def recorded_spans() -> list:
    """Finished SDK spans (ReadableSpan) of one record_genai_spans() run, not exported yet."""
    memory = InMemorySpanExporter()
    provider = make_provider(SimpleSpanProcessor(memory))
    record_genai_spans(provider.get_tracer("pyflare.e2e.grpc", "3.1.4"))
    provider.shutdown()
    spans = list(memory.get_finished_spans())
    assert {s.name for s in spans} == GENAI_SPAN_NAMES
    return spans


# --------------------------------------------------------------------------
# servers
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def grpc_store(module_server_factory):
    """Durable store, default gRPC limits; the SDK round trips go here."""
    return module_server_factory(STORE_CONFIG, name="grpc-store")


@pytest.fixture(scope="module")
def http_store(module_server_factory):
    """A second store receiving the same spans over OTLP/HTTP, for the comparison."""
    return module_server_factory(STORE_CONFIG, name="http-store")


@pytest.fixture(scope="module")
def raw_server(module_server_factory):
    """Durable store with a small gRPC message limit; the raw grpcio calls go here."""
    return module_server_factory(merge_config(STORE_CONFIG, {"otlp": {"grpc": {"max_message_bytes": SMALL_LIMIT}}}),
                                 name="grpc-raw")


# --------------------------------------------------------------------------
# the SDK exporter
# --------------------------------------------------------------------------


@pytest.mark.parametrize("compression", [grpc.Compression.NoCompression, grpc.Compression.Gzip],
                         ids=["none", "gzip"])
@pytest.mark.parametrize("processor", ["batch", "simple"])
def test_sdk_grpc_exporter_roundtrip(grpc_store, processor, compression):
    srv = grpc_store
    ok_before = grpc_calls(srv, 0)
    exporter = RecordingGRPCExporter(endpoint=f"http://127.0.0.1:{srv.grpc_port}", compression=compression,
                                     timeout=GRPC_TIMEOUT_S)
    if processor == "batch":
        provider = make_provider(BatchSpanProcessor(exporter, schedule_delay_millis=50))
    else:
        provider = make_provider(SimpleSpanProcessor(exporter))
    record_genai_spans(provider.get_tracer("pyflare.e2e.grpc", "3.1.4"))
    assert provider.force_flush(timeout_millis=60_000), "force_flush() timed out"
    provider.shutdown()

    assert exporter.results and all(r == SpanExportResult.SUCCESS for r in exporter.results), exporter.calls
    assert len(exporter.spans) == 4 and {s.name for s in exporter.spans} == GENAI_SPAN_NAMES
    if processor == "simple":
        assert len(exporter.calls) == 4, f"SimpleSpanProcessor exports span by span: {len(exporter.calls)} calls"
    assert all(n == 1 for _, _, n in exporter.calls), f"an export needed retries: {exporter.calls}"
    assert grpc_calls(srv, 0) - ok_before == len(exporter.calls), srv.metrics().series("pyflare_grpc_requests_total")

    docs = assert_stored(srv, sdk_expected(exporter.spans), f"gRPC SDK exporter ({processor}, {compression.name})")
    check_genai_docs(docs, exporter.spans, f"{processor}/{compression.name}")


def test_grpc_and_http_store_identical_traces(grpc_store, http_store):
    """The same spans, once over gRPC and once over OTLP/HTTP protobuf (to another server),
    give byte-identical GET /api/v1/traces/{id} answers, both equal to what was sent."""
    spans = recorded_spans()
    grpc_exporter = RecordingGRPCExporter(endpoint=f"http://127.0.0.1:{grpc_store.grpc_port}",
                                          compression=grpc.Compression.Gzip, timeout=GRPC_TIMEOUT_S)
    http_exporter = RecordingHTTPExporter(endpoint=http_store.traces_url, compression=HTTPCompression.Gzip,
                                          timeout=GRPC_TIMEOUT_S)
    assert grpc_exporter.export(spans) == SpanExportResult.SUCCESS
    assert http_exporter.export(spans) == SpanExportResult.SUCCESS
    grpc_exporter.shutdown()
    http_exporter.shutdown()
    expected = sdk_expected(spans)

    # the decoder fixtures cover what the SDK cannot send: bytes, kvlists, empty values,
    # NaN and -0.0, dropped counts, schema URLs, trace states
    fixtures = [remap_ids(ExportTraceServiceRequest.FromString(fixture_bytes(name)))
                for name in ("full.pb", "genai.pb")]
    with grpc_channel(grpc_store) as channel:
        stub = export_stub(channel)
        for req in fixtures:
            resp = export_ok(stub, req)
            assert not resp.HasField("partial_success"), resp
            http = http_store.post_traces(req.SerializeToString(), PROTOBUF)
            assert http.status_code == 200, f"HTTP {http.status_code}: {http.content[:300]!r}"
            expected += request_to_expected(req)["spans"]

    assert_stored(grpc_store, expected, "sent over gRPC")
    assert_stored(http_store, expected, "sent over OTLP/HTTP")
    tids = sorted({e["trace_id"] for e in expected})
    assert len(tids) >= 5, tids
    for tid in tids:
        via_grpc = grpc_store.api_get(f"/api/v1/traces/{tid}")
        via_http = http_store.api_get(f"/api/v1/traces/{tid}")
        assert via_grpc.status_code == via_http.status_code == 200, (via_grpc.status_code, via_http.status_code)
        assert via_grpc.content == via_http.content, (
            f"trace {tid} differs between gRPC and HTTP ingestion:\n gRPC {via_grpc.text[:3000]}\n"
            f" HTTP {via_http.text[:3000]}")


# --------------------------------------------------------------------------
# raw grpcio calls
# --------------------------------------------------------------------------


def _truncated_full() -> tuple[ExportTraceServiceRequest, bytes]:
    req = remap_ids(ExportTraceServiceRequest.FromString(fixture_bytes("full.pb")))
    body = req.SerializeToString()
    return req, body[: len(body) // 2]


def _wrong_length_trace_id() -> tuple[ExportTraceServiceRequest, bytes]:
    bad = make_span(name="15-byte trace id")
    bad.trace_id = bytes(range(1, 16))
    req = make_request([make_span(name="valid neighbour"), bad])
    return req, req.SerializeToString()


@pytest.mark.parametrize("case", ["truncated", "garbage", "length-past-end", "trace-id-15-bytes"])
def test_malformed_request_is_invalid_argument(raw_server, case):
    req = None
    if case == "truncated":
        req, body = _truncated_full()
    elif case == "garbage":
        body = b"\xff\xff\xff"  # a varint running past the end
    elif case == "length-past-end":
        body = b"\x0a\x7f" + bytes(5)  # resource_spans (field 1) of 127 bytes, 5 present
    else:
        req, body = _wrong_length_trace_id()
    if case != "trace-id-15-bytes":
        with pytest.raises(DecodeError):
            ExportTraceServiceRequest.FromString(body)  # precondition: really not a valid request
    before = grpc_calls(raw_server, 3)
    with grpc_channel(raw_server) as channel:
        stub = export_stub(channel)
        for compression in (grpc.Compression.NoCompression, grpc.Compression.Gzip):
            a = call(stub, body, compression=compression)
            assert a.code == grpc.StatusCode.INVALID_ARGUMENT, f"{case} ({compression.name}): {a}"
            assert a.details.strip(), f"INVALID_ARGUMENT must say why: {a}"
            if case == "trace-id-15-bytes":
                assert "trace" in a.details.lower(), a.details
        # the channel still works after the errors
        export_ok(stub, make_request([make_span(name="after malformed")]))
    assert grpc_calls(raw_server, 3) - before == 2, raw_server.metrics().series("pyflare_grpc_requests_total")
    if req is not None:  # the whole request is refused: not even its valid spans are stored
        valid = [tid for tid in trace_ids(req) if len(tid) == 32]  # a 15-byte id cannot be looked up
        assert valid
        for tid in valid:
            assert trace_status(raw_server, tid) == 404, f"trace {tid} of a refused request was stored"


def test_empty_requests_are_ok(raw_server):
    empty_resource = ExportTraceServiceRequest()
    empty_resource.resource_spans.add().scope_spans.add()
    with grpc_channel(raw_server) as channel:
        stub = export_stub(channel)
        for req in (b"", ExportTraceServiceRequest(), empty_resource):
            resp = export_ok(stub, req)
            assert not resp.HasField("partial_success"), f"{req!r}: {resp}"
            assert resp.SerializeToString() == b"", resp


def test_partial_success(raw_server):
    good = [make_span(name=f"grpc good {i}", attributes={"i": i}) for i in range(3)]
    zero_trace = [make_span(name=f"grpc zero trace {i}", trace_id=bytes(16)) for i in range(2)]
    zero_span = make_span(name="grpc zero span id", span_id=bytes(8))
    req = make_request([good[0], zero_trace[0], good[1], zero_span, zero_trace[1], good[2]])
    with grpc_channel(raw_server) as channel:
        stub = export_stub(channel)
        for compression in (grpc.Compression.NoCompression, grpc.Compression.Gzip):
            resp = export_ok(stub, req, compression=compression)
            assert resp.HasField("partial_success"), resp
            assert resp.partial_success.rejected_spans == 3, resp
            assert resp.partial_success.error_message.strip(), resp
    assert_stored(raw_server, request_to_expected(make_request(good))["spans"], "good spans of a partial success")
    assert trace_status(raw_server, zero_span.trace_id.hex()) == 404, "a span with an all-zero span id was stored"


@pytest.mark.parametrize("compression", [grpc.Compression.Gzip, grpc.Compression.Deflate],
                         ids=["gzip", "deflate"])
def test_compressed_calls(raw_server, compression):
    req = remap_ids(ExportTraceServiceRequest.FromString(fixture_bytes("full.pb")))
    # a ~50 KB message that compresses well: under the limit either way
    big = make_request([make_span(name=f"compressible {i}", attributes={"pad": "abc" * 1000}) for i in range(16)])
    assert 40_000 < len(big.SerializeToString()) < SMALL_LIMIT
    with grpc_channel(raw_server) as channel:
        stub = export_stub(channel)
        for r in (req, big):
            resp = export_ok(stub, r, compression=compression)
            assert not resp.HasField("partial_success"), resp
    # the same, with compression set on the channel
    again = remap_ids(req)
    with grpc.insecure_channel(f"127.0.0.1:{raw_server.grpc_port}", compression=compression) as channel:
        export_ok(export_stub(channel), again)
    expected = [e for r in (req, big, again) for e in request_to_expected(r)["spans"]]
    assert_stored(raw_server, expected, f"{compression.name} over gRPC")


def _oversized_requests() -> dict[str, tuple[ExportTraceServiceRequest, grpc.Compression]]:
    plain = make_request([make_span(name="too big", attributes={"pad": "x" * (SMALL_LIMIT + 1000)})])
    # ~130 KB once inflated, ~1 KB on the wire: the limit is on the decompressed message
    bomb = make_request([make_span(name="too big inflated", attributes={"pad": "y" * (2 * SMALL_LIMIT)})])
    return {"plain": (plain, grpc.Compression.NoCompression), "gzip": (bomb, grpc.Compression.Gzip)}


def _assert_still_serving(srv, channel) -> None:
    """After an oversized message: the same channel, a new channel and OTLP/HTTP all work,
    and a message just under the limit is accepted."""
    under = make_request([make_span(name="just under the limit", attributes={"pad": "z" * (SMALL_LIMIT - 2000)})])
    assert SMALL_LIMIT - 2000 < len(under.SerializeToString()) <= SMALL_LIMIT
    export_ok(export_stub(channel), under)
    after = make_request([make_span(name="after oversized")])
    with grpc_channel(srv) as fresh:
        export_ok(export_stub(fresh), after)
    http = make_request([make_span(name="after oversized, over HTTP")])
    assert srv.post_traces(http.SerializeToString(), PROTOBUF).status_code == 200
    assert srv.running, "the server died"
    assert_stored(srv, [e for r in (under, after, http) for e in request_to_expected(r)["spans"]],
                  "after an oversized message")


@pytest.mark.parametrize("kind", ["plain", "gzip"])
def test_message_over_limit_is_refused_and_server_keeps_working(raw_server, kind):
    req, compression = _oversized_requests()[kind]
    assert len(req.SerializeToString()) > SMALL_LIMIT
    with grpc_channel(raw_server) as channel:
        a = call(export_stub(channel), req, compression=compression)
        assert a.code != grpc.StatusCode.OK, f"a {len(req.SerializeToString())}-byte message passed a limit of {SMALL_LIMIT}"
        _assert_still_serving(raw_server, channel)
    for tid in trace_ids(req):
        assert trace_status(raw_server, tid) == 404, "the oversized message was stored"


@pytest.mark.parametrize("kind", ["plain", "gzip"])
def test_message_over_limit_is_resource_exhausted(raw_server, kind):
    # Up to 4× the limit the message reaches the receiver, which answers RESOURCE_EXHAUSTED;
    # beyond that the transport resets the stream (test_message_over_limit_is_refused_…).
    req, compression = _oversized_requests()[kind]
    with grpc_channel(raw_server) as channel:
        a = call(export_stub(channel), req, compression=compression)
        assert a.code == grpc.StatusCode.RESOURCE_EXHAUSTED, a
        assert a.details.strip(), a
        _assert_still_serving(raw_server, channel)


def test_unknown_method_is_unimplemented(raw_server):
    with grpc_channel(raw_server) as channel:
        for method in ("/opentelemetry.proto.collector.trace.v1.TraceService/Nope",
                       "/opentelemetry.proto.collector.nothing.v1.NothingService/Export"):
            stub = channel.unary_unary(method, request_serializer=_serialize, response_deserializer=bytes)
            a = call(stub, b"")
            assert a.code == grpc.StatusCode.UNIMPLEMENTED, f"{method}: {a}"
        export_ok(export_stub(channel), ExportTraceServiceRequest())


def test_grpc_request_metrics(raw_server):
    before = raw_server.metrics()
    with grpc_channel(raw_server) as channel:
        stub = export_stub(channel)
        for i in range(3):
            export_ok(stub, make_request([make_span(name=f"metrics {i}")]))
        assert call(stub, b"\xff").code == grpc.StatusCode.INVALID_ARGUMENT
    after = raw_server.metrics()
    series = after.series("pyflare_grpc_requests_total")
    assert any(labels == {"signal": "traces", "code": "0"} for labels, _ in series), \
        f"no pyflare_grpc_requests_total{{signal=\"traces\",code=\"0\"}} series: {series}"

    def delta(**labels):
        return after.total("pyflare_grpc_requests_total", **labels) - before.total("pyflare_grpc_requests_total",
                                                                                 **labels)

    assert delta(signal="traces", code="0") == 3, series
    assert delta(signal="traces", code="3") == 1, series
    assert delta() == 4, series
    assert after.total("pyflare_spans_accepted_total") - before.total("pyflare_spans_accepted_total") == 3


# --------------------------------------------------------------------------
# backpressure
# --------------------------------------------------------------------------

TINY_QUEUE = merge_config(STORE_CONFIG, {"batcher": {"max_queued_spans": 10, "max_batch_spans": 1_000_000,
                                                     "flush_interval_ms": 1_000, "workers": 1}})


def _check_unavailable(a: Answer) -> float:
    """An UNAVAILABLE answer carries RetryInfo twice; returns the delay in seconds."""
    assert a.details.strip(), a
    raw = a.trailing.get("google.rpc.retryinfo-bin")
    assert raw is not None, f"UNAVAILABLE without google.rpc.retryinfo-bin: {a}"
    info = error_details_pb2.RetryInfo.FromString(raw)
    delay = info.retry_delay.seconds + info.retry_delay.nanos / 1e9
    assert delay > 0, f"RetryInfo.retry_delay must be positive: {info}"
    raw = a.trailing.get("grpc-status-details-bin")
    assert raw is not None, f"UNAVAILABLE without grpc-status-details-bin: {a}"
    st = status_pb2.Status.FromString(raw)
    assert st.code == grpc.StatusCode.UNAVAILABLE.value[0], st
    assert st.message == a.details, (st.message, a.details)
    infos = [d for d in st.details if d.type_url == "type.googleapis.com/google.rpc.RetryInfo"]
    assert len(infos) == 1, st
    assert error_details_pb2.RetryInfo.FromString(infos[0].value) == info, st
    return delay


def test_backpressure_unavailable_with_retry_info(start_server):
    srv = start_server(TINY_QUEUE, name="grpc-tiny-queue")
    n_threads, spans_per_call = 16, 5

    # 1. raw calls from many threads into a queue of 10 spans, flushed once a second:
    #    those that do not fit are refused at once with UNAVAILABLE + RetryInfo
    answers: list[tuple[ExportTraceServiceRequest, Answer]] = []
    lock = threading.Lock()
    with grpc_channel(srv) as channel:
        stub = export_stub(channel)
        grpc.channel_ready_future(channel).result(timeout=GRPC_TIMEOUT_S)

        def flood(barrier, i):
            req = make_request([make_span(name=f"flood {i}.{j}") for j in range(spans_per_call)])
            barrier.wait()
            a = call(stub, req)
            with lock:
                answers.append((req, a))

        for _ in range(5):  # normally the first round is enough
            barrier = threading.Barrier(n_threads)
            threads = [threading.Thread(target=flood, args=(barrier, i), daemon=True) for i in range(n_threads)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=2 * GRPC_TIMEOUT_S)
            assert not any(t.is_alive() for t in threads), "an Export call did not return"
            if any(a.code == grpc.StatusCode.UNAVAILABLE for _, a in answers):
                break

    codes = [a.code for _, a in answers]
    refused = [(r, a) for r, a in answers if a.code == grpc.StatusCode.UNAVAILABLE]
    accepted = [(r, a) for r, a in answers if a.code == grpc.StatusCode.OK]
    assert refused, f"no UNAVAILABLE from {len(answers)} concurrent calls into a 10-span queue: {codes}"
    assert accepted, f"no call was accepted: {codes}"
    assert len(refused) + len(accepted) == len(answers), f"unexpected codes: {codes}"
    for _, a in refused:
        _check_unavailable(a)
    assert grpc_calls(srv, 14) == len(refused), srv.metrics().series("pyflare_grpc_requests_total")
    assert grpc_calls(srv, 0) == len(accepted), srv.metrics().series("pyflare_grpc_requests_total")
    # accepted spans are stored, refused ones are not
    assert_stored(srv, [e for r, _ in accepted for e in request_to_expected(r)["spans"]], "accepted under backpressure")
    leaked = [tid for r, _ in refused for tid in trace_ids(r) if trace_status(srv, tid) != 404]
    assert not leaked, f"{len(leaked)} trace(s) of UNAVAILABLE calls were stored: {leaked[:5]}"

    # 2. the SDK exporter retries UNAVAILABLE after the RetryInfo delay; everything it was
    #    told SUCCESS for is stored exactly once
    memory = InMemorySpanExporter()
    provider = make_provider(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("pyflare.e2e.grpc.backpressure")
    n_exporters = 8
    calls: list = []
    for round_no in range(3):
        batches = []
        for i in range(n_exporters):
            memory.clear()
            with tracer.start_as_current_span(f"sdk {round_no}.{i} root"):
                for j in range(spans_per_call - 1):
                    with tracer.start_as_current_span(f"sdk {round_no}.{i}.{j}") as sp:
                        sp.set_attribute("gen_ai.usage.input_tokens", j)
            batches.append(list(memory.get_finished_spans()))
        exporters = [RecordingGRPCExporter(endpoint=f"http://127.0.0.1:{srv.grpc_port}", timeout=60)
                     for _ in range(n_exporters)]
        barrier = threading.Barrier(n_exporters)

        def run(exporter, batch):
            barrier.wait()
            exporter.export(batch)

        threads = [threading.Thread(target=run, args=pair, daemon=True) for pair in zip(exporters, batches)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not any(t.is_alive() for t in threads), "an SDK export() did not return"
        for e in exporters:
            e.shutdown()
            calls.extend(e.calls)
        if any(r == SpanExportResult.SUCCESS and n > 1 for _, r, n in calls):
            break
    provider.shutdown()

    summary = [(r.name, n) for _, r, n in calls]
    succeeded = [spans for spans, r, _ in calls if r == SpanExportResult.SUCCESS]
    assert any(r == SpanExportResult.SUCCESS and n > 1 for _, r, n in calls), \
        f"no export succeeded after a retry (result, attempts): {summary}"
    count = sum(len(s) for s in succeeded)
    assert count >= spans_per_call, summary
    docs = assert_stored(srv, sdk_expected([s for spans in succeeded for s in spans]), "SDK exports that got SUCCESS")
    assert sum(d["span_count"] for d in docs.values()) == count, (count, summary)


# --------------------------------------------------------------------------
# shutdown
# --------------------------------------------------------------------------


def test_sigterm_with_idle_grpc_connection(start_server):
    srv = start_server(STORE_CONFIG, name="grpc-idle-sigterm")
    req = make_request([make_span(name=f"before SIGTERM {i}") for i in range(3)])
    with grpc_channel(srv) as channel:
        export_ok(export_stub(channel), req)
        idle = grpc.insecure_channel(f"127.0.0.1:{srv.grpc_port}")  # connected, never used for a call
        try:
            grpc.channel_ready_future(idle).result(timeout=GRPC_TIMEOUT_S)
            took = srv.stop_ok(timeout=30)
        finally:
            idle.close()
    assert took < 20, f"SIGTERM with idle gRPC connections took {took:.1f}s"
    assert len(StoreDir(srv.data_dir).segments()) == 1, "SIGTERM should seal the stored spans"
    srv.start()
    assert_stored(srv, request_to_expected(req)["spans"], "after SIGTERM with gRPC connections open")


def test_sigterm_answers_waiting_grpc_export(start_server):
    """Like test_shutdown.py over gRPC: an Export waiting in the batcher (60 s flush
    interval) is answered OK as soon as SIGTERM drains it, and its spans are kept."""
    srv = start_server(merge_config(STORE_CONFIG, {
        "segments": {"max_age_ms": 600_000},
        "batcher": {"max_batch_spans": 1_000_000, "flush_interval_ms": 60_000}}), name="grpc-drain")
    req = make_request([make_span(name=f"waiting {i}") for i in range(7)])
    with grpc_channel(srv) as channel:
        future = export_stub(channel).future(req, timeout=90)
        wait_until(lambda: srv.metrics().total("pyflare_batcher_queue_spans") == 7, timeout=15,
                   what="the 7 spans waiting in the batcher")
        assert not future.done(), "answered before the spans were written"
        t0 = time.monotonic()
        try:
            rc = srv.stop(timeout=15)
        except ServerError as e:
            raise AssertionError(f"SIGTERM with a gRPC Export waiting did not exit within 15 s: {e}") from None
        took = time.monotonic() - t0
        try:
            resp = future.result(timeout=15)
        except grpc.RpcError as e:
            raise AssertionError(f"the waiting Export got {e.code()} {e.details()!r} on SIGTERM") from None
    assert rc == 0, f"exit code {rc}\n{srv.logs()}"
    assert took < 15, took
    assert not resp.HasField("partial_success"), resp
    srv.start()
    assert_stored(srv, request_to_expected(req)["spans"], "drained on SIGTERM")
