"""Issue 21, the ingest side: extreme bodies over OTLP/HTTP (protobuf and JSON) and OTLP/gRPC.

* times: 0 and exactly 2200-01-01T00:00:00Z are stored; 2200-01-01 + 1 ns, 2^63-1, 2^63 and
  2^64-1 are refused one by one through partial_success (spans, log records, data points)
  while the rest of the request is kept;
* AnyValue nesting: 64 levels is acknowledged and stays readable after sealing (SQL, the trace
  API, every job); 65 levels is refused whole (400 / INVALID_ARGUMENT);
* after all of it, every job runs ok and `SELECT * FROM spans` answers;
* a flipped byte in a sealed segment's first block: the block is fenced and reported (SQL
  scan stats and warnings, the trace API, /metrics), every other row still answers and every
  job still runs.
"""

from __future__ import annotations

import json
import os
import time

import grpc
import pytest
import requests
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2

from harness import JSON, PROTOBUF, STORE_CONFIG, merge_config
from otlp_helpers import ExportTraceServiceResponse, kv, make_request, make_span, to_json_bytes
from store_helpers import StoreDir, parse_segment, wait_until
from test_otlp_grpc import call, export_stub, grpc_channel

LATEST = 7_258_118_400_000_000_000  # 2200-01-01T00:00:00Z
NOW = time.time_ns()
GOOD_TIMES = {"zero": 0, "2200-01-01": LATEST, "2200-01-01-1ns": LATEST - 1, "now": NOW}
BAD_TIMES = {"2200-01-01+1ns": LATEST + 1, "2^63-1": 2**63 - 1, "2^63": 2**63, "2^64-1": 2**64 - 1}

LOGS_EXPORT = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
METRICS_EXPORT = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"

BODY_LIMIT = GRPC_LIMIT = 1024 * 1024
INGEST_CONFIG = merge_config(STORE_CONFIG, {"segments": {"max_age_ms": 200},
                                            "otlp": {"http": {"max_body_bytes": BODY_LIMIT},
                                                     "grpc": {"max_message_bytes": GRPC_LIMIT}}})


@pytest.fixture(scope="module")
def ingest_server(module_server_factory):
    return module_server_factory(INGEST_CONFIG, name="ingest-fuzz")


def sql(srv, statement: str, params=None) -> requests.Response:
    body = {"sql": statement}
    if params is not None:
        body["params"] = params
    return requests.post(f"{srv.api_base}/api/v1/sql", json=body, timeout=60)


def sql_rows(srv, statement: str, params=None) -> list:
    r = sql(srv, statement, params)
    assert r.status_code == 200, f"{statement}: {r.status_code} {r.text[:1000]}"
    return r.json()["rows"]


def post(srv, path: str, body: bytes, ctype: str) -> requests.Response:
    return requests.post(f"{srv.otlp_base}{path}", data=body, headers={"Content-Type": ctype}, timeout=30)


def span_at(name: str, t: int):
    span = make_span(name=name, start=t, duration=0)
    span.end_time_unix_nano = t
    return span


def partial(resp: requests.Response, ctype: str, field: str):
    """(rejected count, error message) from an OTLP/HTTP answer's partial_success."""
    assert resp.status_code == 200, f"HTTP {resp.status_code}: {resp.content[:500]!r}"
    if ctype == JSON:
        ps = resp.json().get("partialSuccess") or {}
        camel = {"rejected_spans": "rejectedSpans", "rejected_log_records": "rejectedLogRecords",
                 "rejected_data_points": "rejectedDataPoints"}[field]
        return int(ps.get(camel, 0)), ps.get("errorMessage", "")
    msg = {"rejected_spans": ExportTraceServiceResponse,
           "rejected_log_records": logs_service_pb2.ExportLogsServiceResponse,
           "rejected_data_points": metrics_service_pb2.ExportMetricsServiceResponse}[field].FromString(resp.content)
    return getattr(msg.partial_success, field), msg.partial_success.error_message


