"""The JSON telemetry API (/api/v1/telemetry/...), through HTTP only: metrics posted and
read back with aggregates; spans built request by request (tags, logs, finish) and read
back through the ordinary trace API; children joining a parent's trace; the timeout of
unfinished spans; every bad request with its status and message; data across a restart;
503 without the store. The mapping to OTLP is in docs/telemetry-api.md."""

from __future__ import annotations

import json
import math
import time
import uuid

import pytest
import requests

from harness import HTTP_TIMEOUT_S, PROTOBUF, STORE_CONFIG, merge_config, post_raw
from otlp_helpers import make_request, make_span
from store_helpers import wait_until

T0 = 1_767_000_000  # unix seconds, 2025-12-29T09:20:00Z
SEC = 1_000_000_000
JSON_HEADERS = {"Content-Type": "application/json"}
# The OpenTelemetry SDK's default bounds, which telemetry histograms use.
BOUNDS = [0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000]


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def nearest_rank(values: list[float], p: float) -> float:
    ordered = sorted(values)
    rank = max(1, math.ceil(p * len(ordered) - 1e-9))
    return ordered[rank - 1]


class Client:
    """The telemetry routes of one server."""

    def __init__(self, srv):
        self.srv = srv

    def post(self, path: str, body=None, headers: dict | None = None, raw: bytes | None = None) -> requests.Response:
        if raw is None and body is not None:
            raw = json.dumps(body).encode()
        h = dict(JSON_HEADERS) if headers is None else headers
        return requests.post(f"{self.srv.api_base}{path}", data=raw, headers=h, timeout=HTTP_TIMEOUT_S)

    def ok(self, path: str, body=None, status: int = 200) -> dict:
        r = self.post(path, body)
        assert r.status_code == status, f"POST {path} {body} -> {r.status_code}: {r.text[:500]}"
        assert r.headers["Content-Type"].startswith("application/json")
        return r.json()

    def metric(self, **body) -> dict:
        return self.ok("/api/v1/telemetry/metrics", body)

    def start(self, name: str, **body) -> dict:
        return self.ok("/api/v1/telemetry/traces/spans", dict(body, name=name), status=201)

    def span(self, span_id: str, action: str, body=None) -> dict:
        return self.ok(f"/api/v1/telemetry/traces/spans/{span_id}/{action}", body)

    def get(self, path: str, **params) -> dict:
        r = self.srv.api_get(path, params=params)
        assert r.status_code == 200, f"GET {path} {params} -> {r.status_code}: {r.text[:500]}"
        return r.json()

    def metrics(self, **params) -> dict[str, dict]:
        doc = self.get("/api/v1/telemetry/metrics", **params)
        assert doc["warnings"] == []
        return {m["name"]: m for m in doc["metrics"]}

    def traces(self, **params) -> list[dict]:
        return self.get("/api/v1/telemetry/traces", **params)["traces"]


@pytest.fixture(scope="module")
def store_server(module_server_factory):
    # Short seals: the trace list is read both before and after a trace's seal.
    return module_server_factory(merge_config(STORE_CONFIG, {"segments": {"max_age_ms": 500}}), name="telemetry-store")


@pytest.fixture
def client(store_server) -> Client:
    return Client(store_server)


def error_of(r: requests.Response) -> dict:
    assert r.headers.get("Content-Type", "").startswith("application/json"), (r.status_code, r.headers, r.text)
    doc = r.json()
    # `field` names the request member a validation error is about, when there is one.
    assert set(doc) == {"error"} and {"code", "message"} <= set(doc["error"]) <= {"code", "message", "field"}, doc
    return doc["error"]


# --------------------------------------------------------------------------
# metrics
# --------------------------------------------------------------------------


