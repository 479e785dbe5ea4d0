"""OTLP payload builders and the field-by-field comparison of sink records
against the typed expected description used by the fixtures.

The expected shape (`*.expected.json`, or `request_to_expected(req)` for a
payload built on the fly) is produced by scripts/gen_fixtures.py; this module
imports it so both sides use one converter.
"""

from __future__ import annotations

import base64
import json
import math
import os
import sys
from pathlib import Path

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from harness import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "scripts"))
import gen_fixtures  # noqa: E402

FIXTURES = REPO_ROOT / "Tests" / "PyFlareWireTests" / "Fixtures"

request_to_expected = gen_fixtures.request_to_expected
request_to_otlp_json = gen_fixtures.request_to_otlp_json
ExportTraceServiceRequest = trace_service_pb2.ExportTraceServiceRequest
ExportTraceServiceResponse = trace_service_pb2.ExportTraceServiceResponse
Span = trace_pb2.Span


def fixture_bytes(name: str) -> bytes:
    path = FIXTURES / name
    if not path.is_file():
        raise AssertionError(
            f"missing fixture {path}; regenerate with `e2e/.venv/bin/python scripts/gen_fixtures.py`"
        )
    return path.read_bytes()


def fixture_expected(name: str) -> list[dict]:
    return json.loads(fixture_bytes(name))["spans"]


# --------------------------------------------------------------------------
# builders
# --------------------------------------------------------------------------


def new_ids() -> tuple[bytes, bytes]:
    """A random (trace_id, span_id) that is neither empty nor all zero."""
    while True:
        t, s = os.urandom(16), os.urandom(8)
        if any(t) and any(s):
            return t, s


def kv(key: str, value) -> common_pb2.KeyValue:
    av = common_pb2.AnyValue()
    if isinstance(value, bool):
        av.bool_value = value
    elif isinstance(value, int):
        av.int_value = value
    elif isinstance(value, float):
        av.double_value = value
    elif isinstance(value, bytes):
        av.bytes_value = value
    else:
        av.string_value = str(value)
    return common_pb2.KeyValue(key=key, value=av)


def make_span(trace_id: bytes | None = None, span_id: bytes | None = None, name: str = "e2e span",
              parent: bytes = b"", kind: int = Span.SPAN_KIND_INTERNAL, start: int = 1_760_000_000_000_000_000,
              duration: int = 1_000_000, attributes: dict | None = None) -> trace_pb2.Span:
    t, s = new_ids()
    span = Span(
        trace_id=t if trace_id is None else trace_id,
        span_id=s if span_id is None else span_id,
        parent_span_id=parent,
        name=name,
        kind=kind,
        start_time_unix_nano=start,
        end_time_unix_nano=start + duration,
        flags=0x101,
    )
    for k, v in (attributes or {}).items():
        span.attributes.append(kv(k, v))
    return span


def make_request(spans, service: str = "pyflare-e2e", scope: str = "pyflare.e2e",
                 resource_attributes: dict | None = None) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.append(kv("service.name", service))
    for k, v in (resource_attributes or {}).items():
        rs.resource.attributes.append(kv(k, v))
    ss = rs.scope_spans.add()
    ss.scope.name = scope
    ss.scope.version = "0.0.1"
    ss.spans.extend(spans)
    return req


def keys_of(req: ExportTraceServiceRequest) -> set[tuple[str, str]]:
    return {(sp.trace_id.hex(), sp.span_id.hex())
            for rs in req.resource_spans for ss in rs.scope_spans for sp in ss.spans}


def to_json_bytes(req: ExportTraceServiceRequest) -> bytes:
    return json.dumps(request_to_otlp_json(req)).encode()


# --------------------------------------------------------------------------
# typed expected value -> sink plain JSON
# --------------------------------------------------------------------------


def typed_to_plain(v: dict):
    """Convert a typed fixture value ({"int": "5"}, ...) into the sink's plain-JSON form."""
    (kind, x), = v.items()
    if kind == "string" or kind == "bool":
        return x
    if kind == "int":
        return int(x)
    if kind == "double":
        if x == "-0.0":
            return -0.0
        return x  # finite number, or the strings "NaN"/"Infinity"/"-Infinity"
    if kind == "bytes":
        return {"bytes": base64.b64encode(bytes.fromhex(x)).decode()}
    if kind == "array":
        return [typed_to_plain(e) for e in x]
    if kind == "kvlist":
        return {k: typed_to_plain(e) for k, e in x}
    if kind == "empty":
        return None
    raise ValueError(f"unknown typed value {v!r}")


