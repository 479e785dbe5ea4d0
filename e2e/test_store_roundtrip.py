"""Durable store round trip: what goes in over OTLP/HTTP comes back, field by field,
from GET /api/v1/traces/{id}: from the WAL right after the 200, after a kill -9 and WAL
replay, from a segment after SIGTERM and restart, and from a segment sealed live."""

from __future__ import annotations

import datetime
import os

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from harness import JSON, PROTOBUF, STORE_CONFIG, merge_config
from otlp_helpers import (
    ExportTraceServiceRequest,
    make_request,
    make_span,
    fixture_bytes,
    fixture_expected,
    request_to_expected,
    to_json_bytes,
)
from store_helpers import StoreDir, assert_stored, parse_segment, remap_ids, wait_until
from test_otlp_http_exporter import LLM_ATTRIBUTES, RecordingExporter

NEVER_SEAL = merge_config(STORE_CONFIG, {"segments": {"max_age_ms": 600_000}})


def _post_ok(srv, body, ctype=PROTOBUF, encoding=None):
    resp = srv.post_traces(body, ctype, encoding)
    assert resp.status_code == 200, f"HTTP {resp.status_code}: {resp.content[:300]!r}"


def test_fixtures_roundtrip_wal_replay_segment(start_server):
    srv = start_server(NEVER_SEAL, name="roundtrip")
    store = StoreDir(srv.data_dir)
    full = ExportTraceServiceRequest.FromString(fixture_bytes("full.pb"))
    genai = ExportTraceServiceRequest.FromString(fixture_bytes("genai.pb"))

    # the JSON fixture as is, plus fresh-id copies of both fixtures as protobuf and as JSON
    expected = list(fixture_expected("full.expected.json"))
    _post_ok(srv, fixture_bytes("full.json"), JSON)
    for req, ctype, enc in [(remap_ids(full), PROTOBUF, "gzip"), (remap_ids(genai), PROTOBUF, None),
                            (remap_ids(full), JSON, None), (remap_ids(genai), JSON, "deflate")]:
        _post_ok(srv, req.SerializeToString() if ctype == PROTOBUF else to_json_bytes(req), ctype, enc)
        expected += request_to_expected(req)["spans"]
    assert len(expected) == 3 * 7 + 2 * len(request_to_expected(genai)["spans"])

    # 1. straight from the WAL: readable as soon as the 200 came back, nothing sealed yet
    assert_stored(srv, expected, "WAL, right after the 200s")
    assert not store.segments(), f"a segment was sealed already; the WAL read is not tested: {store.describe()}"

    # 2. kill -9: the WAL is replayed on start
    srv.kill()
    mark = srv.log_mark()
    srv.start()
    assert "replayed 5 WAL records" in srv.log_since(mark), srv.log_since(mark)
    assert_stored(srv, expected, "WAL replayed after kill -9")

    # 3. SIGTERM seals everything into a segment; after a restart nothing is replayed
    srv.stop_ok()
    assert len(store.segments()) == 1, store.describe()
    mark = srv.log_mark()
    srv.start()
    opened = [line for line in srv.log_since(mark).splitlines() if "store opened" in line]
    assert opened and "recovery=clean" in opened[0], f"expected a clean start after SIGTERM: {opened}"
    assert_stored(srv, expected, "segment, after SIGTERM and restart")

    # 4. a segment sealed by age while the server runs
    srv.stop_ok()
    srv.config["segments"]["max_age_ms"] = 200
    srv.start()
    more = remap_ids(full)
    _post_ok(srv, more.SerializeToString(), PROTOBUF, "gzip")
    more_expected = request_to_expected(more)["spans"]
    assert_stored(srv, more_expected, "WAL or segment, right after the 200 (live)")
    store.wait_for_segments(2)
    first_trace = more_expected[0]["trace_id"]
    wait_until(lambda: srv.list_traces(limit=1000)["traces"] and
               any(t["trace_id"] == first_trace for t in srv.list_traces(limit=1000)["traces"]),
               what=f"trace {first_trace} in the trace list (indexed at the seal)")
    assert_stored(srv, expected + more_expected, "segments, sealed live")