# --------------------------------------------------------------------------
# builders: logs, metrics, nesting
# --------------------------------------------------------------------------


def logs_request(times: dict[str, int], service: str) -> logs_service_pb2.ExportLogsServiceRequest:
    req = logs_service_pb2.ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.append(kv("service.name", service))
    sl = rl.scope_logs.add()
    for name, t in times.items():
        rec = sl.log_records.add()
        rec.time_unix_nano = t
        rec.observed_time_unix_nano = t
        rec.severity_number = 9
        rec.body.string_value = f"log at {name}"
    return req


def metrics_request(times: dict[str, int], service: str) -> metrics_service_pb2.ExportMetricsServiceRequest:
    req = metrics_service_pb2.ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    rm.resource.attributes.append(kv("service.name", service))
    sm = rm.scope_metrics.add()
    m = sm.metrics.add()
    m.name = f"{service}.gauge"
    for name, t in times.items():
        p = m.gauge.data_points.add()
        p.time_unix_nano = t
        p.as_double = 1.5
        p.attributes.append(kv("at", name))
    return req


# Python's protobuf runtime refuses messages nested over ~100 levels (65 AnyValues are 130
# message levels), so the deep values are encoded by hand and spliced into serialized messages.

def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def nested_pb(depth: int, leaf: str = "leaf") -> bytes:
    """AnyValue bytes: `depth` containers (arrays and key/value lists in turn) around a string."""
    v = _field(1, leaf.encode())  # AnyValue.string_value
    for level in range(depth):
        if level % 2:
            kv_bytes = _field(1, f"k{level}".encode()) + _field(2, v)  # KeyValue{key, value}
            v = _field(6, _field(1, kv_bytes))  # AnyValue.kvlist_value = KeyValueList{values}
        else:
            v = _field(5, _field(1, v))  # AnyValue.array_value = ArrayValue{values}
    return v


def nested_json(depth: int, leaf: str = "leaf") -> dict:
    v: dict = {"stringValue": leaf}
    for level in range(depth):
        v = {"kvlistValue": {"values": [{"key": f"k{level}", "value": v}]}} if level % 2 else {"arrayValue": {"values": [v]}}
    return v


def deep_kv_pb(depth: int) -> bytes:
    return _field(1, b"deep") + _field(2, nested_pb(depth))


def nested_json_depth(value) -> int:
    """Containers around the leaf of a value as the server renders it (plain JSON)."""
    depth = 0
    while isinstance(value, (list, dict)):
        value = value[0] if isinstance(value, list) else next(iter(value.values()))
        depth += 1
    assert value == "leaf", value
    return depth


class Nested:
    """One trace request carrying a value nested `depth` deep in `where`, as protobuf bytes
    and as OTLP/JSON, with its span for the look-ups."""

    def __init__(self, name: str, depth: int, where: str):
        self.span = make_span(name=name, start=NOW - 10 * 1_000_000_000)
        if where == "event":
            ev = self.span.events.add()
            ev.time_unix_nano = self.span.start_time_unix_nano
            ev.name = "deep event"
        req = make_request([self.span], service="nesting")
        doc = json.loads(to_json_bytes(req))
        rs_doc = doc["resourceSpans"][0]
        span_doc = rs_doc["scopeSpans"][0]["spans"][0]
        deep_json = {"key": "deep", "value": nested_json(depth)}
        span_pb = self.span.SerializeToString()
        resource_pb = req.resource_spans[0].resource.SerializeToString()
        if where == "attribute":
            span_pb += _field(9, deep_kv_pb(depth))  # Span.attributes
            span_doc.setdefault("attributes", []).append(deep_json)
        elif where == "event":
            event = self.span.events[0]
            event_pb = event.SerializeToString() + _field(3, deep_kv_pb(depth))  # Event.attributes
            plain = type(self.span)()
            plain.CopyFrom(self.span)
            del plain.events[:]
            span_pb = plain.SerializeToString() + _field(11, event_pb)  # Span.events
            span_doc["events"][0].setdefault("attributes", []).append(deep_json)
        else:
            resource_pb += _field(1, deep_kv_pb(depth))  # Resource.attributes
            rs_doc["resource"].setdefault("attributes", []).append(deep_json)
        scope_pb = req.resource_spans[0].scope_spans[0].scope.SerializeToString()
        scope_spans = _field(1, scope_pb) + _field(2, span_pb)
        resource_spans = _field(1, resource_pb) + _field(2, scope_spans)
        self.protobuf = _field(1, resource_spans)
        self.json = json.dumps(doc).encode()


