#!/usr/bin/env python3
"""Generate the OTLP wire fixtures used by the Swift wire tests and the e2e tests.

Run with the e2e venv (see scripts/setup-venv.sh):

    e2e/.venv/bin/python scripts/gen_fixtures.py [--out DIR] [--check]

Writes into Tests/PyFlareWireTests/Fixtures/ (or --out):

  full.pb / full.json / full.expected.json
      An ExportTraceServiceRequest that exercises every field of the OTLP trace
      model (as protobuf, as OTLP/JSON, and as a flat per-span description).
  genai.pb / genai.expected.json
      A realistic GenAI payload (two traces, chat spans with gen_ai.* attributes,
      an error span with an `exception` event).
  empty.pb / empty.json
      An empty ExportTraceServiceRequest (zero bytes / `{}`).
  logs.pb / logs.json / logs.expected.json
      An ExportLogsServiceRequest that exercises every field of the OTLP log
      model: every severity band, bodies of every AnyValue kind (nested
      arrays and key/value lists included), event_name, trace/span ids
      (as hex in JSON), flags, and records without ids or without a body.
  metrics.pb / metrics.json / metrics.expected.json
      An ExportMetricsServiceRequest that exercises every field of the OTLP
      metrics model: gauge, sum (delta and cumulative, monotonic or not),
      histogram, exponential histogram (negative buckets, negative offsets),
      summary (quantiles), exemplars with trace/span ids, metric metadata,
      NaN and infinities (written as "NaN"/"Infinity"/"-Infinity" in JSON),
      and a point flagged NO_RECORDED_VALUE. Its expected file lists one
      flat entry per data point.

Everything is deterministic: fixed ids, fixed times, so re-running the script
produces byte-identical files (`--check` verifies that without writing).

The module is also imported by the e2e tests (e2e/otlp_helpers.py) for
`request_to_expected` and `request_to_otlp_json`, so that the expected shape is
computed by exactly one piece of code.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import sys
from pathlib import Path
from typing import Iterable, Sequence

from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2
from google.protobuf import json_format

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "Tests" / "PyFlareWireTests" / "Fixtures"

Span = trace_pb2.Span
Status = trace_pb2.Status

# --------------------------------------------------------------------------
# AnyValue / KeyValue builders
# --------------------------------------------------------------------------

ABSENT = object()  # KeyValue whose `value` field is not present at all


def s(v: str) -> common_pb2.AnyValue:
    return common_pb2.AnyValue(string_value=v)


def b(v: bool) -> common_pb2.AnyValue:
    return common_pb2.AnyValue(bool_value=v)


def i(v: int) -> common_pb2.AnyValue:
    return common_pb2.AnyValue(int_value=v)


def d(v: float) -> common_pb2.AnyValue:
    return common_pb2.AnyValue(double_value=v)


def by(v: bytes) -> common_pb2.AnyValue:
    return common_pb2.AnyValue(bytes_value=v)


def arr(*values: common_pb2.AnyValue) -> common_pb2.AnyValue:
    av = common_pb2.AnyValue()
    av.array_value.SetInParent()  # an empty array is still an array
    av.array_value.values.extend(values)
    return av


def kvl(*pairs) -> common_pb2.AnyValue:
    av = common_pb2.AnyValue()
    av.kvlist_value.SetInParent()  # an empty kvlist is still a kvlist
    av.kvlist_value.values.extend(kvs(*pairs))
    return av


def empty() -> common_pb2.AnyValue:
    """An AnyValue with no value set (serialized as a zero-length message)."""
    return common_pb2.AnyValue()


def kvs(*pairs) -> list[common_pb2.KeyValue]:
    out = []
    for key, value in pairs:
        kv = common_pb2.KeyValue(key=key)
        if value is ABSENT:
            pass
        else:
            kv.value.CopyFrom(value)
            kv.value.SetInParent()  # keep an empty AnyValue present on the wire
        out.append(kv)
    return out


def h(hexstr: str) -> bytes:
    return bytes.fromhex(hexstr)


# --------------------------------------------------------------------------
# Expected-shape conversion (shared with the e2e tests)
# --------------------------------------------------------------------------


def double_to_typed(v: float):
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    if v == 0.0 and math.copysign(1.0, v) < 0:
        return "-0.0"
    return v


def any_to_typed(av: common_pb2.AnyValue) -> dict:
    which = av.WhichOneof("value")
    if which is None:
        return {"empty": True}
    if which == "string_value":
        return {"string": av.string_value}
    if which == "bool_value":
        return {"bool": av.bool_value}
    if which == "int_value":
        return {"int": str(av.int_value)}
    if which == "double_value":
        return {"double": double_to_typed(av.double_value)}
    if which == "bytes_value":
        return {"bytes": av.bytes_value.hex()}
    if which == "array_value":
        return {"array": [any_to_typed(x) for x in av.array_value.values]}
    if which == "kvlist_value":
        return {"kvlist": kvs_to_pairs(av.kvlist_value.values)}
    raise ValueError(f"unsupported AnyValue kind {which!r}")


def kvs_to_pairs(kv_list: Iterable[common_pb2.KeyValue]) -> list:
    return [
        [kv.key, any_to_typed(kv.value) if kv.HasField("value") else {"empty": True}]
        for kv in kv_list
    ]


def _resource_scope_expected(resource_index: int, rs, ss) -> dict:
    """The resource and scope part of a flat expected record (shared by the three signals)."""
    res = rs.resource
    scope = ss.scope
    return {
        "resource_index": resource_index,
        "resource_attributes": kvs_to_pairs(res.attributes),
        "resource_dropped_attributes_count": res.dropped_attributes_count,
        "resource_schema_url": rs.schema_url,
        "scope_name": scope.name,
        "scope_version": scope.version,
        "scope_attributes": kvs_to_pairs(scope.attributes),
        "scope_dropped_attributes_count": scope.dropped_attributes_count,
        "scope_schema_url": ss.schema_url,
    }


def span_to_expected(resource_index: int, rs, ss, span) -> dict:
    out = _resource_scope_expected(resource_index, rs, ss)
    out.update({
        "trace_id": span.trace_id.hex(),
        "span_id": span.span_id.hex(),
        "parent_span_id": span.parent_span_id.hex(),
        "trace_state": span.trace_state,
        "flags": span.flags,
        "name": span.name,
        "kind": int(span.kind),
        "start_time_unix_nano": span.start_time_unix_nano,
        "end_time_unix_nano": span.end_time_unix_nano,
        "attributes": kvs_to_pairs(span.attributes),
        "dropped_attributes_count": span.dropped_attributes_count,
        "events": [
            {
                "time_unix_nano": ev.time_unix_nano,
                "name": ev.name,
                "attributes": kvs_to_pairs(ev.attributes),
                "dropped_attributes_count": ev.dropped_attributes_count,
            }
            for ev in span.events
        ],
        "dropped_events_count": span.dropped_events_count,
        "links": [
            {
                "trace_id": ln.trace_id.hex(),
                "span_id": ln.span_id.hex(),
                "trace_state": ln.trace_state,
                "flags": ln.flags,
                "attributes": kvs_to_pairs(ln.attributes),
                "dropped_attributes_count": ln.dropped_attributes_count,
            }
            for ln in span.links
        ],
        "dropped_links_count": span.dropped_links_count,
        "status_code": int(span.status.code),
        "status_message": span.status.message,
    })
    return out


def _walk(resources, scopes_field: str, records_field: str):
    """(resource index, resource message, scope message, record) for each record of a request."""
    for ri, rx in enumerate(resources):
        for sx in getattr(rx, scopes_field):
            for record in getattr(sx, records_field):
                yield ri, rx, sx, record


def request_to_expected(req: trace_service_pb2.ExportTraceServiceRequest) -> dict:
    return {"spans": [span_to_expected(*where) for where in _walk(req.resource_spans, "scope_spans", "spans")]}


def _b64_to_hex(v: str) -> str:
    return base64.b64decode(v).hex()


def request_to_otlp_json(req: trace_service_pb2.ExportTraceServiceRequest) -> dict:
    """OTLP/JSON per the OTLP/HTTP spec: lowerCamelCase names, integer enums,
    64-bit integers as decimal strings, AnyValue bytes as base64, but trace and
    span ids (spans and links) as lowercase hex."""
    doc = json_format.MessageToDict(req, use_integers_for_enums=True)
    for rs in doc.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = _b64_to_hex(span[key])
                for link in span.get("links", []):
                    for key in ("traceId", "spanId"):
                        if key in link:
                            link[key] = _b64_to_hex(link[key])
    return doc


def log_to_expected(resource_index: int, rs, sl, record) -> dict:
    out = _resource_scope_expected(resource_index, rs, sl)
    out.update(
        {
            "time_unix_nano": record.time_unix_nano,
            "observed_time_unix_nano": record.observed_time_unix_nano,
            "severity_number": int(record.severity_number),
            "severity_text": record.severity_text,
            "body": any_to_typed(record.body) if record.HasField("body") else {"empty": True},
            "attributes": kvs_to_pairs(record.attributes),
            "dropped_attributes_count": record.dropped_attributes_count,
            "flags": record.flags,
            "trace_id": record.trace_id.hex(),
            "span_id": record.span_id.hex(),
            "event_name": record.event_name,
        }
    )
    return out


def logs_request_to_expected(req: logs_service_pb2.ExportLogsServiceRequest) -> dict:
    return {"log_records": [log_to_expected(*where) for where in _walk(req.resource_logs, "scope_logs", "log_records")]}


METRIC_TYPES = {"gauge": 1, "sum": 2, "histogram": 3, "exponential_histogram": 4, "summary": 5}


def number_to_typed(message) -> dict:
    """The `value` oneof of a NumberDataPoint or an Exemplar, typed like an AnyValue."""
    which = message.WhichOneof("value")
    if which == "as_double":
        return {"double": double_to_typed(message.as_double)}
    if which == "as_int":
        return {"int": str(message.as_int)}
    return {"empty": True}


def optional_double(message, field: str):
    return double_to_typed(getattr(message, field)) if message.HasField(field) else None


def exemplar_to_expected(ex) -> dict:
    return {
        "time_unix_nano": ex.time_unix_nano,
        "value": number_to_typed(ex),
        "trace_id": ex.trace_id.hex(),
        "span_id": ex.span_id.hex(),
        "filtered_attributes": kvs_to_pairs(ex.filtered_attributes),
    }


def point_to_expected(resource_index: int, rs, sm, metric, point) -> dict:
    kind = metric.WhichOneof("data")
    data = getattr(metric, kind)
    out = _resource_scope_expected(resource_index, rs, sm)
    out.update(
        {
            "metric_name": metric.name,
            "metric_description": metric.description,
            "metric_unit": metric.unit,
            "metric_type": METRIC_TYPES[kind],
            "metric_metadata": kvs_to_pairs(metric.metadata),
            "aggregation_temporality": int(getattr(data, "aggregation_temporality", 0)),
            "is_monotonic": bool(getattr(data, "is_monotonic", False)),
            "start_time_unix_nano": point.start_time_unix_nano,
            "time_unix_nano": point.time_unix_nano,
            "attributes": kvs_to_pairs(point.attributes),
            "flags": point.flags,
            "value": {"empty": True},
            "count": 0,
            "sum": None,
            "min": None,
            "max": None,
            "bucket_counts": [],
            "explicit_bounds": [],
            "scale": 0,
            "zero_count": 0,
            "zero_threshold": 0.0,
            "positive_offset": 0,
            "positive_bucket_counts": [],
            "negative_offset": 0,
            "negative_bucket_counts": [],
            "quantiles": [],
            "exemplars": [exemplar_to_expected(ex) for ex in getattr(point, "exemplars", [])],
        }
    )
    if kind in ("gauge", "sum"):
        out["value"] = number_to_typed(point)
    else:
        out["count"] = point.count
        out["sum"] = double_to_typed(point.sum) if kind == "summary" else optional_double(point, "sum")
    if kind in ("histogram", "exponential_histogram"):
        out["min"] = optional_double(point, "min")
        out["max"] = optional_double(point, "max")
    if kind == "histogram":
        out["bucket_counts"] = list(point.bucket_counts)
        out["explicit_bounds"] = [double_to_typed(v) for v in point.explicit_bounds]
    if kind == "exponential_histogram":
        out["scale"] = point.scale
        out["zero_count"] = point.zero_count
        out["zero_threshold"] = double_to_typed(point.zero_threshold)
        out["positive_offset"] = point.positive.offset
        out["positive_bucket_counts"] = list(point.positive.bucket_counts)
        out["negative_offset"] = point.negative.offset
        out["negative_bucket_counts"] = list(point.negative.bucket_counts)
    if kind == "summary":
        out["quantiles"] = [[double_to_typed(q.quantile), double_to_typed(q.value)] for q in point.quantile_values]
    return out


def metrics_request_to_expected(req: metrics_service_pb2.ExportMetricsServiceRequest) -> dict:
    points = []
    for ri, rm, sm, metric in _walk(req.resource_metrics, "scope_metrics", "metrics"):
        kind = metric.WhichOneof("data")
        if kind is not None:  # no data: no points
            points.extend(point_to_expected(ri, rm, sm, metric, point) for point in getattr(metric, kind).data_points)
    return {"points": points}


def _ids_b64_to_hex(obj: dict, keys=("traceId", "spanId")) -> None:
    for key in keys:
        if key in obj:
            obj[key] = _b64_to_hex(obj[key])


def logs_request_to_otlp_json(req: logs_service_pb2.ExportLogsServiceRequest) -> dict:
    """OTLP/JSON of a logs request (see `request_to_otlp_json`): ids as lowercase hex."""
    doc = json_format.MessageToDict(req, use_integers_for_enums=True)
    for rl in doc.get("resourceLogs", []):
        for sl in rl.get("scopeLogs", []):
            for record in sl.get("logRecords", []):
                _ids_b64_to_hex(record)
    return doc


def metrics_request_to_otlp_json(req: metrics_service_pb2.ExportMetricsServiceRequest) -> dict:
    """OTLP/JSON of a metrics request (see `request_to_otlp_json`): exemplar ids as lowercase hex;
    NaN and infinities are the strings "NaN", "Infinity", "-Infinity", as protobuf writes them."""
    doc = json_format.MessageToDict(req, use_integers_for_enums=True)
    for rm in doc.get("resourceMetrics", []):
        for sm in rm.get("scopeMetrics", []):
            for metric in sm.get("metrics", []):
                for kind in ("gauge", "sum", "histogram", "exponentialHistogram", "summary"):
                    for point in metric.get(kind, {}).get("dataPoints", []):
                        for ex in point.get("exemplars", []):
                            _ids_b64_to_hex(ex)
    return doc


def _hex_ids_to_b64(doc, keys=("traceId", "spanId")):
    """Inverse of the hex conversion, anywhere in `doc`, so json_format can parse it back."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key in keys and isinstance(value, str):
                doc[key] = base64.b64encode(bytes.fromhex(value)).decode()
            else:
                _hex_ids_to_b64(value, keys)
    elif isinstance(doc, list):
        for value in doc:
            _hex_ids_to_b64(value, keys)
    return doc


