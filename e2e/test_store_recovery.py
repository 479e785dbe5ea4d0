"""Start-up recovery and damaged segments: a corrupt column chunk is reported in the
trace API's warnings while the readable spans are still returned; unindexed, duplicate,
unfinished and missing segment files are handled at start-up; the index can be rebuilt
from the segment files."""

from __future__ import annotations

import json
import os
import shutil
import time

import pytest
import requests

from harness import PROTOBUF, STORE_CONFIG, merge_config
from otlp_helpers import make_request, make_span, request_to_expected
from store_helpers import (
    StoreDir,
    assert_stored,
    fix_checksums,
    flip_byte,
    group_by_trace,
    parse_segment,
    trace_problems,
)

T0 = 1_769_000_000_000_000_000
MS = 1_000_000
# No merges either: the retention job runs at start, and a merge would read (and fence) the
# blocks these tests damage, or be cut by their kill -9 and leave an output recovery deletes.
NEVER_SEAL = merge_config(STORE_CONFIG, {"segments": {"max_age_ms": 600_000, "block_spans": 16},
                                         "compaction": {"small_segment_bytes": 0}})


def _send(srv, spans, service="seg") -> list[dict]:
    req = make_request(spans, service=service)
    resp = srv.post_traces(req.SerializeToString(), PROTOBUF)
    assert resp.status_code == 200, resp.status_code
    return request_to_expected(req)["spans"]


def _trace(n_spans: int, start: int, name: str) -> list:
    """A trace: span 0 is the root, the others its children, starting 1 ms apart."""
    tid, root_id = os.urandom(16), os.urandom(8)
    return [make_span(trace_id=tid, span_id=root_id if j == 0 else None, parent=b"" if j == 0 else root_id,
                      name=f"{name}.{j}", start=start + j * MS, duration=MS // 2,
                      attributes={"j": j, "name": name, "pad": name * 40, "d": j + 0.25}) for j in range(n_spans)]


def _opened_line(srv, mark) -> str:
    lines = [ln for ln in srv.log_since(mark).splitlines() if "store opened" in ln]
    assert lines, srv.log_since(mark)
    return lines[0]


def _two_segments(srv):
    """Segment 1: traces A (8 spans), B (16), C (8), D (16), one service, in start order, so
    with 16-span blocks A+B[:8] | B[8:]+C | D. Segment 2: traces E and F. Returns the
    expected spans of each trace by letter and the segment paths."""
    store = StoreDir(srv.data_dir)
    traces = {}
    t = T0
    for letter, n in [("A", 8), ("B", 16), ("C", 8), ("D", 16)]:
        traces[letter] = _trace(n, t, letter)
        t += 100 * MS
    expected = {k: [] for k in traces}
    sent = _send(srv, [sp for k in "ABCD" for sp in traces[k]])
    for e in sent:
        expected[e["name"].split(".")[0]].append(e)
    srv.restart()  # SIGTERM seals segment 1
    for letter in "EF":
        expected[letter] = _send(srv, _trace(8, t, letter))
        t += 100 * MS
    srv.stop_ok()
    segs = store.segments()
    assert len(segs) == 2, store.describe()
    return expected, segs