def nested_log(service: str, depth: int) -> tuple[bytes, bytes]:
    """A log request whose record body is nested `depth` deep: (protobuf, JSON)."""
    req = logs_request({"now": NOW}, service)
    rec = req.resource_logs[0].scope_logs[0].log_records[0]
    rec.ClearField("body")
    rl = req.resource_logs[0]
    record_pb = rec.SerializeToString() + _field(5, nested_pb(depth))  # LogRecord.body
    scope_logs = _field(2, record_pb)
    resource_logs = _field(1, rl.resource.SerializeToString()) + _field(2, scope_logs)
    doc = json.loads(json_format.MessageToJson(req))
    doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["body"] = nested_json(depth)
    return _field(1, resource_logs), json.dumps(doc).encode()


def send_traces(srv, req, transport: str):
    """(ok, partial rejected count, message) over one transport; `req` is a request message
    or a Nested."""
    if isinstance(req, Nested):
        pb, js = req.protobuf, req.json
    else:
        pb, js = req.SerializeToString(), to_json_bytes(req)
    if transport == "grpc":
        with grpc_channel(srv) as channel:
            a = call(export_stub(channel), pb)
        if a.code != grpc.StatusCode.OK:
            return a.code, 0, a.details
        return 200, a.response.partial_success.rejected_spans, a.response.partial_success.error_message
    ctype = JSON if transport == "json" else PROTOBUF
    r = post(srv, "/v1/traces", js if transport == "json" else pb, ctype)
    if r.status_code != 200:
        return r.status_code, 0, r.text
    n, msg = partial(r, ctype, "rejected_spans")
    return 200, n, msg


def wait_sealed(srv, what: str, kind: str = "spans"):
    """Waits until no record of `kind` is left unsealed (everything is in segments)."""
    def done():
        r = sql(srv, f"SELECT count(*) FROM {kind}")
        return r.status_code == 200 and r.json()["scan"]["unsealed_batches"] == 0
    wait_until(done, timeout=20, what=f"{what}: every {kind} batch sealed")


# --------------------------------------------------------------------------
# jobs
# --------------------------------------------------------------------------


def run_every_job(srv, timeout: float = 60) -> dict[str, dict]:
    """POST /api/v1/jobs/{name}/run for every job, then waits for each one's new run; returns
    name -> that run, and requires status ok for all."""
    jobs = requests.get(f"{srv.api_base}/api/v1/jobs", timeout=10).json()["jobs"]
    names = [j["name"] for j in jobs]
    assert len(names) >= 10, names
    before = {}
    for name in names:
        runs = requests.get(f"{srv.api_base}/api/v1/jobs/{name}/runs", timeout=10).json()["runs"]
        before[name] = max((r["id"] for r in runs), default=0)
        r = requests.post(f"{srv.api_base}/api/v1/jobs/{name}/run", timeout=10)
        assert r.status_code in (200, 202), f"run {name}: {r.status_code} {r.text}"
    results: dict[str, dict] = {}
    deadline = time.monotonic() + timeout
    while len(results) < len(names):
        for name in names:
            if name in results:
                continue
            runs = requests.get(f"{srv.api_base}/api/v1/jobs/{name}/runs", timeout=10).json()["runs"]
            mine = [r for r in runs if r["id"] > before[name] and r["trigger"] != "schedule"
                    and r["status"] not in ("running", "queued")]
            if mine:
                results[name] = mine[0]
        assert time.monotonic() < deadline, f"jobs not finished in {timeout}s: {sorted(set(names) - set(results))}"
        time.sleep(0.2)
    failed = {n: (r["status"], r["error"]) for n, r in results.items() if r["status"] != "ok"}
    assert not failed, f"job runs not ok: {failed}"
    return results