def dumps_expected(doc: dict) -> str:
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


def dumps_otlp_json(doc: dict) -> str:
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------
# full: every field of the trace model
# --------------------------------------------------------------------------

T0 = 1_700_000_000_000_000_000  # 2023-11-14T22:13:20Z in ns
MS = 1_000_000
HUGE_END = 7_258_118_400_000_000_000  # the latest time PyFlare stores (2200-01-01): later ones are refused

TRACE_A = "5b8efff798038103d269b633813fc60c"
TRACE_B = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACE_C = "0af7651916cd43dd8448eb211c80319c"
TRACE_D = "ffffffffffffffffffffffffffffff01"


def every_kind_attributes() -> list[common_pb2.KeyValue]:
    return kvs(
        ("str", s("hello")),
        ("str.empty", s("")),
        ("str.utf8", s("résumé ✓ 日本 🚀")),
        ("bool.true", b(True)),
        ("bool.false", b(False)),
        ("int.zero", i(0)),
        ("int.neg", i(-42)),
        ("int.2p62", i(2**62)),
        ("int.min", i(-(2**63))),
        ("int.max", i(2**63 - 1)),
        ("double", d(3.25)),
        ("double.negzero", d(-0.0)),
        ("double.big", d(1e300)),
        ("double.tiny", d(5e-324)),
        ("double.nan", d(float("nan"))),
        ("double.inf", d(float("inf"))),
        ("double.neginf", d(float("-inf"))),
        ("bytes", by(b"\x00\x01\xff")),
        ("bytes.empty", by(b"")),
        (
            "array.mixed",
            arr(
                s("a"),
                i(1),
                d(2.5),
                b(True),
                by(b"\xde\xad"),
                arr(s("nested"), i(-1), arr()),
                kvl(("in.array", s("yes"))),
                empty(),
            ),
        ),
        ("array.empty", arr()),
        (
            "kvlist",
            kvl(
                ("k.str", s("v")),
                ("k.int", i(7)),
                ("k.nested", kvl(("deep", b(False)), ("deeper", kvl(("x", d(0.5)))))),
                ("k.array", arr(s("x"), s("y"))),
                ("k.empty", empty()),
            ),
        ),
        ("kvlist.empty", kvl()),
        ("empty.value", empty()),
        ("absent.value", ABSENT),
        ("ключ.ünïcode", s("значение")),
        ("", s("empty key")),
    )