def test_metrics_are_read_back_with_aggregates(client):
    plugin = unique("plug")
    prefix = f"plugin.{plugin}"
    counter_values = [1, 2, 3.5, 0]
    for i, v in enumerate(counter_values):
        assert client.metric(name=f"{prefix}.calls", value=v, type="counter",
                             tags={"plugin_id": plugin, "route": "/a" if i % 2 else "/b"}, timestamp=T0 + i) == {"accepted": 1}
    gauge_values = [10, -4.25, 7]
    batch = [{"name": f"{prefix}.queue", "value": v, "type": "gauge", "timestamp": T0 + 10 + i, "tags": {"plugin_id": plugin}}
             for i, v in enumerate(gauge_values)]
    assert client.metric(metrics=batch) == {"accepted": 3}
    latencies = [12.5, 3, 700, 42, 42, 9000, 0.5, 150, 75, 20000]
    # One batch mixing a histogram and another plugin's metric, with an RFC 3339 timestamp.
    other = f"plugin.{unique('other')}.calls"
    body = [{"name": f"{prefix}.latency", "value": v, "type": "histogram", "unit": "ms", "timestamp": T0 + 20 + i,
             "tags": {"plugin_id": plugin, "ok": i % 3 != 0, "attempt": i}} for i, v in enumerate(latencies)]
    body.append({"name": other, "value": 5, "type": "counter", "timestamp": "2025-12-29T09:20:30Z"})
    assert client.metric(metrics=body) == {"accepted": len(latencies) + 1}

    found = client.metrics(name=f"{prefix}.*", limit=1000)
    assert sorted(found) == [f"{prefix}.calls", f"{prefix}.latency", f"{prefix}.queue"]

    calls = found[f"{prefix}.calls"]
    assert calls["type"] == "counter" and calls["temporality"] == "delta" and calls["monotonic"] is True
    assert calls["services"] == [plugin]
    assert calls["value_count"] == 4
    assert calls["aggregates"] == {"count": 4, "sum": 6.5, "min": 0, "max": 3.5, "avg": 6.5 / 4, "last": 0}
    assert [v["value"] for v in calls["values"]] == counter_values
    assert [v["time_unix_nano"] for v in calls["values"]] == [(T0 + i) * SEC for i in range(4)]
    assert calls["values"][0]["time"] == "2025-12-29T09:20:00.000Z"
    assert calls["values"][1]["tags"] == {"plugin_id": plugin, "route": "/a"}

    queue = found[f"{prefix}.queue"]
    assert queue["type"] == "gauge" and queue["temporality"] is None
    assert queue["aggregates"] == {"count": 3, "sum": 12.75, "min": -4.25, "max": 10, "avg": 4.25, "last": 7}

    latency = found[f"{prefix}.latency"]
    assert latency["type"] == "histogram" and latency["unit"] == "ms"
    agg = latency["aggregates"]
    assert agg["count"] == len(latencies)
    assert agg["sum"] == pytest.approx(sum(latencies))
    assert (agg["min"], agg["max"], agg["last"]) == (0.5, 20000, 20000)
    assert agg["avg"] == pytest.approx(sum(latencies) / len(latencies))
    for key, p in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        assert agg[key] == nearest_rank(latencies, p), key
    first = latency["values"][0]
    assert (first["value"], first["count"], first["sum"], first["min"], first["max"]) == (12.5, 1, 12.5, 12.5, 12.5)
    assert first["tags"] == {"plugin_id": plugin, "ok": False, "attempt": 0}

    # `?` matches one character; a literal name matches only itself.
    assert sorted(client.metrics(name=f"{prefix}.queu?")) == [f"{prefix}.queue"]
    assert sorted(client.metrics(name=f"{prefix}.queu")) == []
    assert sorted(client.metrics(name=other)) == [other]
    assert client.metrics(name=other)[other]["values"][0]["time_unix_nano"] == (T0 + 30) * SEC
    assert client.metrics(name=other)[other]["services"] == ["pyflare-telemetry"]

    # since is inclusive, until exclusive (RFC 3339 or unix nanoseconds); limit keeps the latest
    # values while the aggregates cover all of the range.
    window = client.metrics(name=f"{prefix}.calls", since=str((T0 + 1) * SEC), until="2025-12-29T09:20:03Z")[f"{prefix}.calls"]
    assert [v["value"] for v in window["values"]] == [2, 3.5]
    assert window["aggregates"]["sum"] == 5.5
    limited = client.metrics(name=f"{prefix}.latency", limit=2)[f"{prefix}.latency"]
    assert [v["value"] for v in limited["values"]] == latencies[-2:]
    assert limited["value_count"] == len(latencies)
    assert limited["aggregates"]["count"] == len(latencies)


