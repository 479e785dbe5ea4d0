"""Error handling of the OTLP/HTTP receiver: 400 / 404 / 405 / 413 / 415 / 429
and per-span rejection (partial success)."""

from __future__ import annotations

import email.utils
import gzip
import json
import threading
import time
import zlib

import pytest
import requests
from google.protobuf.message import DecodeError
from google.rpc import status_pb2

from harness import JSON, PROTOBUF, post_raw
from otlp_helpers import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
    fixture_bytes,
    keys_of,
    make_request,
    make_span,
    to_json_bytes,
)

INVALID_ARGUMENT = 3


def pb_status(resp) -> status_pb2.Status:
    ctype = resp.headers.get("Content-Type", "")
    assert ctype.split(";")[0].strip() == PROTOBUF, f"error body Content-Type {ctype!r}"
    st = status_pb2.Status.FromString(resp.content)
    assert st.code == INVALID_ARGUMENT, st
    assert st.message.strip(), "google.rpc.Status.message must say why"
    return st


def json_status(resp) -> dict:
    ctype = resp.headers.get("Content-Type", "")
    assert ctype.split(";")[0].strip() == JSON, f"error body Content-Type {ctype!r}"
    body = resp.json()
    assert body.get("code") == INVALID_ARGUMENT, body
    assert isinstance(body.get("message"), str) and body["message"].strip(), body
    return body


# --------------------------------------------------------------------------
# 400: malformed bodies
# --------------------------------------------------------------------------