# --------------------------------------------------------------------------
# times
# --------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["protobuf", "json", "grpc"])
def test_span_times_past_2200_are_refused_alone(ingest_server, transport):
    srv = ingest_server
    good = {name: span_at(f"{transport} good {name}", t) for name, t in GOOD_TIMES.items()}
    bad = {name: span_at(f"{transport} bad {name}", t) for name, t in BAD_TIMES.items()}
    # an end after 2200 with a start before it, and an event after 2200, are refused too
    late_end = span_at(f"{transport} bad late end", NOW)
    late_end.end_time_unix_nano = 2**64 - 1
    late_event = span_at(f"{transport} bad late event", NOW)
    ev = late_event.events.add()
    ev.time_unix_nano = 2**63
    ev.name = "late"
    spans = [good["zero"], bad["2^63"], good["2200-01-01"], bad["2^64-1"], late_end, good["now"], bad["2^63-1"],
             late_event, good["2200-01-01-1ns"], bad["2200-01-01+1ns"]]
    status, rejected, message = send_traces(srv, make_request(spans, service=f"times-{transport}"), transport)
    assert status == 200, (status, message)
    assert rejected == len(BAD_TIMES) + 2, (rejected, message)
    assert "2200-01-01" in message, message
    for name, span in good.items():
        doc = srv.get_trace(span.trace_id.hex())
        assert doc["span_count"] == 1, (name, doc)
        assert doc["spans"][0]["start_time_unix_nano"] == GOOD_TIMES[name], (name, doc["spans"][0])
    for span in list(bad.values()) + [late_end, late_event]:
        assert srv.api_get(f"/api/v1/traces/{span.trace_id.hex()}").status_code == 404, span.name
    got = sql_rows(srv, "SELECT name, start_time_ns FROM spans WHERE service = ? ORDER BY start_time_ns",
                   [f"times-{transport}"])
    assert got == [[good[n].name, GOOD_TIMES[n]] for n in ("zero", "now", "2200-01-01-1ns", "2200-01-01")], got


@pytest.mark.parametrize("transport", ["protobuf", "json", "grpc"])
def test_log_and_metric_times_past_2200_are_refused_alone(ingest_server, transport):
    srv = ingest_server
    times = {**GOOD_TIMES, **BAD_TIMES}
    service = f"lm-times-{transport}"
    logs = logs_request(times, service)
    metrics = metrics_request(times, service)
    for req, path, method, field in [(logs, "/v1/logs", LOGS_EXPORT, "rejected_log_records"),
                                     (metrics, "/v1/metrics", METRICS_EXPORT, "rejected_data_points")]:
        if transport == "grpc":
            resp_type = type(req).__name__.replace("Request", "Response")
            module = logs_service_pb2 if "Logs" in resp_type else metrics_service_pb2
            with grpc_channel(srv) as channel:
                stub = channel.unary_unary(method, request_serializer=lambda m: m.SerializeToString(),
                                           response_deserializer=getattr(module, resp_type).FromString)
                a = call(stub, req)
            assert a.code == grpc.StatusCode.OK, a
            n, msg = getattr(a.response.partial_success, field), a.response.partial_success.error_message
        else:
            ctype = JSON if transport == "json" else PROTOBUF
            body = json_format.MessageToJson(req).encode() if transport == "json" else req.SerializeToString()
            n, msg = partial(post(srv, path, body, ctype), ctype, field)
        assert n == len(BAD_TIMES), (path, n, msg)
        assert "2200-01-01" in msg, (path, msg)
    got = sql_rows(srv, "SELECT time_ns, body FROM logs WHERE service = ? ORDER BY time_ns", [service])
    assert got == [[t, f"log at {n}"] for n, t in sorted(GOOD_TIMES.items(), key=lambda x: x[1])], got
    got = sql_rows(srv, "SELECT time_ns FROM metric_points WHERE metric_name = ? ORDER BY time_ns", [f"{service}.gauge"])
    assert got == [[t] for t in sorted(GOOD_TIMES.values())], got