def build_full() -> trace_service_pb2.ExportTraceServiceRequest:
    req = trace_service_pb2.ExportTraceServiceRequest()

    # ---- resource 0: two scopes ------------------------------------------
    rs0 = req.resource_spans.add()
    rs0.schema_url = "https://opentelemetry.io/schemas/1.26.0"
    rs0.resource.attributes.extend(
        kvs(
            ("service.name", s("checkout")),
            ("service.version", s("1.4.2")),
            ("deployment.environment.name", s("production")),
            ("host.name", s("web-01")),
            ("process.pid", i(4242)),
        )
    )
    rs0.resource.dropped_attributes_count = 3

    ss_alpha = rs0.scope_spans.add()
    ss_alpha.schema_url = "https://opentelemetry.io/schemas/1.24.0"
    ss_alpha.scope.name = "pyflare.fixture.alpha"
    ss_alpha.scope.version = "1.2.3"
    ss_alpha.scope.attributes.extend(kvs(("scope.attr", s("x")), ("scope.int", i(7))))
    ss_alpha.scope.dropped_attributes_count = 1

    # root span: every attribute kind, events, links, error status
    root = ss_alpha.spans.add()
    root.trace_id = h(TRACE_A)
    root.span_id = h("eee19b7ec3c1b174")
    root.trace_state = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
    root.flags = 0x301
    root.name = "résumé ✓ 日本"
    root.kind = Span.SPAN_KIND_SERVER
    root.start_time_unix_nano = T0
    root.end_time_unix_nano = T0 + 1500 * MS
    root.attributes.extend(every_kind_attributes())
    root.dropped_attributes_count = 2
    ev = root.events.add()
    ev.time_unix_nano = T0 + 10 * MS
    ev.name = "cache.miss"
    ev.attributes.extend(kvs(("cache.key", s("user:42")), ("attempt", i(2)), ("hit", b(False))))
    ev.dropped_attributes_count = 1
    ev = root.events.add()
    ev.time_unix_nano = T0 + 20 * MS
    ev.name = "exception"
    ev.attributes.extend(
        kvs(
            ("exception.type", s("ValueError")),
            ("exception.message", s("bad value: ü")),
            ("exception.stacktrace", s('Traceback (most recent call last):\n  File "x.py", line 1\nValueError')),
        )
    )
    root.events.add()  # an event with nothing set (time 0, no name)
    root.dropped_events_count = 5
    ln = root.links.add()
    ln.trace_id = h(TRACE_B)
    ln.span_id = h("00f067aa0ba902b7")
    ln.trace_state = "rojo=00f067aa0ba902b7"
    ln.attributes.extend(kvs(("link.reason", s("retry-of")), ("link.n", i(1)), ("link.list", arr(i(1), i(2)))))
    ln.dropped_attributes_count = 2
    ln.flags = 0x301
    ln = root.links.add()
    ln.trace_id = h(TRACE_C)
    ln.span_id = h("b7ad6b7169203331")
    ln.flags = 0x100
    root.dropped_links_count = 4
    root.status.code = Status.STATUS_CODE_ERROR
    root.status.message = "boom: ünïcode ✗"

    # child: INTERNAL, OK status, parent present
    child = ss_alpha.spans.add()
    child.trace_id = h(TRACE_A)
    child.span_id = h("53995c3f42cd8ad8")
    child.parent_span_id = h("eee19b7ec3c1b174")
    child.flags = 0x101
    child.name = "db.query SELECT"
    child.kind = Span.SPAN_KIND_INTERNAL
    child.start_time_unix_nano = T0 + 100 * MS
    child.end_time_unix_nano = T0 + 350 * MS
    child.attributes.extend(
        kvs(
            ("db.system.name", s("postgresql")),
            ("db.query.text", s("SELECT * FROM t WHERE id = $1")),
            ("db.response.returned_rows", i(17)),
            ("dup.key", s("first")),
            ("dup.key", s("second")),
        )
    )
    child.status.code = Status.STATUS_CODE_OK

    # UNSPECIFIED kind, huge end time (2^63+5), no status at all
    huge = ss_alpha.spans.add()
    huge.trace_id = h(TRACE_A)
    huge.span_id = h("1111111111111111")
    huge.parent_span_id = h("53995c3f42cd8ad8")
    huge.flags = 0x101
    huge.name = "unsigned fixed64 end"
    huge.kind = Span.SPAN_KIND_UNSPECIFIED
    huge.start_time_unix_nano = T0 + 400 * MS
    huge.end_time_unix_nano = HUGE_END

    ss_beta = rs0.scope_spans.add()
    ss_beta.scope.name = "pyflare.fixture.beta"  # name only, no version/attributes
    client = ss_beta.spans.add()
    client.trace_id = h(TRACE_D)
    client.span_id = h("2222222222222222")
    client.parent_span_id = h("3333333333333333")
    client.trace_state = "vendor=x"
    client.flags = 0x301
    client.name = "HTTP GET"
    client.kind = Span.SPAN_KIND_CLIENT
    client.start_time_unix_nano = T0 + 1 * MS
    client.end_time_unix_nano = T0 + 2 * MS
    client.attributes.extend(kvs(("http.request.method", s("GET")), ("server.port", i(443))))
    client.status.code = Status.STATUS_CODE_UNSET
    client.status.message = "unset but with a message"

    # ---- resource 1: two scopes, one without a scope message --------------
    rs1 = req.resource_spans.add()
    rs1.resource.attributes.extend(kvs(("service.name", s("billing")), ("deployment.environment", s("staging"))))

    ss_gamma = rs1.scope_spans.add()
    ss_gamma.schema_url = "https://opentelemetry.io/schemas/1.21.0"
    ss_gamma.scope.name = "pyflare.fixture.gamma"
    ss_gamma.scope.version = "0.0.1"
    producer = ss_gamma.spans.add()
    producer.trace_id = h(TRACE_B)
    producer.span_id = h("00f067aa0ba902b7")
    producer.flags = 0x100
    producer.name = "orders publish"
    producer.kind = Span.SPAN_KIND_PRODUCER
    producer.start_time_unix_nano = T0 + 5 * MS
    producer.end_time_unix_nano = T0 + 6 * MS
    producer.attributes.extend(kvs(("messaging.system", s("kafka")), ("messaging.batch.message_count", i(3))))
    producer.status.code = Status.STATUS_CODE_OK
    producer.status.message = "published"
    consumer = ss_gamma.spans.add()
    consumer.trace_id = h(TRACE_B)
    consumer.span_id = h("4444444444444444")
    consumer.parent_span_id = h("00f067aa0ba902b7")
    consumer.flags = 0x01
    consumer.name = "orders process"
    consumer.kind = Span.SPAN_KIND_CONSUMER
    consumer.start_time_unix_nano = T0 + 7 * MS
    consumer.end_time_unix_nano = T0 + 9 * MS
    ln = consumer.links.add()
    ln.trace_id = h(TRACE_B)
    ln.span_id = h("00f067aa0ba902b7")
    ln.flags = 0x01
    consumer.status.code = Status.STATUS_CODE_ERROR
    consumer.status.message = ""

    ss_noscope = rs1.scope_spans.add()  # no `scope` field at all
    minimal = ss_noscope.spans.add()  # only ids: every other field default
    minimal.trace_id = h(TRACE_C)
    minimal.span_id = h("5555555555555555")

    return req


