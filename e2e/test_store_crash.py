"""Crash safety of the durable store: kill -9 in the middle of a stream of exports, and
damaged WAL tails. Every span of every request answered 200 must be readable after a
restart, exactly once and field by field."""

from __future__ import annotations

import collections
import os
import threading

import pytest
import requests

from harness import JSON, PROTOBUF, STORE_CONFIG, compress, merge_config
from otlp_helpers import check_span, make_request, make_span, request_to_expected, to_json_bytes
from store_helpers import WAL_HEADER, StoreDir, assert_stored, parse_wal, wait_until

T0 = 1_768_000_000_000_000_000


# --------------------------------------------------------------------------
# kill -9 mid-stream
# --------------------------------------------------------------------------


class Sender(threading.Thread):
    """Posts requests back to back until stopped or the server is gone; remembers which
    requests were answered 200 (acknowledged) and which are in doubt (no answer)."""

    SPANS_PER_REQUEST = 5
    REQUESTS_PER_TRACE = 4  # a trace spreads over requests, so over seals and the crash

    def __init__(self, url: str, name: str, stop: threading.Event):
        super().__init__(name=name, daemon=True)
        self.url, self.tag, self.stop = url, name, stop
        self.acked: list = []
        self.in_doubt: list = []
        self.refused: list = []

    def run(self):
        k = 0
        trace_id = None
        while not self.stop.is_set():
            if k % self.REQUESTS_PER_TRACE == 0:
                trace_id = os.urandom(16)
            spans = [
                make_span(trace_id=trace_id, name=f"{self.tag} req {k} span {j}",
                          start=T0 + k * 1_000_000 + j * 1000, duration=500,
                          attributes={"seq": k, "j": j, "ratio": k / 7 + 0.5, "ok": j % 2 == 0,
                                      "blob": os.urandom(4), "pad": "p" * 200})
                for j in range(self.SPANS_PER_REQUEST)
            ]
            req = make_request(spans, service=self.tag)
            as_json = k % 3 == 2
            body = to_json_bytes(req) if as_json else req.SerializeToString()
            headers = {"Content-Type": JSON if as_json else PROTOBUF}
            if k % 2:
                headers["Content-Encoding"] = "gzip"
                body = compress(body, "gzip")
            try:
                r = requests.post(self.url, data=body, headers=headers, timeout=10)
            except requests.RequestException:
                self.in_doubt.append(req)  # sent, maybe stored: the server died under it
                return
            (self.acked if r.status_code == 200 else self.refused).append(req)
            k += 1


def _run_and_kill(srv, store, tag: str, n_threads: int, min_new_segments: int, min_acked: int):
    """Streams from `n_threads` senders, kills the server once enough is sealed and
    acknowledged, and returns the senders."""
    stop = threading.Event()
    senders = [Sender(srv.traces_url, f"{tag}-{i}", stop) for i in range(n_threads)]
    segments_before = len(store.segments())
    for s in senders:
        s.start()
    try:
        wait_until(lambda: len(store.segments()) >= segments_before + min_new_segments
                   and sum(len(s.acked) for s in senders) >= min_acked,
                   timeout=60, what=f"{min_new_segments} new segment(s) and {min_acked} acknowledged requests",
                   describe=lambda: f"{store.describe()}, acked {sum(len(s.acked) for s in senders)}")
        # some more traffic after the last seal, so that the WAL holds unsealed records too
        acked = sum(len(s.acked) for s in senders)
        wait_until(lambda: sum(len(s.acked) for s in senders) >= acked + 3 * n_threads, timeout=30)
        srv.kill()  # SIGKILL while the senders are still posting
    finally:
        stop.set()
        for s in senders:
            s.join(timeout=30)
    assert not any(s.is_alive() for s in senders), "a sender did not stop"
    return senders