def check_value(actual, expected: dict, path: str, errors: list[str]) -> None:
    """Compare a sink plain-JSON value against a typed expected value, strictly by type."""
    (kind, x), = expected.items()

    def bad(why):
        errors.append(f"{path}: {why}; expected {kind} {x!r}, got {actual!r}")

    if kind == "string":
        if not isinstance(actual, str) or actual != x:
            bad("string mismatch")
    elif kind == "bool":
        if not isinstance(actual, bool) or actual != x:
            bad("bool mismatch")
    elif kind == "int":
        if type(actual) is not int or actual != int(x):
            bad("int mismatch (must be an exact JSON integer)")
    elif kind == "double":
        if isinstance(x, str) and x in ("NaN", "Infinity", "-Infinity"):
            if actual != x:
                bad("non-finite double must be the string")
        elif type(actual) is not float:
            # the server writes doubles with a '.' or an exponent ("1.0", "1e+300"), so a
            # double that comes back as a JSON integer (or anything else) changed type
            bad("double must be a JSON number with a fraction or exponent (parsed as float)")
        elif x == "-0.0":
            if actual != 0 or math.copysign(1.0, float(actual)) > 0:
                bad("double -0.0 lost its sign")
        elif float(actual) != float(x):
            bad("double mismatch")
    elif kind == "bytes":
        want = {"bytes": base64.b64encode(bytes.fromhex(x)).decode()}
        if actual != want:
            bad(f"bytes must be {want}")
    elif kind == "array":
        if not isinstance(actual, list) or len(actual) != len(x):
            bad("array mismatch (type or length)")
            return
        for idx, (a, e) in enumerate(zip(actual, x)):
            check_value(a, e, f"{path}[{idx}]", errors)
    elif kind == "kvlist":
        check_attr_map(actual, x, path, errors)
    elif kind == "empty":
        if actual is not None:
            bad("empty AnyValue must be null")
    else:
        errors.append(f"{path}: unknown expected kind {kind!r}")


def check_attr_map(actual, pairs: list, path: str, errors: list[str]) -> None:
    """`actual` is a JSON object; `pairs` the expected [[key, typed], ...] list.
    For a key that appears more than once in `pairs`, any of its values is accepted
    (the sink's map cannot keep duplicates; which one wins is not specified)."""
    if not isinstance(actual, dict):
        errors.append(f"{path}: expected a JSON object, got {type(actual).__name__}: {actual!r}")
        return
    by_key: dict[str, list] = {}
    for k, v in pairs:
        by_key.setdefault(k, []).append(v)
    missing = [k for k in by_key if k not in actual]
    extra = [k for k in actual if k not in by_key]
    if missing:
        errors.append(f"{path}: missing keys {missing}")
    if extra:
        errors.append(f"{path}: unexpected keys {extra}")
    for k, candidates in by_key.items():
        if k not in actual:
            continue
        if len(candidates) == 1:
            check_value(actual[k], candidates[0], f"{path}[{k!r}]", errors)
        else:
            trials = []
            for c in candidates:
                errs: list[str] = []
                check_value(actual[k], c, f"{path}[{k!r}]", errs)
                trials.append(errs)
            if all(trials):
                errors.append(f"{path}[{k!r}]: duplicate key, value {actual[k]!r} matches none of {candidates}")


