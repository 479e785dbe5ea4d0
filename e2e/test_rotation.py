"""File sink rotation: spans.jsonl -> spans.1.jsonl, spans.2.jsonl, ... (higher = newer)."""

from __future__ import annotations

import collections

from harness import PROTOBUF
from otlp_helpers import keys_of, make_request, make_span

MAX_FILE_BYTES = 20_000
TOTAL = 200


def _send_200(srv):
    sent = set()
    for batch in range(TOTAL // 20):
        spans = [
            make_span(name=f"rotation {batch}-{i}", attributes={"seq": batch * 20 + i, "pad": "r" * 300})
            for i in range(20)
        ]
        req = make_request(spans, service="rotation")
        resp = srv.post_traces(req.SerializeToString(), PROTOBUF)
        assert resp.status_code == 200, f"HTTP {resp.status_code}"
        sent |= keys_of(req)
    assert len(sent) == TOTAL
    return sent


def _check_sizes(sink):
    for path in sink.files():
        data = path.read_bytes()
        lines = data.split(b"\n")
        longest = max(len(x) + 1 for x in lines)
        assert len(data) <= MAX_FILE_BYTES + longest, (
            f"{path.name} is {len(data)} bytes, beyond max_file_bytes {MAX_FILE_BYTES} + one line ({longest})"
        )


def test_rotation_keeps_every_span_once(start_server):
    srv = start_server(
        {"sink": {"file": {"max_file_bytes": MAX_FILE_BYTES, "max_files": 0}}, "batcher": {"flush_interval_ms": 50}},
        name="rotate-all",
    )
    sent = _send_200(srv)
    srv.sink.wait_for_spans(sent)
    srv.stop_ok()

    sink = srv.sink
    rotated = sink.rotated_files()
    assert len(rotated) >= 3, f"expected several rotated files, got {[p.name for p in sink.files()]}"
    numbers = sorted(int(p.name.split(".")[1]) for p in rotated)
    assert numbers == list(range(1, len(numbers) + 1)), f"rotated files are not numbered 1..N: {numbers}"
    _check_sizes(sink)
    counts = collections.Counter((r["trace_id"], r["span_id"]) for r in sink.records())
    dupes = {k: c for k, c in counts.items() if c != 1}
    assert not dupes, f"{len(dupes)} span(s) written more than once"
    assert set(counts) == sent, f"missing {len(sent - set(counts))}, unexpected {len(set(counts) - sent)}"


def test_rotation_prunes_to_max_files(start_server):
    srv = start_server(
        {"sink": {"file": {"max_file_bytes": MAX_FILE_BYTES, "max_files": 2}}, "batcher": {"flush_interval_ms": 50}},
        name="rotate-prune",
    )
    sent = _send_200(srv)
    srv.stop_ok()

    sink = srv.sink
    rotated = sink.rotated_files()
    assert 1 <= len(rotated) <= 2, f"max_files 2 but rotated files are {[p.name for p in rotated]}"
    _check_sizes(sink)
    keys = [(r["trace_id"], r["span_id"]) for r in sink.records()]
    assert len(keys) == len(set(keys)), "a span was written twice"
    assert set(keys) <= sent
    assert len(keys) < TOTAL, "nothing was pruned"
    # the newest spans survive pruning
    seqs = {r["attributes"]["seq"] for r in sink.records()}
    assert TOTAL - 1 in seqs, "the last span sent is not in the kept files"