# --------------------------------------------------------------------------
# genai: realistic LLM traffic
# --------------------------------------------------------------------------

G0 = 1_735_000_000_000_000_000
GENAI_TRACE_OK = "7a3c1f0e9b2d4c6a8e0f1a2b3c4d5e6f"
GENAI_TRACE_ERR = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"


def build_genai() -> trace_service_pb2.ExportTraceServiceRequest:
    req = trace_service_pb2.ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.schema_url = "https://opentelemetry.io/schemas/1.37.0"
    rs.resource.attributes.extend(
        kvs(
            ("service.name", s("support-bot")),
            ("service.version", s("2.3.1")),
            ("deployment.environment.name", s("production")),
            ("telemetry.sdk.language", s("python")),
            ("telemetry.sdk.name", s("opentelemetry")),
            ("telemetry.sdk.version", s("1.45.2")),
        )
    )

    web = rs.scope_spans.add()
    web.scope.name = "opentelemetry.instrumentation.fastapi"
    web.scope.version = "0.59b0"
    llm = rs.scope_spans.add()
    llm.scope.name = "opentelemetry.instrumentation.openai_v2"
    llm.scope.version = "2.1b0"

    common_ctx = kvs(("user.id", s("user-42")), ("session.id", s("sess-7f3a")), ("app.feature", s("support-chat")))

    # ---- trace 1: successful chat -----------------------------------------
    root = web.spans.add()
    root.trace_id = h(GENAI_TRACE_OK)
    root.span_id = h("a1a1a1a1a1a1a1a1")
    root.flags = 0x101
    root.name = "POST /v1/chat"
    root.kind = Span.SPAN_KIND_SERVER
    root.start_time_unix_nano = G0
    root.end_time_unix_nano = G0 + 2300 * MS
    root.attributes.extend(
        kvs(
            ("http.request.method", s("POST")),
            ("http.route", s("/v1/chat")),
            ("url.scheme", s("https")),
            ("http.response.status_code", i(200)),
        )
        + common_ctx
    )

    chat = llm.spans.add()
    chat.trace_id = h(GENAI_TRACE_OK)
    chat.span_id = h("b2b2b2b2b2b2b2b2")
    chat.parent_span_id = h("a1a1a1a1a1a1a1a1")
    chat.flags = 0x101
    chat.name = "chat gpt-4o"
    chat.kind = Span.SPAN_KIND_CLIENT
    chat.start_time_unix_nano = G0 + 50 * MS
    chat.end_time_unix_nano = G0 + 2250 * MS
    chat.attributes.extend(
        kvs(
            ("gen_ai.operation.name", s("chat")),
            ("gen_ai.provider.name", s("openai")),
            ("gen_ai.request.model", s("gpt-4o")),
            ("gen_ai.request.temperature", d(0.2)),
            ("gen_ai.request.max_tokens", i(1024)),
            ("gen_ai.request.stream", b(False)),
            ("gen_ai.response.model", s("gpt-4o-2024-08-06")),
            ("gen_ai.response.id", s("chatcmpl-AbC123xyz")),
            ("gen_ai.response.finish_reasons", arr(s("stop"))),
            ("gen_ai.usage.input_tokens", i(1000)),
            ("gen_ai.usage.output_tokens", i(500)),
            ("server.address", s("api.openai.com")),
            ("server.port", i(443)),
        )
        + common_ctx
    )
    ev = chat.events.add()
    ev.time_unix_nano = G0 + 60 * MS
    ev.name = "gen_ai.client.inference.operation.details"
    ev.attributes.extend(
        kvs(
            ("gen_ai.input.messages", s('[{"role":"user","parts":[{"type":"text","content":"Where is my order?"}]}]')),
            ("gen_ai.output.messages", s('[{"role":"assistant","parts":[{"type":"text","content":"It ships today."}]}]')),
        )
    )

    # ---- trace 2: failing request, error span with exception, cached retry --
    root2 = web.spans.add()
    root2.trace_id = h(GENAI_TRACE_ERR)
    root2.span_id = h("c3c3c3c3c3c3c3c3")
    root2.flags = 0x101
    root2.name = "POST /v1/summarize"
    root2.kind = Span.SPAN_KIND_SERVER
    root2.start_time_unix_nano = G0 + 10_000 * MS
    root2.end_time_unix_nano = G0 + 14_000 * MS
    root2.attributes.extend(
        kvs(
            ("http.request.method", s("POST")),
            ("http.route", s("/v1/summarize")),
            ("http.response.status_code", i(502)),
            ("error.type", s("502")),
        )
        + common_ctx
    )
    root2.status.code = Status.STATUS_CODE_ERROR
    root2.status.message = "upstream LLM failure"

    err = llm.spans.add()
    err.trace_id = h(GENAI_TRACE_ERR)
    err.span_id = h("d4d4d4d4d4d4d4d4")
    err.parent_span_id = h("c3c3c3c3c3c3c3c3")
    err.flags = 0x101
    err.name = "chat gpt-4o"
    err.kind = Span.SPAN_KIND_CLIENT
    err.start_time_unix_nano = G0 + 10_050 * MS
    err.end_time_unix_nano = G0 + 10_900 * MS
    err.attributes.extend(
        kvs(
            ("gen_ai.operation.name", s("chat")),
            ("gen_ai.system", s("openai")),  # legacy attribute: provider falls back to it
            ("gen_ai.request.model", s("gpt-4o")),
            ("error.type", s("openai.RateLimitError")),
        )
        + common_ctx
    )
    ev = err.events.add()
    ev.time_unix_nano = G0 + 10_899 * MS
    ev.name = "exception"
    ev.attributes.extend(
        kvs(
            ("exception.type", s("openai.RateLimitError")),
            ("exception.message", s("Error code: 429 - Rate limit reached for gpt-4o")),
            (
                "exception.stacktrace",
                s(
                    "Traceback (most recent call last):\n"
                    '  File "app/llm.py", line 88, in summarize\n'
                    "    resp = client.chat.completions.create(**req)\n"
                    "openai.RateLimitError: Error code: 429"
                ),
            ),
        )
    )
    err.status.code = Status.STATUS_CODE_ERROR
    err.status.message = "Error code: 429 - Rate limit reached for gpt-4o"

    retry = llm.spans.add()
    retry.trace_id = h(GENAI_TRACE_ERR)
    retry.span_id = h("e5e5e5e5e5e5e5e5")
    retry.parent_span_id = h("c3c3c3c3c3c3c3c3")
    retry.flags = 0x101
    retry.name = "chat gpt-4o"
    retry.kind = Span.SPAN_KIND_CLIENT
    retry.start_time_unix_nano = G0 + 11_000 * MS
    retry.end_time_unix_nano = G0 + 13_900 * MS
    retry.attributes.extend(
        kvs(
            ("gen_ai.operation.name", s("chat")),
            ("gen_ai.provider.name", s("openai")),
            ("gen_ai.request.model", s("gpt-4o")),
            ("gen_ai.response.model", s("gpt-4o-2024-08-06")),
            ("gen_ai.response.finish_reasons", arr(s("length"))),
            ("gen_ai.usage.input_tokens", i(2000)),
            ("gen_ai.usage.cache_read.input_tokens", i(1000)),
            ("gen_ai.usage.output_tokens", i(100)),
        )
        + common_ctx
    )
    ln = retry.links.add()
    ln.trace_id = h(GENAI_TRACE_ERR)
    ln.span_id = h("d4d4d4d4d4d4d4d4")
    ln.flags = 0x101
    ln.attributes.extend(kvs(("link.reason", s("retry-of"))))

    return req