def test_metrics_show_in_the_metric_name_list(client):
    plugin = unique("plug")
    names = {f"plugin.{plugin}.{kind}": kind for kind in ("counter", "gauge", "histogram")}
    for name, kind in names.items():
        client.metric(name=name, value=1, type=kind, tags={"plugin_id": plugin})
    r = client.srv.api_get("/api/v1/metrics")
    if r.status_code == 404 and not r.text.strip().startswith("{"):
        pytest.skip("GET /api/v1/metrics is not in this build (it comes with the metrics API branch)")
    assert r.status_code == 200, r.text[:500]
    listed = {}

    def walk(node):
        if isinstance(node, dict):
            if node.get("name") in names:
                listed[node["name"]] = node
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(r.json())
    assert sorted(listed) == sorted(names), r.text[:2000]
    expected_types = {"counter": "sum", "gauge": "gauge", "histogram": "histogram"}
    for name, kind in names.items():
        if "type" in listed[name]:
            assert listed[name]["type"] == expected_types[kind], listed[name]


# --------------------------------------------------------------------------
# spans
# --------------------------------------------------------------------------


def span_of(trace: dict, span_id: str) -> dict:
    matches = [s for s in trace["spans"] if s["span_id"] == span_id]
    assert len(matches) == 1, (span_id, trace)
    return matches[0]


def test_span_lifecycle_reads_back_as_an_ordinary_span(client):
    plugin = unique("plug")
    started = time.time_ns()
    ids = client.start("index documents", tags={"plugin_id": plugin, "batch": 3, "dry_run": False})
    trace_id, span_id = ids["trace_id"], ids["span_id"]
    assert len(trace_id) == 32 and len(span_id) == 16 and ids["parent_span_id"] is None
    int(trace_id, 16), int(span_id, 16)

    merged = client.span(span_id, "tags", {"tags": {"batch": 4, "ratio": 0.75, "source": "s3"}})
    assert merged == {"trace_id": trace_id, "span_id": span_id,
                      "tags": {"batch": 4, "dry_run": False, "plugin_id": plugin, "ratio": 0.75, "source": "s3"}}
    # The tags object on its own is accepted too.
    assert client.span(span_id, "tags", {"stage": "load"})["tags"]["stage"] == "load"
    assert client.span(span_id, "logs", {"message": "fetched 120 documents"}) == {"trace_id": trace_id, "span_id": span_id, "log_count": 1}
    assert client.span(span_id, "logs", {"message": "slow shard", "level": "warning", "tags": {"shard": 7},
                                         "timestamp": T0 + 0.5})["log_count"] == 2
    done = client.span(span_id, "finish", {"status": "error", "message": "3 documents failed", "tags": {"failed": 3}})
    assert done["status"] == "error" and done["log_count"] == 2
    assert done["trace_id"] == trace_id and done["span_id"] == span_id
    assert done["duration_ms"] == pytest.approx((done["end_time_unix_nano"] - done["start_time_unix_nano"]) / 1e6)
    assert started <= done["start_time_unix_nano"] <= done["end_time_unix_nano"] <= time.time_ns()

    # Durable once finished: the ordinary trace API has it at once.
    trace = client.srv.get_trace(trace_id)
    assert trace["span_count"] == 1
    span = span_of(trace, span_id)
    assert span["name"] == "index documents"
    assert span["parent_span_id"] == ""
    assert span["kind"] == 1
    assert span["start_time_unix_nano"] == done["start_time_unix_nano"]
    assert span["end_time_unix_nano"] == done["end_time_unix_nano"]
    assert span["attributes"] == {"batch": 4, "dry_run": False, "failed": 3, "plugin_id": plugin, "ratio": 0.75,
                                  "source": "s3", "stage": "load"}
    assert span["status"] == {"code": 2, "message": "3 documents failed"}
    assert span["resource"]["attributes"] == {"service.name": plugin}
    assert span["scope"]["name"] == "pyflare.telemetry"
    assert span["pyflare"]["service"] == plugin
    events = span["events"]
    assert [e["name"] for e in events] == ["log", "log"]
    assert events[0]["attributes"] == {"message": "fetched 120 documents", "level": "info"}
    assert events[1]["attributes"] == {"message": "slow shard", "level": "warning", "shard": 7}
    assert events[1]["time_unix_nano"] == T0 * SEC + SEC // 2
    assert started <= events[0]["time_unix_nano"] <= done["end_time_unix_nano"]

    # The plugin's trace list, newest first; another plugin's is empty of it.
    second = client.start("second run", tags={"plugin_id": plugin})
    client.span(second["span_id"], "finish")  # no body: status ok
    listed = client.traces(plugin_id=plugin)
    assert [t["trace_id"] for t in listed] == [second["trace_id"], trace_id]
    first = listed[1]
    assert (first["root_name"], first["root_service"], first["span_count"], first["error_count"]) == \
        ("index documents", plugin, 1, 1)
    assert first["services"] == [plugin]
    assert first["start_time_unix_nano"] == done["start_time_unix_nano"]
    assert listed[0]["error_count"] == 0
    assert [t["trace_id"] for t in client.traces(plugin_id=plugin, limit=1)] == [second["trace_id"]]
    assert [t["trace_id"] for t in client.traces(plugin_id=plugin, status="error")] == [trace_id]
    assert client.traces(plugin_id=unique("nobody")) == []
    assert client.srv.get_trace(second["trace_id"])["spans"][0]["status"] == {"code": 1, "message": ""}

    # After the seal, the general trace list has them too (service = plugin id).
    wait_until(lambda: len(client.srv.list_traces(service=plugin)["traces"]) == 2, what="the sealed trace summaries")
    assert [t["trace_id"] for t in client.traces(plugin_id=plugin)] == [second["trace_id"], trace_id]