# --------------------------------------------------------------------------
# nesting
# --------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["protobuf", "json", "grpc"])
def test_nesting_at_the_limit_is_stored_and_readable_over_it_refused(ingest_server, transport):
    srv = ingest_server
    accepted = []
    for where in ("attribute", "event", "resource"):
        for depth in (63, 64):
            req = Nested(f"{transport} nest {where} {depth}", depth, where)
            status, rejected, message = send_traces(srv, req, transport)
            assert status == 200 and rejected == 0, (where, depth, status, rejected, message)
            accepted.append((where, depth, req.span))
        req = Nested(f"{transport} nest {where} 65", 65, where)
        span = req.span
        status, rejected, message = send_traces(srv, req, transport)
        expected = grpc.StatusCode.INVALID_ARGUMENT if transport == "grpc" else 400
        assert status == expected, (where, status, message)
        assert "nest" in message.lower(), message
        assert srv.api_get(f"/api/v1/traces/{span.trace_id.hex()}").status_code == 404
    # a log body nested 64 deep is kept, 65 refused
    for depth, ok in ((64, True), (65, False)):
        pb, js = nested_log(f"nest-logs-{transport}-{depth}", depth)
        if transport == "grpc":
            with grpc_channel(srv) as channel:
                stub = channel.unary_unary(LOGS_EXPORT, request_serializer=lambda m: m,
                                           response_deserializer=logs_service_pb2.ExportLogsServiceResponse.FromString)
                code = call(stub, pb).code
            assert code == (grpc.StatusCode.OK if ok else grpc.StatusCode.INVALID_ARGUMENT), (depth, code)
        else:
            ctype = JSON if transport == "json" else PROTOBUF
            r = post(srv, "/v1/logs", js if transport == "json" else pb, ctype)
            assert r.status_code == (200 if ok else 400), (depth, r.status_code, r.text[:300])

    wait_sealed(srv, "nested spans")
    wait_sealed(srv, "nested logs", "logs")
    # readable once sealed: SQL over the whole table, and each trace with its one span
    r = sql(srv, "SELECT name, attributes, events, resource FROM spans")
    assert r.status_code == 200, r.text[:1000]
    rows = {row[0]: row for row in r.json()["rows"]}
    for where, depth, span in accepted:
        assert span.name in rows, (span.name, sorted(rows)[:20])
        doc = srv.get_trace(span.trace_id.hex())
        assert doc["span_count"] == 1 and not doc.get("warnings"), doc
        stored = doc["spans"][0]
        value = {"attribute": lambda: stored["attributes"]["deep"],
                 "event": lambda: stored["events"][0]["attributes"]["deep"],
                 "resource": lambda: stored["resource"]["attributes"]["deep"]}[where]()
        assert nested_json_depth(value) == depth, (where, depth)
    r = sql(srv, "SELECT body FROM logs WHERE service = ?", [f"nest-logs-{transport}-64"])
    assert r.status_code == 200 and len(r.json()["rows"]) == 1, r.text[:500]
    assert nested_json_depth(json.loads(r.json()["rows"][0][0])) == 64


def request_of_size(size: int, name: str):
    """A valid trace request serialized to exactly `size` bytes."""
    pad = size - 200
    for _ in range(20):
        req = make_request([make_span(name=name, start=NOW, attributes={"pad": "p" * pad})], service="sizes")
        n = len(req.SerializeToString())
        if n == size:
            return req
        pad += size - n
    raise AssertionError(f"no request of exactly {size} bytes")