# --------------------------------------------------------------------------
# logs: every field of the log model
# --------------------------------------------------------------------------

L0 = 1_710_000_000_000_000_000


def set_resource(container, schema_url: str, attributes, dropped: int) -> None:
    """Fills the resource of a ResourceLogs/ResourceMetrics and its schema_url."""
    container.schema_url = schema_url
    container.resource.attributes.extend(attributes)
    container.resource.dropped_attributes_count = dropped


def set_scope(container, schema_url: str, name: str, version: str, attributes, dropped: int) -> None:
    """Fills the scope of a ScopeLogs/ScopeMetrics and its schema_url."""
    container.schema_url = schema_url
    container.scope.name = name
    container.scope.version = version
    container.scope.attributes.extend(attributes)
    container.scope.dropped_attributes_count = dropped


def build_logs() -> logs_service_pb2.ExportLogsServiceRequest:
    req = logs_service_pb2.ExportLogsServiceRequest()

    # ---- resource 0: two scopes --------------------------------------------
    rl0 = req.resource_logs.add()
    set_resource(rl0, "https://opentelemetry.io/schemas/1.26.0", kvs(("service.name", s("checkout")), ("host.name", s("web-01"))), 2)
    sl_app = rl0.scope_logs.add()
    set_scope(sl_app, "https://opentelemetry.io/schemas/1.24.0", "pyflare.fixture.logger", "2.0.1",
              kvs(("scope.attr", s("x")), ("scope.list", arr(i(1), s("two")))), 1)

    # every scalar field, a string body, ids
    rec = sl_app.log_records.add()
    rec.time_unix_nano = L0
    rec.observed_time_unix_nano = L0 + 5 * MS
    rec.severity_number = logs_pb2.SEVERITY_NUMBER_INFO
    rec.severity_text = "INFO"
    rec.body.string_value = "user résumé ✓ saved 日本 🚀"
    rec.attributes.extend(every_kind_attributes())
    rec.dropped_attributes_count = 3
    rec.flags = 0x01
    rec.trace_id = h(TRACE_A)
    rec.span_id = h("eee19b7ec3c1b174")

    # an event: event_name, a nested kvlist body, trace id without span id
    rec = sl_app.log_records.add()
    rec.time_unix_nano = L0 + 1 * MS
    rec.observed_time_unix_nano = L0 + 6 * MS
    rec.severity_number = logs_pb2.SEVERITY_NUMBER_ERROR4
    rec.severity_text = "ERROR4"
    rec.event_name = "app.checkout.failed"
    rec.body.CopyFrom(
        kvl(
            ("message", s("payment declined")),
            ("code", i(402)),
            ("retry", b(False)),
            ("ratio", d(0.75)),
            ("details", kvl(("gateway", s("stripe")), ("attempts", arr(i(1), i(2), i(3))), ("deep", kvl(("x", kvl()))))),
            ("tags", arr(s("a"), arr(), kvl(("k", s("v"))))),
            ("nothing", empty()),
        )
    )
    rec.attributes.extend(kvs(("exception.type", s("PaymentError")), ("dup", s("first")), ("dup", s("second"))))
    rec.flags = 0x00
    rec.trace_id = h(TRACE_B)

    # an array body holding every kind; span id without trace id
    rec = sl_app.log_records.add()
    rec.time_unix_nano = L0 + 2 * MS
    rec.severity_number = logs_pb2.SEVERITY_NUMBER_DEBUG
    rec.severity_text = "debug"
    rec.body.CopyFrom(
        arr(
            s("text"),
            s(""),
            b(True),
            i(-(2**63)),
            i(2**63 - 1),
            d(float("nan")),
            d(float("-inf")),
            d(-0.0),
            by(b"\x00\xff"),
            arr(i(1), arr(s("deeper"))),
            kvl(("in.array", b(True))),
            empty(),
        )
    )
    rec.span_id = h("53995c3f42cd8ad8")

    # scalar bodies of each kind, and each severity band
    bodies = [
        (logs_pb2.SEVERITY_NUMBER_TRACE, "TRACE", i(42)),
        (logs_pb2.SEVERITY_NUMBER_TRACE4, "", d(3.25)),
        (logs_pb2.SEVERITY_NUMBER_INFO2, "", d(float("inf"))),
        (logs_pb2.SEVERITY_NUMBER_WARN, "WARN", b(False)),
        (logs_pb2.SEVERITY_NUMBER_WARN3, "", by(b"\x01\x02\x03")),
        (logs_pb2.SEVERITY_NUMBER_FATAL, "FATAL", s("")),
        (logs_pb2.SEVERITY_NUMBER_FATAL4, "", arr()),
        (logs_pb2.SEVERITY_NUMBER_DEBUG3, "", kvl()),
        (logs_pb2.SEVERITY_NUMBER_ERROR, "", empty()),  # a body present but with no value
    ]
    for n, (severity, text, body) in enumerate(bodies):
        rec = sl_app.log_records.add()
        rec.time_unix_nano = L0 + (10 + n) * MS
        rec.observed_time_unix_nano = L0 + (20 + n) * MS
        rec.severity_number = severity
        rec.severity_text = text
        rec.body.CopyFrom(body)
        rec.body.SetInParent()
        rec.attributes.extend(kvs(("n", i(n))))

    sl_bare = rl0.scope_logs.add()  # no `scope` field at all
    rec = sl_bare.log_records.add()  # nothing set at all: no body, no ids, no times
    rec = sl_bare.log_records.add()
    rec.observed_time_unix_nano = L0 + 99 * MS  # observed only, as bridges of old log APIs send
    rec.severity_text = "Information"  # text without a number
    rec.body.string_value = "line\nbreak \"quoted\" \\ tab\t"

    # ---- resource 1: no resource message, unsigned fixed64 times --------------
    rl1 = req.resource_logs.add()
    sl = rl1.scope_logs.add()
    sl.scope.name = "pyflare.fixture.other"
    rec = sl.log_records.add()
    rec.time_unix_nano = HUGE_END
    rec.observed_time_unix_nano = HUGE_END - 1
    rec.severity_number = logs_pb2.SEVERITY_NUMBER_WARN4
    rec.flags = 0xFFFFFFFF
    rec.trace_id = h(TRACE_D)
    rec.span_id = h("ffffffffffffffff")
    rec.event_name = "événement"
    rec.body.string_value = "last"

    return req