@pytest.mark.parametrize("damage", ["flip-byte", "flip-byte-checksums-fixed"])
def test_corrupt_chunk_gives_warning_and_other_spans(start_server, damage):
    srv = start_server(NEVER_SEAL, name=f"corrupt-{damage}")
    expected, (seg1, seg2) = _two_segments(srv)
    seg = parse_segment(seg1)
    assert [b.rows for b in seg.blocks] == [16, 16, 16], [b.rows for b in seg.blocks]
    block = seg.blocks[1]
    chunk = block.chunk("attributes")
    flip_byte(seg1, chunk.offset + chunk.length // 2)
    if damage == "flip-byte-checksums-fixed":
        fix_checksums(seg, chunk)

    # which spans the damaged block held, by its zone map (start times are distinct and
    # ordered like the rows)
    lost = {e["span_id"] for exps in expected.values() for e in exps
            if block.min_start <= e["start_time_unix_nano"] <= block.max_start}
    partly = [k for k, exps in expected.items() if 0 < len({e["span_id"] for e in exps} & lost) < len(exps)]
    wholly = [k for k, exps in expected.items() if {e["span_id"] for e in exps} <= lost]
    assert partly == ["B"] and wholly == ["C"], (partly, wholly)

    mark = srv.log_mark()
    srv.start()
    assert "recovery=clean" in _opened_line(srv, mark), "a footer-intact segment must stay in service"
    errors_before = srv.metrics().total("pyflare_segment_read_errors_total")

    # traces in undamaged blocks and in the other segment are intact
    assert_stored(srv, [e for k in "ADEF" for e in expected[k]], "undamaged blocks")

    for letter in "BC":
        tid = expected[letter][0]["trace_id"]
        r = srv.api_get(f"/api/v1/traces/{tid}")
        assert r.status_code == 200, f"trace {letter} (damaged block): HTTP {r.status_code} {r.text[:300]}"
        doc = r.json()
        kept = [e for e in expected[letter] if e["span_id"] not in lost]
        if damage == "flip-byte":
            assert len(doc["warnings"]) == 1, doc["warnings"]
            warning = doc["warnings"][0]
            for part in (seg1.name, "block 1", "attributes"):
                assert part in warning, f"the warning should name {part!r}: {warning!r}"
            problems = trace_problems(dict(doc, warnings=[]), tid, kept)
            assert not problems, problems
        else:
            # the damage got past the checksums: the decoders must refuse it (a warning) or
            # at worst return odd values, never crash or hide the undamaged blocks
            assert doc["warnings"] or doc["span_count"] == len(expected[letter]), doc
            ids = {s["span_id"] for s in doc["spans"]}
            assert {e["span_id"] for e in kept} <= ids, f"trace {letter}: spans of undamaged blocks missing"
    assert srv.running and srv.api_get("/health").status_code == 200
    if damage == "flip-byte":
        assert srv.metrics().total("pyflare_segment_read_errors_total") >= errors_before + 2
        assert "cannot read a segment block" in srv.log_since(mark)

    # the index and the list are not affected, and new data still goes in
    listed = {t["trace_id"] for t in srv.list_traces(limit=1000)["traces"]}
    assert {exps[0]["trace_id"] for exps in expected.values()} <= listed
    new = _send(srv, _trace(3, T0 + 10**12, "G"))
    assert_stored(srv, new, "new ingest after reading a damaged block")


def test_unindexed_segments_at_startup(start_server):
    """A segment file the index does not know is verified: a corrupt one and a copy of
    WAL records already sealed go to quarantine/; an unfinished .tmp- file is deleted."""
    srv = start_server(NEVER_SEAL, name="unindexed")
    store = StoreDir(srv.data_dir)
    sent = _send(srv, _trace(20, T0, "X") + _trace(5, T0 + 10**9, "Y"))
    srv.stop_ok()
    (seg1,) = store.segments()
    before = {t["trace_id"]: t for t in _listing(srv)}

    corrupt = store.segment_dir / "ffffffffffffffff-00000000000000ff-corrupt0.seg"
    shutil.copyfile(seg1, corrupt)
    seg = parse_segment(corrupt)
    flip_byte(corrupt, seg.footer_offset + seg.footer_length // 2)
    duplicate = store.segment_dir / "fffffffffffffffe-0000000000000001-dup00000.seg"
    shutil.copyfile(seg1, duplicate)
    unfinished = store.segment_dir / (".tmp-" + seg1.name)
    unfinished.write_bytes(seg1.read_bytes()[:100])

    mark = srv.log_mark()
    srv.start()
    opened = _opened_line(srv, mark)
    for what in (f"quarantined unindexed segments/{corrupt.name}", f"quarantined duplicate segments/{duplicate.name}",
                 f"deleted unfinished segment {unfinished.name}"):
        assert what in opened, f"recovery summary should say {what!r}: {opened}"
    assert "quarantined a segment" in srv.log_since(mark)
    assert store.segments() == [seg1], store.describe()
    assert sorted(p.name for p in store.quarantined()) == sorted([corrupt.name, duplicate.name]), store.describe()
    assert not store.temp_segments(), store.describe()

    assert_stored(srv, sent, "after quarantining the unknown segments")
    assert {t["trace_id"]: t for t in srv.list_traces(limit=1000)["traces"]} == before, \
        "the summaries changed (a quarantined copy was counted?)"
    mark = srv.log_mark()
    srv.restart()
    assert "recovery=clean" in _opened_line(srv, mark)


def _listing(srv):
    srv.start()
    try:
        return srv.list_traces(limit=1000)["traces"]
    finally:
        srv.stop_ok()


def test_index_rebuilt_from_segment_files(start_server):
    """With index.db gone, every segment is verified and indexed again, WAL records already
    in segments are not replayed twice, unsealed ones are; the summaries come out the same."""
    srv = start_server(NEVER_SEAL, name="reindex")
    store = StoreDir(srv.data_dir)
    split = _trace(12, T0, "S")  # one trace across both segments and the WAL
    sent = _send(srv, _trace(20, T0 + 10**9, "P") + split[:4])
    srv.restart()
    sent += _send(srv, _trace(6, T0 + 2 * 10**9, "Q") + split[4:8], service="other")
    srv.restart()
    assert len(store.segments()) == 2
    sent += _send(srv, split[8:], service="third")
    srv.kill()  # split[8:] only in the WAL

    # the reference listing: same data dir copied aside, recovered normally and sealed
    reference_dir = srv.workdir / "reference"
    shutil.copytree(srv.data_dir, reference_dir / "data")
    ref = type(srv)(srv.binary, reference_dir, srv.config, name="reindex-reference")
    try:
        ref.start()
        ref.restart()
        want = ref.list_traces(limit=1000)["traces"]
        ref.stop_ok()
    finally:
        ref.kill()
    assert len(want) == 3, want
    assert next(t for t in want if t["root_name"] == "S.0")["span_count"] == 12, want

    for name in ("index.db", "index.db-wal", "index.db-shm"):
        (srv.data_dir / name).unlink(missing_ok=True)
    # The files recovery finds.
    on_disk = store.segments()
    mark = srv.log_mark()
    srv.start()
    opened = _opened_line(srv, mark)
    for seg in on_disk:
        assert f"indexed segments/{seg.name}" in opened, opened
    assert "replayed 1 WAL records (4 spans)" in opened, opened
    assert_stored(srv, sent, "index rebuilt from the segments + WAL replay")
    srv.restart()
    assert_stored(srv, sent, "rebuilt index, all sealed")
    got = srv.list_traces(limit=1000)["traces"]
    assert got == want, f"summaries differ after the rebuild:\n got  {got}\n want {want}"


def test_missing_segment_is_marked_and_found_again(start_server):
    srv = start_server(NEVER_SEAL, name="missing")
    store = StoreDir(srv.data_dir)
    split = _trace(6, T0, "Z")
    first = _send(srv, _trace(4, T0 + 10**9, "X") + split[:3])
    srv.restart()
    second = _send(srv, _trace(4, T0 + 2 * 10**9, "Y") + split[3:])
    srv.stop_ok()
    seg1, _seg2 = store.segments()
    aside = srv.workdir / seg1.name
    seg1.rename(aside)

    mark = srv.log_mark()
    srv.start()
    assert f"marked missing segments/{seg1.name}" in _opened_line(srv, mark)
    assert "segment file is missing" in srv.log_since(mark)
    by_trace = group_by_trace(first + second)
    x, z = first[0]["trace_id"], split[0].trace_id.hex()
    y = second[0]["trace_id"]
    assert_stored(srv, by_trace[y], "segment 2 while segment 1 is missing")
    doc = srv.get_trace(z)
    assert {s["span_id"] for s in doc["spans"]} == {e["span_id"] for e in by_trace[z] if e in second}, doc
    assert srv.api_get(f"/api/v1/traces/{x}").status_code in (200, 404)
    new = _send(srv, _trace(2, T0 + 3 * 10**9, "N"))
    srv.stop_ok()

    aside.rename(seg1)
    mark = srv.log_mark()
    srv.start()
    assert f"found again segments/{seg1.name}" in _opened_line(srv, mark)
    assert_stored(srv, first + second + new, "segment 1 back in place")


def test_an_unreadable_segment_file_is_a_warning_without_its_path(start_server):
    """A segment file that cannot be read any more (here it became a directory, so every
    read fails with an I/O error) costs its own records: the answer says which file in its
    warnings, by name only; the full path stays in the server log."""
    # No jobs: one reading the logs would keep the file open, and reads through an open file
    # still work after it is replaced.
    srv = start_server(merge_config(NEVER_SEAL, {"scheduler": {"enabled": False}}), name="unreadable")
    store = StoreDir(srv.data_dir)
    now = time.time_ns()
    payload = {"resourceLogs": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "unreadable"}}]},
                                 "scopeLogs": [{"logRecords": [{"timeUnixNano": str(now + i), "body": {"stringValue": f"line {i}"}}
                                                               for i in range(3)]}]}]}
    r = requests.post(f"{srv.otlp_base}/v1/logs", data=json.dumps(payload), headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 200, r.text
    srv.stop_ok()  # seals the records into a logs segment
    [logs_segment] = [p for p in store.segments() if p.name.endswith(".logs.seg")]
    srv.start()
    logs_segment.unlink()
    logs_segment.mkdir()

    mark = srv.log_mark()
    r = srv.api_get("/api/v1/logs", params={"service": "unreadable"})
    assert r.status_code == 200, (r.status_code, r.text[:300])
    body = r.json()
    assert body["logs"] == [] and len(body["warnings"]) == 1, body
    assert logs_segment.name in body["warnings"][0] and "Is a directory" in body["warnings"][0], body
    for secret in (str(srv.data_dir), "segments/", "StoreError", "errno"):
        assert secret not in r.text, f"the answer shows {secret!r}: {r.text}"
    assert str(logs_segment) in srv.log_since(mark), "the server log should name the whole path"

    assert srv.running and srv.api_get("/health").status_code == 200
    logs_segment.rmdir()