def test_child_spans_join_the_parent_trace(client):
    plugin, helper = unique("plug"), unique("helper")
    root = client.start("pipeline", tags={"plugin_id": plugin})
    # parent_trace_id alone: the child hangs under the trace's root span.
    child = client.start("step", parent_trace_id=root["trace_id"], tags={"plugin_id": helper})
    assert child["trace_id"] == root["trace_id"] and child["parent_span_id"] == root["span_id"]
    # parent_span_id alone (a span of this API): its trace.
    grandchild = client.start("sub-step", parent_span_id=child["span_id"])
    assert grandchild["trace_id"] == root["trace_id"] and grandchild["parent_span_id"] == child["span_id"]
    for ids in (grandchild, child, root):
        client.span(ids["span_id"], "finish", {"status": "ok"})

    trace = client.srv.get_trace(root["trace_id"])
    assert trace["span_count"] == 3
    parents = {s["name"]: s["parent_span_id"] for s in trace["spans"]}
    assert parents == {"pipeline": "", "step": root["span_id"], "sub-step": child["span_id"]}
    services = {s["name"]: s["resource"]["attributes"]["service.name"] for s in trace["spans"]}
    assert services == {"pipeline": plugin, "step": helper, "sub-step": "pyflare-telemetry"}
    # The trace is listed for every plugin with a span in it.
    for plugin_id in (plugin, helper):
        listed = client.traces(plugin_id=plugin_id)
        assert [t["trace_id"] for t in listed] == [root["trace_id"]]
        assert listed[0]["span_count"] == 3 and listed[0]["root_name"] == "pipeline"
    # The sub-step has no plugin_id: the trace is listed for the default service too.
    assert [t["trace_id"] for t in client.traces()].count(root["trace_id"]) == 1


