"""Raw OTLP/HTTP protobuf posts of the wire fixtures, compared field by field
with the file sink."""

from __future__ import annotations

import pytest
from google.protobuf.internal import encoder

from harness import PROTOBUF
from otlp_helpers import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
    assert_spans_match,
    expected_keys,
    fixture_bytes,
    fixture_expected,
    make_request,
    make_span,
    request_to_expected,
)


def assert_pb_success(resp):
    assert resp.status_code == 200, f"HTTP {resp.status_code}: {resp.content[:500]!r}"
    ctype = resp.headers.get("Content-Type", "")
    assert ctype.split(";")[0].strip() == PROTOBUF, f"Content-Type {ctype!r}"
    msg = ExportTraceServiceResponse.FromString(resp.content)
    assert msg.partial_success.rejected_spans == 0, msg
    return msg


@pytest.mark.parametrize("encoding", [None, "identity", "gzip", "deflate"])
def test_full_fixture(server, encoding):
    body = fixture_bytes("full.pb")
    expected = fixture_expected("full.expected.json")
    since = server.sink.snapshot()
    assert_pb_success(server.post_traces(body, PROTOBUF, encoding))
    found = server.sink.wait_for_spans(expected_keys(expected), since)
    assert_spans_match(found, expected)


def test_genai_fixture_normalization(server):
    expected = fixture_expected("genai.expected.json")
    since = server.sink.snapshot()
    assert_pb_success(server.post_traces(fixture_bytes("genai.pb"), PROTOBUF, "gzip"))
    found = server.sink.wait_for_spans(expected_keys(expected), since)
    assert_spans_match(found, expected)

    def pf(trace, span):
        return found[(trace, span)][0]["pyflare"]

    ok, err = "7a3c1f0e9b2d4c6a8e0f1a2b3c4d5e6f", "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
    chat = pf(ok, "b2b2b2b2b2b2b2b2")
    want = {
        "service": "support-bot", "environment": "production", "model": "gpt-4o",
        "response_model": "gpt-4o-2024-08-06", "provider": "openai", "operation": "chat",
        "input_tokens": 1000, "output_tokens": 500, "total_tokens": 1500,
        "cost_micros": 7500, "cost_source": "pricing", "price_model": "gpt-4o",
        "user": "user-42", "session": "sess-7f3a", "feature": "support-chat",
    }
    assert {k: chat.get(k) for k in want} == want, chat

    # error span: provider falls back to gen_ai.system; no usage -> tokens and cost unknown (null, not 0)
    failed = pf(err, "d4d4d4d4d4d4d4d4")
    assert failed["provider"] == "openai", failed
    assert failed["model"] == "gpt-4o", failed
    assert failed["input_tokens"] is None and failed["output_tokens"] is None, failed
    assert failed["cost_micros"] is None, failed
    exc = found[(err, "d4d4d4d4d4d4d4d4")][0]
    assert exc["status"]["code"] == 2
    assert exc["events"][0]["name"] == "exception"
    assert exc["events"][0]["attributes"]["exception.type"] == "openai.RateLimitError"

    # cached retry: input includes the 1000 cached reads, which are priced at the cache-read rate:
    # (2000 - 1000) * 2.50 + 1000 * 1.25 + 100 * 10.00 = 2500 + 1250 + 1000
    retry = pf(err, "e5e5e5e5e5e5e5e5")
    assert retry["input_tokens"] == 2000, retry
    assert retry["cache_read_tokens"] == 1000, retry
    assert retry["output_tokens"] == 100, retry
    assert retry["total_tokens"] == 2100, retry
    assert retry["cost_micros"] == 4750, retry

    root = pf(ok, "a1a1a1a1a1a1a1a1")
    assert root["model"] is None and root["cost_micros"] is None, root
    assert root["user"] == "user-42" and root["feature"] == "support-chat", root


def test_empty_request(server):
    assert fixture_bytes("empty.pb") == b""
    assert_pb_success(server.post_traces(b"", PROTOBUF))
    assert_pb_success(server.post_traces(b"", PROTOBUF, "gzip"))


def test_unknown_fields_are_skipped(server):
    """Protobuf receivers must skip fields they do not know (forward compatibility)."""
    span = make_span(name="with unknown fields")
    # field 99 varint, field 100 length-delimited, field 101 fixed64, field 102 fixed32
    unknown = (
        encoder.TagBytes(99, 0) + encoder._VarintBytes(12345)
        + encoder.TagBytes(100, 2) + encoder._VarintBytes(3) + b"abc"
        + encoder.TagBytes(101, 1) + b"\x01" * 8
        + encoder.TagBytes(102, 5) + b"\x02" * 4
    )
    span = type(span).FromString(span.SerializeToString() + unknown)
    req = make_request([span])
    body = req.SerializeToString()
    assert body.count(b"abc") == 1, "unknown field not carried into the payload"
    expected = request_to_expected(ExportTraceServiceRequest.FromString(body))["spans"]
    since = server.sink.snapshot()
    assert_pb_success(server.post_traces(body, PROTOBUF))
    found = server.sink.wait_for_spans(expected_keys(expected), since)
    assert_spans_match(found, expected)


def test_content_type_parameters_allowed(server):
    req = make_request([make_span(name="ctype params")])
    since = server.sink.snapshot()
    assert_pb_success(server.post_traces(req.SerializeToString(), "application/x-protobuf; charset=binary"))
    server.sink.wait_for_spans(expected_keys(request_to_expected(req)["spans"]), since)