def check_span(rec: dict, exp: dict, check_pyflare_basics: bool = True) -> list[str]:
    """All differences between one sink record and one expected span (typed shape)."""
    errors: list[str] = []
    where = f"span {exp['trace_id']}/{exp['span_id']} {exp['name']!r}"

    def eq(path, actual, expected, strict_int=False):
        if strict_int and (type(actual) is not int):
            errors.append(f"{where}: {path}: expected integer {expected!r}, got {actual!r}")
        elif actual != expected:
            errors.append(f"{where}: {path}: expected {expected!r}, got {actual!r}")

    def sub(path, errs):
        errors.extend(f"{where}: {e}" for e in errs)

    for f in ("trace_id", "span_id", "parent_span_id", "trace_state", "name"):
        eq(f, rec.get(f), exp[f])
    for f in ("flags", "kind", "start_time_unix_nano", "end_time_unix_nano",
              "dropped_attributes_count", "dropped_events_count", "dropped_links_count"):
        eq(f, rec.get(f), exp[f], strict_int=True)
    if exp["end_time_unix_nano"] >= exp["start_time_unix_nano"]:
        eq("duration_ns", rec.get("duration_ns"), exp["end_time_unix_nano"] - exp["start_time_unix_nano"],
           strict_int=True)
    elif "duration_ns" not in rec:
        errors.append(f"{where}: duration_ns missing")

    errs: list[str] = []
    check_attr_map(rec.get("attributes"), exp["attributes"], "attributes", errs)
    sub("attributes", errs)

    events = rec.get("events")
    if not isinstance(events, list) or len(events) != len(exp["events"]):
        errors.append(f"{where}: events: expected {len(exp['events'])}, got {events!r}")
    else:
        for idx, (a, e) in enumerate(zip(events, exp["events"])):
            eq(f"events[{idx}].time_unix_nano", a.get("time_unix_nano"), e["time_unix_nano"], strict_int=True)
            eq(f"events[{idx}].name", a.get("name"), e["name"])
            eq(f"events[{idx}].dropped_attributes_count", a.get("dropped_attributes_count"),
               e["dropped_attributes_count"], strict_int=True)
            errs = []
            check_attr_map(a.get("attributes"), e["attributes"], f"events[{idx}].attributes", errs)
            sub("", errs)

    links = rec.get("links")
    if not isinstance(links, list) or len(links) != len(exp["links"]):
        errors.append(f"{where}: links: expected {len(exp['links'])}, got {links!r}")
    else:
        for idx, (a, e) in enumerate(zip(links, exp["links"])):
            for f in ("trace_id", "span_id", "trace_state"):
                eq(f"links[{idx}].{f}", a.get(f), e[f])
            for f in ("flags", "dropped_attributes_count"):
                eq(f"links[{idx}].{f}", a.get(f), e[f], strict_int=True)
            errs = []
            check_attr_map(a.get("attributes"), e["attributes"], f"links[{idx}].attributes", errs)
            sub("", errs)

    status = rec.get("status")
    if not isinstance(status, dict):
        errors.append(f"{where}: status: expected an object, got {status!r}")
    else:
        eq("status.code", status.get("code"), exp["status_code"], strict_int=True)
        eq("status.message", status.get("message"), exp["status_message"])

    res = rec.get("resource")
    if not isinstance(res, dict):
        errors.append(f"{where}: resource: expected an object, got {res!r}")
    else:
        errs = []
        check_attr_map(res.get("attributes"), exp["resource_attributes"], "resource.attributes", errs)
        sub("", errs)
        eq("resource.dropped_attributes_count", res.get("dropped_attributes_count"),
           exp["resource_dropped_attributes_count"], strict_int=True)
        eq("resource.schema_url", res.get("schema_url"), exp["resource_schema_url"])

    scope = rec.get("scope")
    if not isinstance(scope, dict):
        errors.append(f"{where}: scope: expected an object, got {scope!r}")
    else:
        eq("scope.name", scope.get("name"), exp["scope_name"])
        eq("scope.version", scope.get("version"), exp["scope_version"])
        errs = []
        check_attr_map(scope.get("attributes"), exp["scope_attributes"], "scope.attributes", errs)
        sub("", errs)
        eq("scope.dropped_attributes_count", scope.get("dropped_attributes_count"),
           exp["scope_dropped_attributes_count"], strict_int=True)
        eq("scope.schema_url", scope.get("schema_url"), exp["scope_schema_url"])

    pf = rec.get("pyflare")
    if not isinstance(pf, dict):
        errors.append(f"{where}: pyflare: expected an object, got {pf!r}")
    elif check_pyflare_basics:
        res_attrs = {}
        for k, v in exp["resource_attributes"]:
            res_attrs.setdefault(k, typed_to_plain(v))
        if "service.name" in res_attrs:
            eq("pyflare.service", pf.get("service"), res_attrs["service.name"])
        env = res_attrs.get("deployment.environment.name", res_attrs.get("deployment.environment"))
        eq("pyflare.environment", pf.get("environment"), env)
    return errors


def assert_spans_match(found: dict, expected_spans: list[dict], check_pyflare_basics: bool = True) -> None:
    """`found` is SinkReader.wait_for_spans() output; every expected span must
    appear exactly once and match field by field."""
    errors: list[str] = []
    for exp in expected_spans:
        key = (exp["trace_id"], exp["span_id"])
        recs = found.get(key, [])
        if len(recs) != 1:
            errors.append(f"span {key}: expected exactly 1 new sink record, got {len(recs)}")
            if not recs:
                continue
        errors.extend(check_span(recs[0], exp, check_pyflare_basics))
    if errors:
        shown = "\n  ".join(errors[:60])
        more = f"\n  ... and {len(errors) - 60} more" if len(errors) > 60 else ""
        raise AssertionError(f"{len(errors)} mismatch(es) between the file sink and the expected spans:\n  {shown}{more}")


def expected_keys(expected_spans: list[dict]) -> set[tuple[str, str]]:
    return {(e["trace_id"], e["span_id"]) for e in expected_spans}