def test_truncated_protobuf_is_400(server):
    full = fixture_bytes("full.pb")
    truncated = full[: len(full) // 2]
    with pytest.raises(DecodeError):
        ExportTraceServiceRequest.FromString(truncated)  # precondition: really malformed
    for encoding in (None, "gzip"):
        resp = server.post_traces(truncated, PROTOBUF, encoding)
        assert resp.status_code == 400, f"{encoding}: HTTP {resp.status_code}: {resp.content[:300]!r}"
        pb_status(resp)


@pytest.mark.parametrize(
    "body",
    [
        b'{"resourceSpans": [{"scopeSpans": [',
        b"this is not json",
        b'{"resourceSpans": "not an array"}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz8efff798038103d269b633813fc60c", '
        b'"spanId": "eee19b7ec3c1b174"}]}]}]}',
    ],
    ids=["truncated", "not-json", "wrong-type", "non-hex-id"],
)
def test_invalid_json_is_400(server, body):
    resp = server.post_traces(body, JSON)
    assert resp.status_code == 400, f"HTTP {resp.status_code}: {resp.content[:300]!r}"
    json_status(resp)


def _bad_id_request(trace_len=16, span_len=8):
    span = make_span(name="bad id")
    span.trace_id = bytes(range(1, trace_len + 1))
    span.span_id = bytes(range(1, span_len + 1))
    return make_request([make_span(name="good neighbour"), span])


@pytest.mark.parametrize(
    "trace_len,span_len,word",
    [(15, 8, "trace"), (17, 8, "trace"), (16, 7, "span"), (16, 9, "span")],
    ids=["trace15", "trace17", "span7", "span9"],
)
def test_wrong_id_length_is_400(server, trace_len, span_len, word):
    req = _bad_id_request(trace_len, span_len)
    since = server.sink.snapshot()

    resp = server.post_traces(req.SerializeToString(), PROTOBUF)
    assert resp.status_code == 400, f"protobuf: HTTP {resp.status_code}: {resp.content[:300]!r}"
    st = pb_status(resp)
    assert word in st.message.lower(), f"message should mention the {word} id: {st.message!r}"

    resp = server.post_traces(to_json_bytes(req), JSON)
    assert resp.status_code == 400, f"json: HTTP {resp.status_code}: {resp.content[:300]!r}"
    body = json_status(resp)
    assert word in body["message"].lower(), f"message should mention the {word} id: {body['message']!r}"

    # a 400 rejects the whole request: the valid neighbour span must not be stored either
    time.sleep(0.5)
    leaked = [r for r in server.sink.new_records(since) if (r["trace_id"], r["span_id"]) in keys_of(req)]
    assert not leaked, f"spans of a rejected (400) request were stored: {leaked}"


# --------------------------------------------------------------------------
# 415 / 405 / 404
# --------------------------------------------------------------------------


def test_unsupported_content_type_is_415(server):
    body = make_request([make_span()]).SerializeToString()
    for ctype in ("text/plain", "application/octet-stream", "application/xml"):
        resp = server.post_traces(body, ctype)
        assert resp.status_code == 415, f"{ctype}: HTTP {resp.status_code}"
    resp = requests.post(server.traces_url, data=body, timeout=10, headers={"Content-Type": ""})
    assert resp.status_code in (400, 415), f"empty Content-Type: HTTP {resp.status_code}"


@pytest.mark.parametrize("encoding", ["br", "zstd", "compress"])
def test_unsupported_content_encoding_is_415(server, encoding):
    body = make_request([make_span()]).SerializeToString()
    resp = requests.post(
        server.traces_url, data=body, timeout=10,
        headers={"Content-Type": PROTOBUF, "Content-Encoding": encoding},
    )
    assert resp.status_code == 415, f"Content-Encoding {encoding}: HTTP {resp.status_code}"


def test_get_traces_is_405(server):
    resp = requests.get(server.traces_url, timeout=10)
    assert resp.status_code == 405, f"HTTP {resp.status_code}"


def test_unknown_paths_are_404(server):
    body = make_request([make_span()]).SerializeToString()
    resp = requests.post(f"{server.otlp_base}/v1/unknown", data=body, timeout=10,
                         headers={"Content-Type": PROTOBUF})
    assert resp.status_code == 404, f"POST /v1/unknown: HTTP {resp.status_code}"
    resp = requests.get(f"{server.otlp_base}/nope", timeout=10)
    assert resp.status_code == 404, f"GET /nope: HTTP {resp.status_code}"


# --------------------------------------------------------------------------
# partial success: individually rejected spans
# --------------------------------------------------------------------------


def test_partial_success_protobuf(server):
    good = [make_span(name=f"good {i}") for i in range(3)]
    bad = [make_span(name=f"zero trace {i}", trace_id=bytes(16)) for i in range(2)]
    req = make_request([good[0], bad[0], good[1], bad[1], good[2]])
    since = server.sink.snapshot()
    resp = server.post_traces(req.SerializeToString(), PROTOBUF)
    assert resp.status_code == 200, f"HTTP {resp.status_code}: {resp.content[:300]!r}"
    assert resp.headers.get("Content-Type", "").split(";")[0].strip() == PROTOBUF
    msg = ExportTraceServiceResponse.FromString(resp.content)
    assert msg.HasField("partial_success"), msg
    assert msg.partial_success.rejected_spans == 2, msg
    assert msg.partial_success.error_message.strip(), msg

    good_keys = {(s.trace_id.hex(), s.span_id.hex()) for s in good}
    found = server.sink.wait_for_spans(good_keys, since)
    assert all(len(v) == 1 for v in found.values()), found
    time.sleep(0.3)
    new = server.sink.new_records(since)
    bad_names = {s.name for s in bad}
    stored_bad = [r for r in new if r["name"] in bad_names and r["span_id"] in {s.span_id.hex() for s in bad}]
    assert not stored_bad, f"rejected spans were stored: {stored_bad}"


def test_partial_success_json(server):
    good = [make_span(name=f"json good {i}") for i in range(2)]
    zero_span = make_span(name="json zero span id", span_id=bytes(8))
    empty_trace = make_span(name="json empty trace id", trace_id=b"")
    req = make_request([good[0], zero_span, empty_trace, good[1]])
    doc = json.loads(to_json_bytes(req))
    assert "traceId" not in doc["resourceSpans"][0]["scopeSpans"][0]["spans"][2]  # empty bytes are omitted
    since = server.sink.snapshot()
    resp = server.post_traces(json.dumps(doc).encode(), JSON)
    assert resp.status_code == 200, f"HTTP {resp.status_code}: {resp.content[:300]!r}"
    assert resp.headers.get("Content-Type", "").split(";")[0].strip() == JSON
    body = resp.json()
    ps = body.get("partialSuccess")
    assert ps, body
    assert int(ps["rejectedSpans"]) == 2, body  # int64: a string in proto3 JSON ("2"), tolerate a number
    assert ps.get("errorMessage", "").strip(), body
    server.sink.wait_for_spans({(s.trace_id.hex(), s.span_id.hex()) for s in good}, since)
    time.sleep(0.3)
    names = {r["name"] for r in server.sink.new_records(since)}
    assert not names & {"json zero span id", "json empty trace id"}, names


# --------------------------------------------------------------------------
# 413: body size limit (after decompression)
# --------------------------------------------------------------------------

LIMIT = 1024 * 1024
BOMB_SIZE = 64 * 1024 * 1024


@pytest.fixture(scope="module")
def small_server(module_server_factory):
    return module_server_factory({"otlp": {"http": {"max_body_bytes": LIMIT}}}, name="small-body-limit")


@pytest.fixture(scope="module")
def bombs():
    zeros = bytes(BOMB_SIZE)
    return {"gzip": gzip.compress(zeros, compresslevel=9, mtime=0), "deflate": zlib.compress(zeros, 9)}


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_compression_bomb_is_413_fast(small_server, bombs, encoding):
    bomb = bombs[encoding]
    assert len(bomb) < 200 * 1024, len(bomb)
    resp = post_raw(small_server.http_port, "/v1/traces", bomb,
                    {"Content-Type": PROTOBUF, "Content-Encoding": encoding}, timeout=10)
    assert resp.status == 413, f"{encoding} bomb ({len(bomb)} -> {BOMB_SIZE} bytes): HTTP {resp.status}"
    assert resp.elapsed < 5.0, f"413 took {resp.elapsed:.2f}s: the server inflated too much before giving up"
    assert small_server.running, "server died on a compression bomb"


def test_uncompressed_body_over_limit_is_413(small_server):
    body = bytes(LIMIT + 1024)
    resp = post_raw(small_server.http_port, "/v1/traces", body, {"Content-Type": PROTOBUF}, timeout=10)
    assert resp.status == 413, f"HTTP {resp.status}"
    resp = post_raw(small_server.http_port, "/v1/traces", b" " * (LIMIT + 1024), {"Content-Type": JSON}, timeout=10)
    assert resp.status == 413, f"json: HTTP {resp.status}"


def test_body_under_limit_is_accepted(small_server):
    """Sanity check that the limit is not too eager: ~900 KB of valid spans pass."""
    pad = "x" * 3000
    spans = [make_span(name=f"big {i}", attributes={"pad": pad}) for i in range(290)]
    req = make_request(spans)
    body = req.SerializeToString()
    assert 800 * 1024 < len(body) < LIMIT, len(body)
    since = small_server.sink.snapshot()
    resp = small_server.post_traces(body, PROTOBUF, "gzip")
    assert resp.status_code == 200, f"HTTP {resp.status_code}: {resp.content[:300]!r}"
    small_server.sink.wait_for_spans(keys_of(req), since)


# --------------------------------------------------------------------------
# 429: batcher queue full
# --------------------------------------------------------------------------


def _assert_retry_after(resp):
    ra = resp.headers.get("Retry-After")
    assert ra, f"429 without Retry-After; headers: {dict(resp.headers)}"
    ra = ra.strip()
    if ra.isdigit():
        return
    assert email.utils.parsedate_to_datetime(ra), f"Retry-After {ra!r} is neither seconds nor an HTTP date"


def test_queue_full_is_429_and_accepted_spans_survive(start_server):
    """The queue counts spans from acceptance until written; a request that does not fit
    is refused at once with 429, while an accepted one waits for its write (here the
    2 s flush interval) and then gets 200."""
    srv = start_server(
        {"batcher": {"max_queued_spans": 10, "max_batch_spans": 1_000_000, "flush_interval_ms": 2_000}},
        name="tiny-queue",
    )
    too_many = make_request([make_span(name=f"overflow {i}") for i in range(20)])
    resp = srv.post_traces(too_many.SerializeToString(), PROTOBUF)
    assert resp.status_code == 429, f"20 spans into a queue of 10: HTTP {resp.status_code}"
    _assert_retry_after(resp)

    accepted = make_request([make_span(name=f"accepted {i}") for i in range(5)])
    answer: list = []
    waiting = threading.Thread(
        target=lambda: answer.append(srv.post_traces(accepted.SerializeToString(), PROTOBUF, timeout=30)), daemon=True)
    waiting.start()
    deadline = time.monotonic() + 10
    while srv.metrics().total("pyflare_batcher_queue_spans") != 5:
        assert time.monotonic() < deadline, "the 5 accepted spans never showed in pyflare_batcher_queue_spans"
        time.sleep(0.02)

    more = make_request([make_span(name=f"second overflow {i}") for i in range(10)])
    resp = srv.post_traces(to_json_bytes(more), JSON)
    assert resp.status_code == 429, f"5 queued + 10 more (limit 10): HTTP {resp.status_code}"
    _assert_retry_after(resp)
    assert not answer, "the accepted request was answered before the flush interval"

    waiting.join(timeout=15)
    assert answer and answer[0].status_code == 200, f"5 spans into an empty queue of 10: {answer}"
    srv.stop_ok()
    records = srv.sink.records()
    stored = {(r["trace_id"], r["span_id"]) for r in records}
    assert keys_of(accepted) <= stored, f"accepted spans lost after a 429: {keys_of(accepted) - stored}"
    assert not (keys_of(too_many) | keys_of(more)) & stored, "spans answered with 429 were stored"
    assert len(records) == 5, [r["name"] for r in records]