def _verify(srv, senders) -> dict[str, dict]:
    """Every acknowledged span once and intact; anything else returned is from a request in doubt."""
    acked_expected = [e for s in senders for req in s.acked for e in request_to_expected(req)["spans"]]
    maybe = {(sp.trace_id.hex(), sp.span_id.hex())
             for s in senders for req in s.in_doubt + s.refused
             for rs in req.resource_spans for ss in rs.scope_spans for sp in ss.spans}
    by_trace = collections.defaultdict(list)
    for e in acked_expected:
        by_trace[e["trace_id"]].append(e)
    errors, docs = [], {}
    for trace_id, exps in by_trace.items():
        r = srv.api_get(f"/api/v1/traces/{trace_id}")
        if r.status_code != 200:
            errors.append(f"trace {trace_id}: HTTP {r.status_code} {r.text[:200]} ({len(exps)} acknowledged spans)")
            continue
        doc = docs[trace_id] = r.json()
        if doc["warnings"]:
            errors.append(f"trace {trace_id}: warnings {doc['warnings']}")
        got = collections.Counter(sp["span_id"] for sp in doc["spans"])
        dups = [sid for sid, n in got.items() if n > 1]
        if dups:
            errors.append(f"trace {trace_id}: spans returned more than once: {dups}")
        want = {e["span_id"] for e in exps}
        stray = [sid for sid in got if sid not in want and (trace_id, sid) not in maybe]
        if stray:
            errors.append(f"trace {trace_id}: spans that were never sent: {stray}")
        recs = {sp["span_id"]: sp for sp in doc["spans"]}
        for e in exps:
            if e["span_id"] not in recs:
                errors.append(f"trace {trace_id}: acknowledged span {e['span_id']} {e['name']!r} lost")
            else:
                errors.extend(check_span(recs[e["span_id"]], e))
        if doc["span_count"] != len(doc["spans"]):
            errors.append(f"trace {trace_id}: span_count {doc['span_count']} != {len(doc['spans'])}")
    if errors:
        raise AssertionError(f"{len(errors)} problem(s) after kill -9 and restart "
                             f"({len(acked_expected)} acknowledged spans in {len(by_trace)} traces):\n  "
                             + "\n  ".join(errors[:40]))
    return docs


@pytest.mark.parametrize("fsync,cycles", [("always", 2), ("interval", 1), ("never", 1)])
def test_kill9_mid_stream_loses_no_acknowledged_span(start_server, fsync, cycles):
    """kill -9 is a process crash: whatever the fsync mode, the page cache keeps what was
    written, so no acknowledged span may be lost. With `always`, a second crash also hits
    data recovered (replayed, not yet sealed) from the first.

    The checks run on a server that does not seal while they read (max_age_ms raised), so
    they see segments plus replayed WAL data, and are not exposed to the read-vs-seal race
    that test_trace_api.py::test_reads_during_seals_see_every_acknowledged_span covers."""
    streaming = {"segments": {"max_age_ms": 400}, "wal": {"fsync": fsync, "fsync_interval_ms": 200}}
    srv = start_server(merge_config(STORE_CONFIG, streaming), name=f"kill9-{fsync}")
    store = StoreDir(srv.data_dir)
    all_senders = []
    for cycle in range(cycles):
        senders = _run_and_kill(srv, store, f"crash{cycle}", n_threads=3, min_new_segments=2, min_acked=40)
        all_senders += senders
        acked = sum(len(s.acked) for s in senders)
        in_doubt = sum(len(s.in_doubt) for s in senders)
        assert acked >= 40 and sum(len(s.refused) for s in senders) == 0, \
            f"cycle {cycle}: {acked} acked, refused: {[r for s in senders for r in s.refused][:1]}"
        srv.config["segments"]["max_age_ms"] = 600_000  # read without seals in between
        mark = srv.log_mark()
        srv.start()
        opened = [ln for ln in srv.log_since(mark).splitlines() if "store opened" in ln]
        assert opened, srv.log_since(mark)
        assert "replayed" in opened[0], f"cycle {cycle}: expected unsealed WAL records to replay: {opened[0]}"
        _verify(srv, all_senders)
        print(f"cycle {cycle}: {acked} acknowledged requests, {in_doubt} in doubt; {opened[0]}")
        srv.kill()  # the replayed records stay unsealed for the next cycle
        srv.config["segments"]["max_age_ms"] = 400
        srv.start()

    # new ingest works after the recovery
    fresh = make_request([make_span(name="after the crashes")])
    assert srv.post_traces(fresh.SerializeToString()).status_code == 200
    srv.restart()  # SIGTERM seals everything
    assert_stored(srv, request_to_expected(fresh)["spans"], "new ingest after recovery")

    # once everything is sealed, each summary counts what the trace API returns
    docs = _verify(srv, all_senders)
    summaries = {t["trace_id"]: t for t in srv.list_all_traces()}
    wrong = [(tid, summaries.get(tid, {}).get("span_count"), doc["span_count"]) for tid, doc in docs.items()
             if summaries.get(tid, {}).get("span_count") != doc["span_count"]]
    assert not wrong, f"summary span_count != spans returned (trace, summary, spans): {wrong[:10]}"