def test_a_child_of_an_otlp_trace_hangs_under_its_stored_root(client):
    otlp_root = make_span(name="otlp root", start=time.time_ns(), duration=SEC)
    otlp_child = make_span(trace_id=otlp_root.trace_id, name="otlp child", parent=otlp_root.span_id,
                           start=otlp_root.start_time_unix_nano + 1000, duration=1000)
    r = client.srv.post_traces(make_request([otlp_child, otlp_root], service="app").SerializeToString(), PROTOBUF)
    assert r.status_code == 200, r.text
    trace_id = otlp_root.trace_id.hex()
    plugin = unique("plug")
    child = client.start("plugin work", parent_trace_id=trace_id.upper(), tags={"plugin_id": plugin})
    assert child["trace_id"] == trace_id and child["parent_span_id"] == otlp_root.span_id.hex()
    # An explicit parent_span_id is taken as given.
    explicit = client.start("explicit", parent_trace_id=trace_id, parent_span_id=otlp_child.span_id.hex())
    assert explicit["parent_span_id"] == otlp_child.span_id.hex()
    client.span(child["span_id"], "finish")
    client.span(explicit["span_id"], "finish")
    trace = client.srv.get_trace(trace_id)
    assert trace["span_count"] == 4
    assert span_of(trace, child["span_id"])["parent_span_id"] == otlp_root.span_id.hex()
    listed = client.traces(plugin_id=plugin)
    assert [t["trace_id"] for t in listed] == [trace_id]
    assert listed[0]["root_name"] == "otlp root"


# --------------------------------------------------------------------------
# bad requests
# --------------------------------------------------------------------------

M = "/api/v1/telemetry/metrics"
S = "/api/v1/telemetry/traces/spans"

BAD_METRICS = [
    ({"value": 1, "type": "gauge"}, "name is required"),
    ({"name": "", "value": 1, "type": "gauge"}, "name must not be empty"),
    ({"name": "has space", "value": 1, "type": "gauge"}, "is not a valid metric name"),
    ({"name": "m", "value": 1, "type": "timer"}, 'type must be counter, gauge or histogram, not "timer"'),
    ({"name": "m", "value": 1}, "type is required"),
    ({"name": "m", "type": "gauge"}, "value is required"),
    ({"name": "m", "value": "3", "type": "gauge"}, "value must be a number, not a string"),
    ({"name": "m", "value": None, "type": "gauge"}, "value is required"),
    ({"name": "m", "value": [1], "type": "gauge"}, "value must be a number, not an array"),
    ({"name": "m", "value": -1, "type": "counter"}, "value of a counter is an increment and must not be negative"),
    ({"name": "m", "value": 1, "type": "gauge", "tags": "a=b"}, "tags must be an object of string, number or boolean values, not a string"),
    ({"name": "m", "value": 1, "type": "gauge", "tags": {"a": {"b": 1}}}, "tags.a must be a string, number or boolean, not an object"),
    ({"name": "m", "value": 1, "type": "gauge", "tags": {"a": [1, 2]}}, "tags.a must be a string, number or boolean, not an array"),
    ({"name": "m", "value": 1, "type": "gauge", "tags": {"plugin_id": ""}}, "tags.plugin_id must be a non-empty string"),
    ({"name": "m", "value": 1, "type": "gauge", "timestamp": 1767000000000}, "timestamp must be unix seconds from 0 to"),
    ({"name": "m", "value": 1, "type": "gauge", "timestamp": "yesterday"}, "timestamp must be unix seconds (a number) or RFC 3339"),
    ({"metrics": []}, "metrics is empty"),
    ({"metrics": [{"name": "m", "value": 1, "type": "gauge"}, {"name": "m", "value": 1, "type": "bogus"}]},
     'metrics[1].type must be counter, gauge or histogram, not "bogus"'),
]


@pytest.mark.parametrize("body,message", BAD_METRICS, ids=[m for _, m in BAD_METRICS])
def test_bad_metrics_get_400_with_the_reason(client, body, message):
    r = client.post(M, body)
    assert r.status_code == 400, r.text
    error = error_of(r)
    assert error["code"] == "bad_request"
    assert message in error["message"], error