# --------------------------------------------------------------------------
# metrics: every field of the metrics model, all five types
# --------------------------------------------------------------------------

M0 = 1_720_000_000_000_000_000
DELTA = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
CUMULATIVE = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE


def exemplar(time: int, value, trace: str = "", span: str = "", attrs=()) -> metrics_pb2.Exemplar:
    ex = metrics_pb2.Exemplar(time_unix_nano=time)
    if isinstance(value, int):
        ex.as_int = value
    elif value is not None:
        ex.as_double = value
    if trace:
        ex.trace_id = h(trace)
    if span:
        ex.span_id = h(span)
    ex.filtered_attributes.extend(kvs(*attrs))
    return ex


def add_metric(scope_metrics, name: str, description: str = "", unit: str = "", metadata=(), **data) -> metrics_pb2.Metric:
    """Adds a Metric; `data` is its one data field (gauge=…, sum=…, histogram=…, …) as a message."""
    return scope_metrics.metrics.add(name=name, description=description, unit=unit, metadata=kvs(*metadata), **data)


def build_metrics() -> metrics_service_pb2.ExportMetricsServiceRequest:
    req = metrics_service_pb2.ExportMetricsServiceRequest()
    NumberPoint = metrics_pb2.NumberDataPoint
    HistogramPoint = metrics_pb2.HistogramDataPoint
    ExponentialPoint = metrics_pb2.ExponentialHistogramDataPoint
    Buckets = ExponentialPoint.Buckets
    SummaryPoint = metrics_pb2.SummaryDataPoint
    NO_VALUE = metrics_pb2.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK

    # ---- resource 0: one scope with every metric type -------------------------
    rm0 = req.resource_metrics.add()
    set_resource(rm0, "https://opentelemetry.io/schemas/1.26.0", kvs(("service.name", s("support-bot")), ("service.instance.id", s("i-1"))), 1)
    sm = rm0.scope_metrics.add()
    set_scope(sm, "https://opentelemetry.io/schemas/1.24.0", "pyflare.fixture.meter", "1.0.0", kvs(("meter.attr", b(True))), 4)

    # gauge: double, int, NaN, a NO_RECORDED_VALUE point, exemplars with and without ids
    add_metric(
        sm, "system.cpu.utilization", "CPU use, 0 to 1 ✓", "1",
        metadata=[("prometheus.type", s("gauge")), ("meta.nested", kvl(("a", arr(i(1)))))],
        gauge=metrics_pb2.Gauge(data_points=[
            NumberPoint(start_time_unix_nano=M0, time_unix_nano=M0 + 1000 * MS, as_double=0.25,
                        attributes=kvs(("cpu", i(0)), ("state", s("user"))),
                        exemplars=[exemplar(M0 + 500 * MS, 0.3, TRACE_A, "eee19b7ec3c1b174", [("sampled", b(True)), ("list", arr(s("x")))]),
                                   exemplar(M0 + 600 * MS, -5),
                                   exemplar(M0 + 700 * MS, None, span="53995c3f42cd8ad8")]),  # no value, span id only
            NumberPoint(time_unix_nano=M0 + 2000 * MS, as_int=-7),
            NumberPoint(time_unix_nano=M0 + 3000 * MS, as_double=float("nan"), attributes=kvs(("cpu", i(1)))),
            NumberPoint(time_unix_nano=M0 + 4000 * MS, flags=NO_VALUE),  # deliberately no value
        ]),
    )

    # sum: cumulative, monotonic, int64 extremes
    add_metric(
        sm, "http.server.request.count", unit="{request}",
        sum=metrics_pb2.Sum(aggregation_temporality=CUMULATIVE, is_monotonic=True, data_points=[
            NumberPoint(start_time_unix_nano=M0, time_unix_nano=M0 + 60_000 * MS, as_int=2**63 - 1,
                        attributes=kvs(("http.route", s("/v1/chat")), ("http.response.status_code", i(200))),
                        exemplars=[exemplar(M0 + 30_000 * MS, 1, TRACE_B, "00f067aa0ba902b7")]),
            NumberPoint(start_time_unix_nano=M0, time_unix_nano=M0 + 60_000 * MS, as_int=-(2**63),
                        attributes=kvs(("http.route", s("/v1/summarize")))),
        ]),
    )

    # sum: delta, not monotonic, doubles with infinities and -0.0
    add_metric(
        sm, "queue.depth.change", "net change",
        sum=metrics_pb2.Sum(aggregation_temporality=DELTA, is_monotonic=False, data_points=[
            NumberPoint(start_time_unix_nano=M0 + n * 1000 * MS, time_unix_nano=M0 + (n + 1) * 1000 * MS, as_double=value)
            for n, value in enumerate([float("-inf"), float("inf"), -0.0, 1e300])
        ]),
    )

    # histogram: delta, full point, a point without sum/min/max, an empty one
    add_metric(
        sm, "http.server.request.duration", unit="s",
        histogram=metrics_pb2.Histogram(aggregation_temporality=DELTA, data_points=[
            HistogramPoint(start_time_unix_nano=M0, time_unix_nano=M0 + 10_000 * MS, count=10, sum=12.5,
                           bucket_counts=[1, 2, 3, 4, 0], explicit_bounds=[0.005, 0.5, 1.0, 2.5], min=0.001, max=4.75,
                           attributes=kvs(("http.route", s("/v1/chat"))),
                           exemplars=[exemplar(M0 + 5_000 * MS, 0.42, TRACE_C, "b7ad6b7169203331", [("user", s("u-1"))])]),
            HistogramPoint(start_time_unix_nano=M0 + 10_000 * MS, time_unix_nano=M0 + 20_000 * MS, count=2**64 - 1,
                           bucket_counts=[2**64 - 1, 0], explicit_bounds=[float("-inf")]),
            HistogramPoint(time_unix_nano=M0 + 30_000 * MS, flags=NO_VALUE),
        ]),
    )

    # histogram: cumulative
    add_metric(
        sm, "gen_ai.client.operation.duration", unit="s",
        histogram=metrics_pb2.Histogram(aggregation_temporality=CUMULATIVE, data_points=[
            HistogramPoint(start_time_unix_nano=M0, time_unix_nano=M0 + 60_000 * MS, count=3, sum=0.0, min=-0.0, max=float("nan"),
                           bucket_counts=[3], attributes=kvs(("gen_ai.request.model", s("gpt-4o")))),
        ]),
    )

    # exponential histogram: negative buckets, negative offset and scale, big counts
    add_metric(
        sm, "gen_ai.client.token.usage", "tokens", "{token}",
        exponential_histogram=metrics_pb2.ExponentialHistogram(aggregation_temporality=CUMULATIVE, data_points=[
            ExponentialPoint(start_time_unix_nano=M0, time_unix_nano=M0 + 60_000 * MS, count=17, sum=-123.5, scale=-3,
                             zero_count=2, zero_threshold=1e-9, min=-1000.0, max=2048.0,
                             positive=Buckets(offset=-2, bucket_counts=[1, 0, 5, 300]),
                             negative=Buckets(offset=7, bucket_counts=[4, 2**63 + 1]),
                             attributes=kvs(("gen_ai.token.type", s("input"))),
                             exemplars=[exemplar(M0 + 1_000 * MS, 512, TRACE_D, "2222222222222222")]),
            ExponentialPoint(time_unix_nano=M0 + 120_000 * MS, scale=20, zero_count=1, count=1),  # only a scale and zero buckets
        ]),
    )

    # exponential histogram: delta, positive buckets only, offset 0, no sum, negative present but empty
    add_metric(
        sm, "rpc.payload.size",
        exponential_histogram=metrics_pb2.ExponentialHistogram(aggregation_temporality=DELTA, data_points=[
            ExponentialPoint(time_unix_nano=M0 + 5_000 * MS, count=3, scale=0, positive=Buckets(bucket_counts=[1, 2]), negative=Buckets()),
        ]),
    )

    # summary: quantiles, infinities, a point without quantiles
    quantiles = [SummaryPoint.ValueAtQuantile(quantile=q, value=v) for q, v in [(0.0, 1.5), (0.5, 20.0), (0.99, float("inf")), (1.0, 300.25)]]
    add_metric(
        sm, "rpc.server.latency", unit="ms", metadata=[("prometheus.type", s("summary"))],
        summary=metrics_pb2.Summary(data_points=[
            SummaryPoint(start_time_unix_nano=M0, time_unix_nano=M0 + 60_000 * MS, count=100, sum=2500.5,
                         attributes=kvs(("rpc.method", s("Export"))), quantile_values=quantiles),
            SummaryPoint(time_unix_nano=M0 + 120_000 * MS, flags=NO_VALUE),
        ]),
    )

    # ---- resource 1: no resource message, a scope without a scope message -----
    sm1 = req.resource_metrics.add().scope_metrics.add()
    add_metric(
        sm1, "ünïcode.gauge",
        gauge=metrics_pb2.Gauge(data_points=[
            NumberPoint(start_time_unix_nano=HUGE_END - 1, time_unix_nano=HUGE_END, as_double=5e-324, attributes=every_kind_attributes()),
        ]),
    )

    return req


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------