def test_size_limits_at_under_and_over(ingest_server):
    srv = ingest_server
    for size, expected in ((BODY_LIMIT - 1, 200), (BODY_LIMIT, 200), (BODY_LIMIT + 1, 413)):
        req = request_of_size(size, f"http size {size}")
        r = post(srv, "/v1/traces", req.SerializeToString(), PROTOBUF)
        assert r.status_code == expected, (size, r.status_code, r.text[:300])
        tid = req.resource_spans[0].scope_spans[0].spans[0].trace_id.hex()
        assert srv.api_get(f"/api/v1/traces/{tid}").status_code == (200 if expected == 200 else 404)
    with grpc_channel(srv) as channel:
        stub = export_stub(channel)
        for size, expected in ((GRPC_LIMIT - 1, grpc.StatusCode.OK), (GRPC_LIMIT, grpc.StatusCode.OK),
                               (GRPC_LIMIT + 1, grpc.StatusCode.RESOURCE_EXHAUSTED)):
            req = request_of_size(size, f"grpc size {size}")
            a = call(stub, req)
            assert a.code == expected, (size, a)


def _mutations(seed_bodies: list[bytes], count: int, rng) -> list[bytes]:
    out = []
    for i in range(count):
        b = bytearray(rng.choice(seed_bodies))
        for _ in range(rng.randint(1, 4)):
            op = rng.randrange(5)
            at = rng.randrange(len(b)) if b else 0
            if op == 0 and b:
                b[at] ^= 1 << rng.randrange(8)  # bit flip
            elif op == 1 and b:
                b[at] = rng.choice([0x00, 0x7F, 0x80, 0xFF])  # an extreme byte (varints, lengths, tags)
            elif op == 2:
                b = b[:at]  # truncate
            elif op == 3:
                b[at:at] = rng.choice([b"\xff" * 10, b"\x80" * 11, b"\x0a\xff\xff\xff\xff\x0f", os.urandom(8)])
            else:
                j = rng.randrange(len(b)) if b else 0
                b[at:at] = b[j:j + rng.randint(1, 64)]  # duplicate a slice
        out.append(bytes(b))
    return out


@pytest.mark.parametrize("transport", ["protobuf", "json", "grpc"])
def test_mutated_bodies_are_answered_and_stop_nothing(ingest_server, transport):
    import random
    from otlp_helpers import ExportTraceServiceRequest, fixture_bytes
    from store_helpers import remap_ids

    srv = ingest_server
    rng = random.Random(21 + len(transport))
    seeds = [remap_ids(ExportTraceServiceRequest.FromString(fixture_bytes(n))) for n in ("full.pb", "genai.pb")]
    seeds.append(make_request([make_span(name="mut", attributes={"a": 1, "b": "x", "c": 2.5})]))
    # each seed with 2200-01-01 and 0 times, so mutations land near the bounds
    edge = make_request([span_at("edge 0", 0), span_at("edge latest", LATEST)])
    seeds.append(edge)
    raw = [to_json_bytes(x) if transport == "json" else x.SerializeToString() for x in seeds]
    statuses: dict = {}
    with grpc_channel(srv) as channel:
        stub = export_stub(channel)
        for body in _mutations(raw, 150, rng):
            if transport == "grpc":
                code = call(stub, body).code
                assert code in (grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT,
                                grpc.StatusCode.RESOURCE_EXHAUSTED), code
                statuses[code.name] = statuses.get(code.name, 0) + 1
            else:
                r = post(srv, "/v1/traces", body, JSON if transport == "json" else PROTOBUF)
                assert r.status_code in (200, 400, 413), (r.status_code, r.text[:300])
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
    assert srv.running and requests.get(f"{srv.api_base}/health", timeout=10).status_code == 200
    assert len(statuses) >= 2, statuses  # both accepted and refused bodies were produced
    wait_sealed(srv, f"mutated {transport} bodies")
    r = sql(srv, "SELECT * FROM spans")
    assert r.status_code == 200 and r.json()["scan"]["blocks_fenced"] == 0, r.text[:1000]