def test_sdk_exporter_roundtrip_store(start_server):
    srv = start_server(NEVER_SEAL, name="sdk-store")
    resource = Resource.create({"service.name": "e2e-store-sdk", "deployment.environment.name": "e2e"})
    provider = TracerProvider(resource=resource)
    exporter = RecordingExporter(endpoint=srv.traces_url, compression=Compression.Gzip, timeout=10)
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=50))
    tracer = provider.get_tracer("pyflare.e2e.store", "2.0.0")

    with tracer.start_as_current_span("link target", kind=SpanKind.INTERNAL) as target:
        target.set_attribute("target.bytes_like", "not bytes")
    with tracer.start_as_current_span("POST /chat", kind=SpanKind.SERVER) as root:
        root.set_attribute("http.request.method", "POST")
        root.set_attribute("http.response.status_code", 200)
        with tracer.start_as_current_span(
            "chat gpt-4o", kind=SpanKind.CLIENT,
            links=[Link(target.get_span_context(), {"link.reason": "follows", "link.n": 3, "link.w": 0.5,
                                                    "link.ok": True, "link.tags": ["x", "y"]})],
        ) as llm:
            llm.set_attributes(LLM_ATTRIBUTES)
            llm.set_attribute("e2e.double.whole", 2.0)
            llm.set_attribute("e2e.int.big", 2**62 + 1)
            llm.add_event("gen_ai.choice", {"index": 0, "finish_reason": "stop", "score": 0.25, "final": True,
                                            "tags": ["a", "b"], "ints": [1, 2], "doubles": [1.0, 2.5]})
            llm.set_status(Status(StatusCode.ERROR, "rate limited by provider"))
    assert provider.force_flush(timeout_millis=30000), "force_flush() timed out"
    provider.shutdown()
    assert exporter.results and all(r == SpanExportResult.SUCCESS for r in exporter.results), exporter.results
    assert len(exporter.spans) == 3

    expected = request_to_expected(encode_spans(exporter.spans))["spans"]
    sdk = {s.name: s for s in exporter.spans}
    llm_ctx = sdk["chat gpt-4o"].get_span_context()
    trace_id, llm_span_id = format(llm_ctx.trace_id, "032x"), format(llm_ctx.span_id, "016x")

    def explicit_checks(docs, phase):
        spans = {s["span_id"]: s for s in docs[trace_id]["spans"]}
        r = spans[llm_span_id]
        a = r["attributes"]
        where = f"[{phase}] chat span attributes"
        assert type(a["gen_ai.usage.input_tokens"]) is int and a["gen_ai.usage.input_tokens"] == 1000, where
        assert type(a["e2e.int.big"]) is int and a["e2e.int.big"] == 2**62 + 1, where
        assert type(a["gen_ai.request.temperature"]) is float and a["gen_ai.request.temperature"] == 0.7, where
        assert type(a["gen_ai.request.top_p"]) is float and a["gen_ai.request.top_p"] == 1.0, where
        assert type(a["e2e.double.whole"]) is float and a["e2e.double.whole"] == 2.0, where
        assert a["gen_ai.request.stream"] is False, where
        assert a["pyflare.e2e.int_list"] == [1, -2, 3] and all(type(x) is int for x in a["pyflare.e2e.int_list"])
        assert a["pyflare.e2e.float_list"] == [0.5, 1.5] and all(type(x) is float for x in a["pyflare.e2e.float_list"])
        assert a["pyflare.e2e.bool_list"] == [True, False], where
        ev = r["events"][0]
        assert ev["name"] == "gen_ai.choice" and ev["time_unix_nano"] == sdk["chat gpt-4o"].events[0].timestamp
        assert ev["attributes"] == {"index": 0, "finish_reason": "stop", "score": 0.25, "final": True,
                                    "tags": ["a", "b"], "ints": [1, 2], "doubles": [1.0, 2.5]}, ev
        assert all(type(x) is float for x in ev["attributes"]["doubles"]), ev
        ln = r["links"][0]
        assert ln["attributes"] == {"link.reason": "follows", "link.n": 3, "link.w": 0.5, "link.ok": True,
                                    "link.tags": ["x", "y"]}, ln
        assert r["status"] == {"code": 2, "message": "rate limited by provider"}, r["status"]
        assert r["resource"]["attributes"]["telemetry.sdk.language"] == "python"
        assert r["scope"] == {"name": "pyflare.e2e.store", "version": "2.0.0", "attributes": {},
                              "dropped_attributes_count": 0, "schema_url": ""}, r["scope"]
        pf = r["pyflare"]
        assert (pf["model"], pf["input_tokens"], pf["output_tokens"], pf["cost_micros"], pf["user"], pf["session"]) \
            == ("gpt-4o", 1000, 500, 7500, "user-1", "sess-1"), pf

    docs = assert_stored(srv, expected, "WAL, right after the exporter's SUCCESS")
    explicit_checks(docs, "WAL")
    assert not StoreDir(srv.data_dir).segments(), "sealed too early; the WAL read is not tested"

    srv.restart()  # SIGTERM seals
    assert len(StoreDir(srv.data_dir).segments()) == 1
    docs = assert_stored(srv, expected, "segment, after SIGTERM and restart")
    explicit_checks(docs, "segment")

    # the summary of the LLM trace (root + chat span; the link target is its own trace)
    rows = [t for t in srv.list_traces()["traces"] if t["trace_id"] == trace_id]
    assert len(rows) == 1, srv.list_traces()
    row = rows[0]
    root_sdk = sdk["POST /chat"]
    want = {
        "trace_id": trace_id, "root_service": "e2e-store-sdk", "root_name": "POST /chat",
        "start_time_unix_nano": root_sdk.start_time, "end_time_unix_nano": root_sdk.end_time,
        "span_count": 2, "error_count": 1, "input_tokens": 1000, "output_tokens": 500, "total_tokens": 1500,
        "cost_micros": 7500, "unpriced_count": 0, "services": ["e2e-store-sdk"], "models": ["gpt-4o"],
        "user": "user-1", "session": "sess-1",
    }
    assert {k: row.get(k) for k in want} == want, row
    assert abs(row["duration_ms"] - (root_sdk.end_time - root_sdk.start_time) / 1e6) < 1e-6, row
    when = datetime.datetime.fromtimestamp(root_sdk.start_time // 10**9, datetime.timezone.utc)
    assert row["start_time"].startswith(when.strftime("%Y-%m-%dT%H:%M:%S")), row["start_time"]
    assert row["start_time"].endswith("Z"), row["start_time"]


def test_big_trace_across_blocks_and_large_values(start_server):
    """One trace of 2,500 spans (three 1,024-span blocks) with large and odd values, read
    from the WAL and from the segment; plus the store's own metrics."""
    srv = start_server(NEVER_SEAL, name="big-trace")
    tid, root_id = os.urandom(16), os.urandom(8)
    big = "é" + "x" * 200_000 + "✓"
    spans = [make_span(trace_id=tid, span_id=root_id, name="root", start=T_BIG, duration=10**9,
                       attributes={"big": big, "bytes": os.urandom(70_000)})]
    for i in range(1, 2500):
        spans.append(make_span(trace_id=tid, parent=root_id, name=f"child {i}", start=T_BIG + (2500 - i) * 1000,
                               attributes={"i": i, "neg": -i, "half": i / 2, "s": f"v{i % 17}", "flag": i % 3 == 0}))
    expected = []
    for k in range(0, 2500, 500):  # five requests, so five WAL records
        req = make_request(spans[k:k + 500], service="big")
        _post_ok(srv, req.SerializeToString(), PROTOBUF, "gzip")
        expected += request_to_expected(req)["spans"]
    docs = assert_stored(srv, expected, "big trace from the WAL")
    assert docs[tid.hex()]["span_count"] == 2500
    m = srv.metrics()
    assert m.total("pyflare_wal_records_total") >= 5, m.series("pyflare_wal_records_total")
    assert m.total("pyflare_wal_bytes_total") > 70_000  # at least the incompressible bytes value
    srv.restart()
    seg = parse_segment(StoreDir(srv.data_dir).segments()[0])
    seals = [line for line in srv.stderr_text().splitlines() if "sealed segment" in line]
    assert [b.rows for b in seg.blocks] == [1024, 1024, 452], ([b.rows for b in seg.blocks], seals)
    assert_stored(srv, expected, "big trace from three blocks of a segment")
    row = srv.list_traces()["traces"][0]
    assert (row["span_count"], row["root_name"], row["start_time_unix_nano"]) == (2500, "root", T_BIG), row
    srv.stop_ok()
    srv.config["segments"]["max_age_ms"] = 100
    srv.start()
    _post_ok(srv, make_request([make_span(name="one more")]).SerializeToString())
    StoreDir(srv.data_dir).wait_for_segments(2)
    wait_until(lambda: srv.metrics().total("pyflare_segments_sealed_total") >= 1, what="pyflare_segments_sealed_total")
    assert srv.metrics().total("pyflare_segment_bytes_total") > 0


T_BIG = 1_770_000_000_000_000_000


def test_seal_by_size(start_server):
    """segments.max_bytes seals without waiting for max_age_ms."""
    srv = start_server(merge_config(NEVER_SEAL, {"segments": {"max_bytes": 65536}}), name="seal-by-size")
    store = StoreDir(srv.data_dir)
    small = make_request([make_span(name="small")])
    _post_ok(srv, small.SerializeToString())
    big = make_request([make_span(name=f"big {i}", attributes={"pad": "z" * 1000}) for i in range(100)])
    _post_ok(srv, big.SerializeToString())
    store.wait_for_segments(1, timeout=10)
    expected = request_to_expected(small)["spans"] + request_to_expected(big)["spans"]
    wait_until(lambda: len(srv.list_traces(limit=1000)["traces"]) == len({e["trace_id"] for e in expected}),
               what="every trace indexed")
    assert_stored(srv, expected, "sealed by size")