def test_a_refused_batch_keeps_nothing(client):
    name = f"plugin.{unique('plug')}.calls"
    r = client.post(M, {"metrics": [{"name": name, "value": 1, "type": "counter"}, {"name": name, "type": "counter"}]})
    assert r.status_code == 400
    assert client.metrics(name=name) == {}


def test_bad_bodies_and_content_types(client):
    ids = client.start("victim")
    cases = [
        # (path, raw body, headers, status, code, message part)
        (M, b'{"name": "m", "value": 1, "type": "gauge"}', {"Content-Type": "text/plain"}, 415, "unsupported_media_type",
         'Content-Type must be application/json, not "text/plain"'),
        (M, b'{"name": "m", "value": 1, "type": "gauge"}', {}, 415, "unsupported_media_type", "Content-Type must be application/json"),
        (S, b'{"name": "x"}', {"Content-Type": "application/x-protobuf"}, 415, "unsupported_media_type", "application/json"),
        (M, b'{"name": "m", "value": 1,', JSON_HEADERS, 400, "bad_request", "the body is not valid JSON"),
        (M, b"{'name': 'm'}", JSON_HEADERS, 400, "bad_request", "the body is not valid JSON"),
        (M, b'[{"name": "m"}]', JSON_HEADERS, 400, "bad_request", "the body must be a JSON object, not an array"),
        (M, b"", JSON_HEADERS, 400, "bad_request", "the request body is empty"),
        (M, b'{"name": "m", "value": NaN, "type": "gauge"}', JSON_HEADERS, 400, "bad_request", "not valid JSON"),
        (M, b'{"name": "m", "value": 1e999, "type": "gauge"}', JSON_HEADERS, 400, "bad_request", "value must be a finite number"),
        (S, b"{}", JSON_HEADERS, 400, "bad_request", "name is required"),
        (S, b'{"name": 3}', JSON_HEADERS, 400, "bad_request", "name must be a string, not a number"),
        (S, b'{"name": "x", "parent_trace_id": "abc"}', JSON_HEADERS, 400, "bad_request", "parent_trace_id must be 32 hex digits"),
        (S, b'{"name": "x", "parent_trace_id": "' + b"0" * 32 + b'"}', JSON_HEADERS, 400, "bad_request", "not all zero"),
        (S, b'{"name": "x", "parent_span_id": "0123456789abcdef"}', JSON_HEADERS, 400, "bad_request",
         "parent_span_id 0123456789abcdef is not a span this API knows; give its parent_trace_id too"),
        (S, b'{"name": "x", "tags": {"k": {"n": 1}}}', JSON_HEADERS, 400, "bad_request", "tags.k must be a string, number or boolean"),
        (f"{S}/xyz/tags", b'{"a": 1}', JSON_HEADERS, 400, "bad_request", 'span id must be 16 hex digits, not all zero: "xyz"'),
        (f"{S}/0000000000000000/finish", b"", {}, 400, "bad_request", "not all zero"),
        (f"{S}/00000000000000ab/tags", b'{"a": 1}', JSON_HEADERS, 404, "not_found", "no open span 00000000000000ab"),
        (f"{S}/00000000000000ab/logs", b'{"message": "m"}', JSON_HEADERS, 404, "not_found", "no open span"),
        (f"{S}/00000000000000ab/finish", b"", {}, 404, "not_found", "no open span"),
        (f"{S}/{ids['span_id']}/tags", b'{"tags": [1]}', JSON_HEADERS, 400, "bad_request", "tags must be an object"),
        (f"{S}/{ids['span_id']}/logs", b'{"level": "info"}', JSON_HEADERS, 400, "bad_request", "message is required"),
        (f"{S}/{ids['span_id']}/logs", b'{"message": "m", "level": 3}', JSON_HEADERS, 400, "bad_request", "level must be a string"),
        (f"{S}/{ids['span_id']}/finish", b'{"status": "fine"}', JSON_HEADERS, 400, "bad_request", 'status must be "ok" or "error", not "fine"'),
        (f"{S}/{ids['span_id']}/finish", b'{"status": "ok"}', {"Content-Type": "text/plain"}, 415, "unsupported_media_type", "application/json"),
    ]
    problems = []
    for path, raw, headers, status, code, part in cases:
        r = client.post(path, headers=headers, raw=raw)
        try:
            error = error_of(r)
            if r.status_code != status or error["code"] != code or part not in error["message"]:
                problems.append(f"POST {path} {raw[:60]!r} {headers}: {r.status_code} {error} (expected {status} {code} '{part}')")
        except AssertionError as e:
            problems.append(f"POST {path} {raw[:60]!r}: {e}")
    assert not problems, "\n".join(problems)
    # None of the refused requests touched the span.
    done = client.span(ids["span_id"], "finish", {"status": "ok"})
    assert done["log_count"] == 0