def test_after_the_fuzz_every_job_runs_and_every_table_answers(ingest_server):
    """Runs after the tests above (same module server): the stored extremes (time 0, time
    2200-01-01, 64-level values) stop no job and no scan."""
    srv = ingest_server
    assert sql_rows(srv, "SELECT count(*) FROM spans WHERE start_time_ns IN (0, ?)", [LATEST])[0][0] >= 6
    run_every_job(srv)
    for table in ("spans", "logs", "metric_points"):
        r = sql(srv, f"SELECT * FROM {table}")
        assert r.status_code == 200, (table, r.text[:1000])
        assert r.json()["row_count"] > 0, table
        assert r.json()["scan"]["blocks_fenced"] == 0, r.json()["scan"]
        assert not r.json().get("warnings"), r.json().get("warnings")
    for path in ("/api/v1/traces?since=0&until=2200-01-01T00:00:00Z", "/api/v1/logs?since=0",
                 "/api/v1/costs/summary?since=0", "/api/v1/rca/clusters", "/api/v1/drift/alerts"):
        r = requests.get(f"{srv.api_base}{path}", timeout=60)
        assert r.status_code == 200, (path, r.status_code, r.text[:500])
    # the scheduler keeps running: a restart and another round
    srv.restart()
    run_every_job(srv)
    assert srv.running


# --------------------------------------------------------------------------
# a corrupt block
# --------------------------------------------------------------------------