# --------------------------------------------------------------------------
# damaged WAL tails
# --------------------------------------------------------------------------

NEVER_SEAL = merge_config(STORE_CONFIG, {"segments": {"max_age_ms": 600_000}})


def _post_requests(srv, n: int, tag: str) -> list[list[dict]]:
    """`n` requests in a row, one trace each; returns the expected spans per request."""
    out = []
    for k in range(n):
        tid = os.urandom(16)
        req = make_request([make_span(trace_id=tid, name=f"{tag} {k}.{j}", start=T0 + k * 10**9 + j,
                                      attributes={"k": k, "x": 1.5, "tag": tag}) for j in range(3)],
                           service="wal-tail")
        resp = srv.post_traces(req.SerializeToString(), PROTOBUF)
        assert resp.status_code == 200, resp.status_code
        out.append(request_to_expected(req)["spans"])
    return out


def _restart_after_damage(srv, expect_dropped: int) -> str:
    mark = srv.log_mark()
    srv.start()
    log = srv.log_since(mark)
    cut = [ln for ln in log.splitlines() if "cut off a torn WAL tail" in ln]
    assert cut, f"no 'cut off a torn WAL tail' warning in the log:\n{log}"
    assert f"dropped_bytes={expect_dropped}" in cut[0], f"expected dropped_bytes={expect_dropped}: {cut[0]}"
    opened = [ln for ln in log.splitlines() if "store opened" in ln]
    assert opened and f"cut {expect_dropped} bytes off" in opened[0], opened
    return log


def _missing(srv, spans) -> None:
    for tid in {e["trace_id"] for e in spans}:
        r = srv.api_get(f"/api/v1/traces/{tid}")
        assert r.status_code == 404, f"trace {tid} of a cut record: HTTP {r.status_code} {r.text[:300]}"


def _after_recovery_ingest_and_restarts(srv, before: list[dict], gone: list[dict]):
    """New ingest works after the cut, survives another kill -9 (new WAL records after the
    cut file) and a seal."""
    new = [e for r in _post_requests(srv, 2, "after") for e in r]
    assert_stored(srv, before + new, "right after recovery + new ingest")
    srv.kill()
    mark = srv.log_mark()
    srv.start()
    assert "cut off a torn WAL tail" not in srv.log_since(mark), "the WAL was cut again on a clean replay"
    assert_stored(srv, before + new, "after a second kill -9")
    srv.restart()
    assert_stored(srv, before + new, "sealed, after SIGTERM and restart")
    _missing(srv, gone)


GARBAGE = {
    "random": lambda: os.urandom(37),
    "zeros": lambda: bytes(4096),  # a file extended but never written (power loss)
    # a plausible header (small length, sequence 999) with a wrong checksum, then junk
    "fake-header": lambda: (20).to_bytes(4, "little") + b"\xde\xad\xbe\xef" + (999).to_bytes(8, "little") + os.urandom(20),
    "length-too-big": lambda: (1 << 31).to_bytes(4, "little") + os.urandom(12),
}