def test_finished_spans_cannot_be_changed_or_finished_again(client):
    ids = client.start("once")
    client.span(ids["span_id"], "finish", {"status": "ok"})
    for action, body in (("finish", {"status": "ok"}), ("finish", {"status": "error"}), ("tags", {"a": 1}), ("logs", {"message": "late"})):
        r = client.post(f"{S}/{ids['span_id']}/{action}", body)
        assert r.status_code == 409, (action, r.status_code, r.text)
        error = error_of(r)
        assert error["code"] == "conflict" and f"span {ids['span_id']} is already finished" in error["message"], error
    # The stored span is the first finish's.
    assert client.srv.get_trace(ids["trace_id"])["spans"][0]["status"]["code"] == 1


def test_bad_reads(client):
    for path, params, part in [
        (M, {"limit": "0"}, "limit must be an integer from 1 to 10000"),
        (M, {"since": "last week"}, "since must be RFC 3339"),
        ("/api/v1/telemetry/traces", {"limit": "5000"}, "limit must be an integer from 1 to 1000"),
        ("/api/v1/telemetry/traces", {"status": "broken"}, 'status must be "error" or "ok"'),
        ("/api/v1/telemetry/traces", {"cursor": "abc"}, "cursor is not supported here"),
    ]:
        r = client.srv.api_get(path, params=params)
        assert r.status_code == 400, (path, params, r.text)
        assert part in error_of(r)["message"], (path, params, r.text)


def test_request_bodies_are_bounded(client):
    body = b'{"name": "m", "value": 1, "type": "gauge", "tags": {"pad": "' + b"x" * (1 << 20) + b'"}}'
    r = post_raw(client.srv.api_port, M, body, JSON_HEADERS)
    assert r.status == 413, (r.status, r.body[:300])
    assert b"exceeds 1048576 bytes" in r.body


# --------------------------------------------------------------------------
# timeout, limits, restart, no store
# --------------------------------------------------------------------------


def test_unfinished_spans_time_out_with_status_error(start_server):
    srv = start_server(merge_config(STORE_CONFIG, {"telemetry": {"span_timeout_seconds": 1}}), name="telemetry-timeout")
    client = Client(srv)
    forgotten = client.start("forgotten", tags={"plugin_id": "p-timeout"})
    client.span(forgotten["span_id"], "logs", {"message": "started"})
    kept = client.start("kept alive")
    # Requests keep a span alive: 2.5 s of tags every 0.2 s, past the 1 s timeout.
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        client.span(kept["span_id"], "tags", {"beat": time.time()})
        time.sleep(0.2)

    def timed_out():
        r = srv.api_get(f"/api/v1/traces/{forgotten['trace_id']}")
        return r.status_code == 200 and r.json()["spans"][0]

    span = wait_until(timed_out, timeout=10, what="the forgotten span to be closed")
    assert span["status"]["code"] == 2
    assert "timed out" in span["status"]["message"] and "telemetry.span_timeout_seconds" in span["status"]["message"]
    assert [e["attributes"]["message"] for e in span["events"]] == ["started"]
    duration_s = (span["end_time_unix_nano"] - span["start_time_unix_nano"]) / SEC
    assert 1.0 <= duration_s < 6, duration_s
    r = client.post(f"{S}/{forgotten['span_id']}/finish", {"status": "ok"})
    assert r.status_code == 409 and "already finished" in error_of(r)["message"]
    assert [t["trace_id"] for t in client.traces(plugin_id="p-timeout")] == [forgotten["trace_id"]]

    done = client.span(kept["span_id"], "finish", {"status": "ok"})
    assert done["status"] == "ok"
    assert client.srv.get_trace(kept["trace_id"])["spans"][0]["status"]["code"] == 1
    assert "closed telemetry spans that timed out" in srv.stderr_text()


