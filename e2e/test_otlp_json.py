"""OTLP/HTTP JSON: raw posts of full.json (hex ids, lowerCamelCase, int enums,
64-bit ints as strings), compared field by field with the file sink."""

from __future__ import annotations

import json

import pytest

from harness import JSON
from otlp_helpers import (
    assert_spans_match,
    expected_keys,
    fixture_bytes,
    fixture_expected,
    make_request,
    make_span,
    request_to_expected,
    request_to_otlp_json,
)


def assert_json_success(resp):
    assert resp.status_code == 200, f"HTTP {resp.status_code}: {resp.content[:500]!r}"
    ctype = resp.headers.get("Content-Type", "")
    assert ctype.split(";")[0].strip() == JSON, f"Content-Type {ctype!r}"
    body = resp.json()
    assert isinstance(body, dict), body
    ps = body.get("partialSuccess")
    if ps is not None:
        assert int(ps.get("rejectedSpans", 0)) == 0, body
    return body


@pytest.mark.parametrize(
    "content_type,encoding",
    [
        (JSON, None),
        (JSON, "gzip"),
        (JSON, "deflate"),
        ("application/json; charset=utf-8", None),
        ("application/json; charset=UTF-8", "gzip"),
    ],
    ids=["plain", "gzip", "deflate", "charset", "charset-gzip"],
)
def test_full_json_fixture(server, content_type, encoding):
    body = fixture_bytes("full.json")
    expected = fixture_expected("full.expected.json")
    since = server.sink.snapshot()
    assert_json_success(server.post_traces(body, content_type, encoding))
    found = server.sink.wait_for_spans(expected_keys(expected), since)
    assert_spans_match(found, expected)


def test_empty_json_request(server):
    assert json.loads(fixture_bytes("empty.json")) == {}
    assert_json_success(server.post_traces(fixture_bytes("empty.json"), JSON))
    assert_json_success(server.post_traces(b'{"resourceSpans":[]}', JSON, "gzip"))


def _one_span_doc(name):
    req = make_request([make_span(name=name, attributes={"n": 5, "d": 1.5, "s": "x", "b": True})])
    return req, request_to_otlp_json(req)


def test_json_unknown_fields_are_ignored(server):
    """OTLP/JSON receivers must ignore fields with unknown names."""
    req, doc = _one_span_doc("json unknown fields")
    doc["futureTopLevel"] = {"x": [1, 2, {"y": None}]}
    rs = doc["resourceSpans"][0]
    rs["futureResourceField"] = "ignored"
    span = rs["scopeSpans"][0]["spans"][0]
    span["futureSpanField"] = {"nested": True}
    span["attributes"][0]["value"]["futureValueField"] = 1
    since = server.sink.snapshot()
    assert_json_success(server.post_traces(json.dumps(doc).encode(), JSON))
    expected = request_to_expected(req)["spans"]
    assert_spans_match(server.sink.wait_for_spans(expected_keys(expected), since), expected)


def test_json_numbers_accepted_for_64bit_fields(server):
    """The proto3 JSON mapping requires parsers to accept 64-bit integers both as
    strings and as numbers; kind/code enums are integers in OTLP/JSON."""
    req, doc = _one_span_doc("json numeric int64")
    span = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["startTimeUnixNano"] = int(span["startTimeUnixNano"])
    span["endTimeUnixNano"] = int(span["endTimeUnixNano"])
    for attr in span["attributes"]:
        if "intValue" in attr["value"]:
            attr["value"]["intValue"] = int(attr["value"]["intValue"])
    since = server.sink.snapshot()
    assert_json_success(server.post_traces(json.dumps(doc).encode(), JSON))
    expected = request_to_expected(req)["spans"]
    assert_spans_match(server.sink.wait_for_spans(expected_keys(expected), since), expected)