def _two_segments_one_corrupt(start_server, name: str):
    """50 spans in two sealed segments (30 victims, 20 survivors); then one byte of the first
    block's data (its trace_id column, the first chunk after the header) flipped in the
    victims' segment, with the server running."""
    srv = start_server(merge_config(STORE_CONFIG, {"segments": {"max_age_ms": 200}}), name=name)
    store = StoreDir(srv.data_dir)
    victims = [make_span(name=f"victim {i}", start=NOW - 3600 * 10**9 + i, attributes={"i": i}) for i in range(30)]
    assert srv.post_traces(make_request(victims, service="victim").SerializeToString()).status_code == 200
    first = store.wait_for_segments(1)[0]
    survivors = [make_span(name=f"survivor {i}", start=NOW - 1800 * 10**9 + i, attributes={"i": i}) for i in range(20)]
    assert srv.post_traces(make_request(survivors, service="survivor").SerializeToString()).status_code == 200
    store.wait_for_segments(2)
    wait_sealed(srv, "both batches")
    assert sql_rows(srv, "SELECT count(*) FROM spans") == [[50]]
    seg = parse_segment(first)
    assert seg.rows == 30 and len(seg.blocks) == 1, seg
    chunk = seg.blocks[0].chunks[0]
    assert chunk.name == "trace_id" and chunk.offset == 8, chunk
    data = bytearray(first.read_bytes())
    data[chunk.offset + chunk.length // 2] ^= 0x5A
    first.write_bytes(bytes(data))
    return srv, first, victims, survivors


def _check_fenced_answer(srv, body: dict, first) -> None:
    assert body["scan"]["blocks_fenced"] == 1, body["scan"]
    warnings = body.get("warnings")
    assert isinstance(warnings, list) and len(warnings) == 1, body
    assert warnings[0].startswith(f"block 0 of segment {first.name} is unreadable and was skipped ("), warnings
    assert str(srv.data_dir) not in warnings[0] and "/tmp/" not in warnings[0] and "/work/" not in warnings[0]


def test_a_corrupt_block_is_fenced_and_everything_else_answers(start_server):
    srv, first, victims, survivors = _two_segments_one_corrupt(start_server, "corrupt-block")
    mark = srv.log_mark()
    r = sql(srv, "SELECT count(*), sum(service = 'survivor'), count(DISTINCT trace_id) FROM spans")
    assert r.status_code == 200, r.text[:1000]
    assert r.json()["rows"] == [[20, 20, 20]], r.json()
    _check_fenced_answer(srv, r.json(), first)
    # the block stays fenced: every later scan skips it and says so
    for statement in ("SELECT count(*) FROM spans", "SELECT * FROM spans"):
        r = sql(srv, statement)
        assert r.status_code == 200, (statement, r.text[:1000])
        assert r.json()["row_count"] == (1 if "count" in statement else 20), r.json()["row_count"]
        if "count" in statement:
            assert r.json()["rows"] == [[20]], r.json()
        _check_fenced_answer(srv, r.json(), first)
    # a trace whose span is in the block: answered (not 500/503), with the warning
    doc = srv.api_get(f"/api/v1/traces/{victims[0].trace_id.hex()}")
    assert doc.status_code in (200, 404), doc.text
    assert doc.headers.get("Content-Type", "").startswith("application/json")
    warnings = doc.json().get("warnings") or []
    assert any(w.startswith(f"block 0 of segment {first.name} is unreadable") for w in warnings), doc.text[:1000]
    assert str(srv.data_dir) not in doc.text and "/tmp/" not in doc.text
    for s in survivors[:3]:
        got = srv.get_trace(s.trace_id.hex())
        assert got["span_count"] == 1 and not got.get("warnings"), got

    assert srv.metrics().total("pyflare_blocks_fenced_total") == 1
    run_every_job(srv)
    for path in ("/api/v1/traces?since=0", "/api/v1/costs/summary", "/api/v1/rca/slices",
                 "/api/v1/drift/heatmap?scope=gpt-4o", "/api/v1/traces?service=survivor"):
        r = requests.get(f"{srv.api_base}{path}", timeout=60)
        assert r.status_code == 200, (path, r.status_code, r.text[:500])
    listed = srv.list_all_traces(service="survivor", since="0")
    assert len(listed) == 20, len(listed)
    sql_rows(srv, "SELECT count(*) FROM spans WHERE trace_id IS NOT NULL")
    assert srv.metrics().total("pyflare_blocks_fenced_total") == 1, "the same block counted twice"
    assert "Fatal" not in srv.log_since(mark)
    assert srv.running


def test_count_star_counts_a_damaged_block_until_a_scan_fences_it(start_server):
    """As docs/sql.md says: a damage is found by the read that decompresses the damaged column.
    count(*) reads no column, so before any such read it still counts the block's rows (and
    says nothing is fenced); once a scan met the damage, the block is fenced and every
    statement, count(*) included, moves past it and says so."""
    srv, first, victims, survivors = _two_segments_one_corrupt(start_server, "corrupt-count")
    r = sql(srv, "SELECT count(*) FROM spans")
    assert r.status_code == 200, r.text[:1000]
    before = r.json()
    assert before["rows"] == [[50]] and before["scan"]["blocks_fenced"] == 0, before
    sql(srv, "SELECT * FROM spans")
    r = sql(srv, "SELECT count(*) FROM spans")
    later = r.json()
    assert later["rows"] == [[20]], later
    _check_fenced_answer(srv, later, first)


def test_spans_lasting_until_2200_stop_no_job(start_server):
    """Two spans of the same minute, each from now to exactly 2200-01-01 (both times valid,
    both acknowledged): their durations (~5.4e18 ns each) add up past 2^63 in a rollup's sum."""
    srv = start_server(merge_config(STORE_CONFIG, {"segments": {"max_age_ms": 200}}), name="long-durations")
    minute = NOW // (60 * 10**9) * 60 * 10**9 - 120 * 10**9
    spans = []
    for i in range(2):
        span = make_span(name=f"until 2200 {i}", start=minute + i * 10**9, duration=0,
                         attributes={"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 10})
        span.end_time_unix_nano = LATEST
        spans.append(span)
    status, rejected, message = send_traces(srv, make_request(spans, service="long"), "protobuf")
    assert status == 200 and rejected == 0, (status, rejected, message)
    for span in spans:
        assert srv.get_trace(span.trace_id.hex())["span_count"] == 1
    run_every_job(srv)
    assert sql(srv, "SELECT * FROM spans").status_code == 200