def test_open_spans_are_bounded(start_server):
    srv = start_server(merge_config(STORE_CONFIG, {"telemetry": {"max_open_spans": 2}}), name="telemetry-limit")
    client = Client(srv)
    first = client.start("a")
    client.start("b")
    r = client.post(S, {"name": "c"})
    assert r.status_code == 429, r.text
    assert r.headers.get("Retry-After") == "1"
    error = error_of(r)
    assert error["code"] == "too_many_requests" and "telemetry.max_open_spans" in error["message"]
    client.span(first["span_id"], "finish")
    client.start("c")


def test_data_survives_a_restart_and_open_spans_close_at_shutdown(start_server):
    # Long seal age: before the restart everything is read from unsealed data.
    srv = start_server(merge_config(STORE_CONFIG, {"segments": {"max_age_ms": 600000}}), name="telemetry-restart")
    client = Client(srv)
    plugin = unique("plug")
    name = f"plugin.{plugin}.latency"
    values = [5, 15, 25]
    client.metric(metrics=[{"name": name, "value": v, "type": "histogram", "timestamp": T0 + i, "tags": {"plugin_id": plugin}}
                           for i, v in enumerate(values)])
    finished = client.start("finished", tags={"plugin_id": plugin})
    client.span(finished["span_id"], "logs", {"message": "hello", "level": "debug"})
    client.span(finished["span_id"], "finish", {"status": "ok"})
    open_span = client.start("open at shutdown", tags={"plugin_id": plugin})
    client.span(open_span["span_id"], "tags", {"progress": 0.5})
    before_metrics = client.metrics(name=name)
    before_traces = client.traces(plugin_id=plugin)
    assert [t["trace_id"] for t in before_traces] == [finished["trace_id"]]
    before_trace = srv.get_trace(finished["trace_id"])

    mark = srv.log_mark()
    srv.restart()
    assert "closed open telemetry spans at shutdown" in srv.log_since(mark)

    after_metrics = client.metrics(name=name)
    assert after_metrics == before_metrics
    assert after_metrics[name]["aggregates"]["count"] == 3
    assert srv.get_trace(finished["trace_id"])["spans"] == before_trace["spans"]
    closed = srv.get_trace(open_span["trace_id"])["spans"][0]
    assert closed["status"] == {"code": 2, "message": "the server shut down before the span was finished"}
    assert closed["attributes"] == {"plugin_id": plugin, "progress": 0.5}
    listed = client.traces(plugin_id=plugin)
    assert [t["trace_id"] for t in listed] == [open_span["trace_id"], finished["trace_id"]]
    # The restarted server no longer knows the span: it is gone from memory, not open.
    r = client.post(f"{S}/{open_span['span_id']}/finish", {"status": "ok"})
    assert r.status_code == 404


def test_without_the_store_the_routes_answer_503(server):
    # The shared server runs the JSON-lines file sink.
    for method, path, body in [("post", M, {"name": "m", "value": 1, "type": "gauge"}), ("get", M, None),
                               ("post", S, {"name": "x"}), ("post", f"{S}/00000000000000ab/finish", {}),
                               ("get", "/api/v1/telemetry/traces", None)]:
        r = requests.request(method, f"{server.api_base}{path}", json=body, timeout=HTTP_TIMEOUT_S)
        assert r.status_code == 503, (method, path, r.status_code, r.text)
        error = error_of(r)
        assert error["code"] == "unavailable" and "this API needs sink.kind: store (it is file)" in error["message"]