@pytest.mark.parametrize("kind", list(GARBAGE))
def test_wal_garbage_tail_is_cut(start_server, kind):
    srv = start_server(NEVER_SEAL, name=f"wal-garbage-{kind}")
    store = StoreDir(srv.data_dir)
    sent = [e for r in _post_requests(srv, 5, "before") for e in r]
    srv.kill()
    assert not store.segments(), store.describe()
    last = store.wal_files()[-1]
    records, end = parse_wal(last)
    assert len(records) == 5 and end == last.stat().st_size, (records, end)
    garbage = GARBAGE[kind]()
    with open(last, "ab") as f:
        f.write(garbage)
    _restart_after_damage(srv, len(garbage))
    assert last.stat().st_size == end, "the torn tail was not cut off the file"
    assert_stored(srv, sent, f"after cutting {len(garbage)} bytes of {kind} garbage")
    _after_recovery_ingest_and_restarts(srv, sent, [])


@pytest.mark.parametrize("cut", ["3-bytes", "half-payload", "inside-header"])
def test_wal_torn_last_record_is_cut(start_server, cut):
    srv = start_server(NEVER_SEAL, name=f"wal-torn-{cut}")
    store = StoreDir(srv.data_dir)
    per_request = _post_requests(srv, 5, "before")
    srv.kill()
    last = store.wal_files()[-1]
    records, end = parse_wal(last)
    assert len(records) == 5 and end == last.stat().st_size
    rec = records[-1]
    new_size = {"3-bytes": rec.end - 3, "half-payload": rec.offset + WAL_HEADER + rec.payload_length // 2,
                "inside-header": rec.offset + 10}[cut]
    os.truncate(last, new_size)
    _restart_after_damage(srv, new_size - rec.offset)
    assert last.stat().st_size == rec.offset
    kept = [e for r in per_request[:-1] for e in r]
    assert_stored(srv, kept, f"records before the torn one ({cut})")
    _missing(srv, per_request[-1])
    _after_recovery_ingest_and_restarts(srv, kept, per_request[-1])


# --------------------------------------------------------------------------
# the WAL cannot be written
# --------------------------------------------------------------------------


def test_wal_write_failure_is_503_and_nothing_kept(start_server):
    """When the WAL cannot be written the client gets 503 with Retry-After (so it retries),
    nothing of the refused request is kept, and ingest resumes once the disk is back."""
    srv = start_server(merge_config(NEVER_SEAL, {"wal": {"max_file_bytes": 65536}}), name="wal-broken")

    def request(tag):
        # > 64 KiB even compressed, so the next request needs a new WAL file
        return make_request([make_span(name=f"{tag} {i}", attributes={"pad": os.urandom(4000).hex()})
                             for i in range(20)], service="broken")

    first = request("first")
    assert srv.post_traces(first.SerializeToString()).status_code == 200
    wal = srv.data_dir / "wal"
    wal.rename(srv.data_dir / "wal.aside")
    wal.write_text("a file where the WAL directory was: creating the next WAL file fails")
    refused = []
    for k in range(2):
        req = request(f"refused{k}")
        resp = srv.post_traces(req.SerializeToString(), PROTOBUF)
        assert resp.status_code == 503, f"HTTP {resp.status_code}: {resp.content[:300]!r}"
        assert resp.headers.get("Retry-After", "").strip().isdigit(), dict(resp.headers)
        refused.append(req)
    assert srv.metrics().total("pyflare_spans_rejected_total", reason="storage") == 40
    assert "sink write failed" in srv.stderr_text()
    wal.unlink()
    (srv.data_dir / "wal.aside").rename(wal)
    after = request("after")
    assert srv.post_traces(after.SerializeToString()).status_code == 200

    kept = request_to_expected(first)["spans"] + request_to_expected(after)["spans"]
    assert_stored(srv, kept, "after the WAL came back")
    for phase in ("running", "after kill -9 and replay", "sealed, after restart"):
        if phase == "after kill -9 and replay":
            srv.kill()
            srv.start()
        elif phase.startswith("sealed"):
            srv.restart()
        for req in refused:
            tid = req.resource_spans[0].scope_spans[0].spans[0].trace_id.hex()
            r = srv.api_get(f"/api/v1/traces/{tid}")
            assert r.status_code == 404, f"[{phase}] a span answered 503 was stored: HTTP {r.status_code}"
    assert_stored(srv, kept, "sealed, after restart")