def render_all() -> dict[str, bytes]:
    full = build_full()
    genai = build_genai()
    empty_req = trace_service_pb2.ExportTraceServiceRequest()
    logs = build_logs()
    metrics = build_metrics()
    files = {
        "full.pb": full.SerializeToString(deterministic=True),
        "full.json": dumps_otlp_json(request_to_otlp_json(full)).encode(),
        "full.expected.json": dumps_expected(request_to_expected(full)).encode(),
        "genai.pb": genai.SerializeToString(deterministic=True),
        "genai.expected.json": dumps_expected(request_to_expected(genai)).encode(),
        "empty.pb": empty_req.SerializeToString(deterministic=True),
        "empty.json": b"{}\n",
        "logs.pb": logs.SerializeToString(deterministic=True),
        "logs.json": dumps_otlp_json(logs_request_to_otlp_json(logs)).encode(),
        "logs.expected.json": dumps_expected(logs_request_to_expected(logs)).encode(),
        "metrics.pb": metrics.SerializeToString(deterministic=True),
        "metrics.json": dumps_otlp_json(metrics_request_to_otlp_json(metrics)).encode(),
        "metrics.expected.json": dumps_expected(metrics_request_to_expected(metrics)).encode(),
    }
    _self_check(files)
    return files


def _self_check(files: dict[str, bytes]) -> None:
    """Round-trip sanity checks, so a broken generator never writes fixtures."""
    req = trace_service_pb2.ExportTraceServiceRequest
    full = req.FromString(files["full.pb"])
    assert full == build_full()
    # full.json must decode (after turning hex ids back into base64) to the same message
    doc = json.loads(files["full.json"])
    for rs in doc.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
                for link in span.get("links", []):
                    for key in ("traceId", "spanId"):
                        if key in link:
                            link[key] = base64.b64encode(bytes.fromhex(link[key])).decode()
    parsed = json_format.ParseDict(doc, req())
    # NaN != NaN, so compare serialized bytes rather than messages
    assert parsed.SerializeToString(deterministic=True) == files["full.pb"], "full.json does not round-trip"
    expected = json.loads(files["full.expected.json"])
    kinds = {sp["kind"] for sp in expected["spans"]}
    assert kinds == {0, 1, 2, 3, 4, 5}, kinds
    assert {sp["status_code"] for sp in expected["spans"]} == {0, 1, 2}
    assert len(files["empty.pb"]) == 0
    _check_round_trip(files, "logs", logs_service_pb2.ExportLogsServiceRequest, build_logs())
    _check_round_trip(files, "metrics", metrics_service_pb2.ExportMetricsServiceRequest, build_metrics())
    records = json.loads(files["logs.expected.json"])["log_records"]
    assert {r["body"] and next(iter(r["body"])) for r in records} == {
        "string", "int", "double", "bool", "bytes", "array", "kvlist", "empty"
    }
    assert any(r["event_name"] for r in records)
    points = json.loads(files["metrics.expected.json"])["points"]
    assert {p["metric_type"] for p in points} == {1, 2, 3, 4, 5}
    assert {p["aggregation_temporality"] for p in points} == {0, 1, 2}
    assert any(p["negative_bucket_counts"] for p in points)
    assert any(ex["trace_id"] and ex["span_id"] for p in points for ex in p["exemplars"])
    metrics_json = files["metrics.json"].decode()
    assert '"NaN"' in metrics_json and '"Infinity"' in metrics_json and '"-Infinity"' in metrics_json


def _check_round_trip(files: dict[str, bytes], name: str, message_type, built) -> None:
    """`name`.pb must parse back to `built`, and `name`.json (ids turned back into base64)
    must parse to the same bytes."""
    parsed_pb = message_type.FromString(files[f"{name}.pb"])
    assert parsed_pb.SerializeToString(deterministic=True) == built.SerializeToString(deterministic=True)
    doc = _hex_ids_to_b64(json.loads(files[f"{name}.json"]))
    parsed = json_format.ParseDict(doc, message_type())
    assert parsed.SerializeToString(deterministic=True) == files[f"{name}.pb"], f"{name}.json does not round-trip"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory (default: %(default)s)")
    ap.add_argument("--check", action="store_true", help="only verify the files on disk are up to date")
    args = ap.parse_args(argv)

    files = render_all()
    if args.check:
        stale = [n for n, data in files.items() if not (args.out / n).is_file() or (args.out / n).read_bytes() != data]
        if stale:
            print("stale fixtures: " + ", ".join(stale), file=sys.stderr)
            return 1
        print(f"{len(files)} fixtures up to date in {args.out}")
        return 0

    args.out.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (args.out / name).write_bytes(data)
        print(f"wrote {args.out / name} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
