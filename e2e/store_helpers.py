"""Helpers for the durable-store tests (sink.kind: store).

* `StoreDir`: the files of a data dir (wal/, segments/, quarantine/, index.db).
* `parse_wal()` / `parse_segment()`: just enough of the on-disk formats to damage a
  chosen record, block or column chunk (layouts as written by Sources/PyFlareStore:
  WAL record `[u32 len][u32 crc32c][u64 seq][payload]`; segment
  `"PFSG" u16 version u16 | chunks... | footer | u32 footer len, u32 crc, u16 version, u16, "PFSG"`).
* `remap_ids()`: a copy of an OTLP request with fresh random trace/span ids (links
  and parents remapped consistently), so one fixture can be posted many times.
* `assert_stored()`: every expected span, read back through GET /api/v1/traces/{id},
  exactly once and field by field (otlp_helpers.check_span), and nothing else.
* `wait_until()`: polling with a deadline and a useful message.
"""

from __future__ import annotations

import collections
import os
import re
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from harness import parse_sink_line
from otlp_helpers import ExportTraceServiceRequest, check_span

POLL_S = 0.05


def wait_until(predicate: Callable[[], object], timeout: float = 15.0, what: str = "condition",
               describe: Callable[[], str] | None = None):
    """Polls `predicate` until it returns something truthy (returned), or fails after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = f"; {describe()}" if describe else ""
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}{extra}")
        time.sleep(POLL_S)


# --------------------------------------------------------------------------
# data dir layout
# --------------------------------------------------------------------------


class StoreDir:
    def __init__(self, data_dir: Path):
        self.root = data_dir

    @property
    def wal_dir(self) -> Path:
        return self.root / "wal"

    @property
    def segment_dir(self) -> Path:
        return self.root / "segments"

    @property
    def quarantine_dir(self) -> Path:
        return self.root / "quarantine"

    def _list(self, directory: Path, pattern: str) -> list[Path]:
        if not directory.is_dir():
            return []
        return sorted(p for p in directory.iterdir() if re.fullmatch(pattern, p.name))

    def wal_files(self) -> list[Path]:
        """Oldest first (names are the zero-padded first sequence number)."""
        return self._list(self.wal_dir, r"\d+\.wal")

    def segments(self) -> list[Path]:
        """Finished segment files, oldest first (names start with the creation time)."""
        return self._list(self.segment_dir, r"[^.].*\.seg")

    def temp_segments(self) -> list[Path]:
        return self._list(self.segment_dir, r"\.tmp-.*")

    def quarantined(self) -> list[Path]:
        return self._list(self.quarantine_dir, r".*")

    def describe(self) -> str:
        return (f"wal={[p.name for p in self.wal_files()]} segments={[p.name for p in self.segments()]} "
                f"quarantine={[p.name for p in self.quarantined()]}")

    def wait_for_segments(self, count: int, timeout: float = 15.0) -> list[Path]:
        return wait_until(lambda: len(self.segments()) >= count and self.segments(), timeout,
                          f"at least {count} segment file(s)", self.describe)


# --------------------------------------------------------------------------
# WAL
# --------------------------------------------------------------------------

WAL_HEADER = 16


@dataclass
class WalRecord:
    offset: int
    sequence: int
    payload_length: int

    @property
    def end(self) -> int:
        return self.offset + WAL_HEADER + self.payload_length


def parse_wal(path: Path) -> tuple[list[WalRecord], int]:
    """The records whose frame is complete (checksums are not verified here) and the
    offset where they end."""
    data = path.read_bytes()
    records, off = [], 0
    while len(data) - off >= WAL_HEADER:
        length, _crc, seq = struct.unpack_from("<IIQ", data, off)
        if len(data) - off - WAL_HEADER < length:
            break
        records.append(WalRecord(off, seq, length))
        off += WAL_HEADER + length
    return records, off


# --------------------------------------------------------------------------
# segments
# --------------------------------------------------------------------------

SEG_MAGIC = b"PFSG"
SEG_HEADER = 8
SEG_TRAILER = 16


@dataclass
class Chunk:
    column: int
    name: str
    offset: int
    length: int
    raw_length: int
    checksum: int = 0
    checksum_at: int = 0  # file offset of the chunk's CRC-32C in the footer


@dataclass
class Block:
    rows: int
    min_start: int
    max_start: int
    services: list[str]
    models: list[str]
    chunks: list[Chunk] = field(default_factory=list)

    def chunk(self, name: str) -> Chunk:
        for c in self.chunks:
            if c.name == name:
                return c
        raise KeyError(f"no column {name!r} in block; have {[c.name for c in self.chunks]}")


@dataclass
class Segment:
    path: Path
    rows: int
    first_wal: int
    last_wal: int
    blocks: list[Block]
    footer_offset: int
    footer_length: int


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def varint(self) -> int:
        result = shift = 0
        while True:
            b = self.data[self.pos]
            self.pos += 1
            result |= (b & 0x7F) << shift
            if b < 0x80:
                return result
            shift += 7

    def byte(self) -> int:
        self.pos += 1
        return self.data[self.pos - 1]

    def fixed(self, fmt: str) -> int:
        (v,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return v

    def blob(self) -> bytes:
        n = self.varint()
        self.pos += n
        return self.data[self.pos - n: self.pos]


def parse_segment(path: Path) -> Segment:
    data = path.read_bytes()
    assert data[:4] == SEG_MAGIC and data[-4:] == SEG_MAGIC, f"{path.name} is not a segment"
    footer_length = struct.unpack_from("<I", data, len(data) - SEG_TRAILER)[0]
    footer_offset = len(data) - SEG_TRAILER - footer_length
    r = _Reader(data[footer_offset: footer_offset + footer_length])
    rows, first, last = r.varint(), r.fixed("<Q"), r.fixed("<Q")
    names = {}
    for _ in range(r.varint()):
        cid, _enc = r.byte(), r.byte()
        names[cid] = r.blob().decode()
    blocks = []
    for _ in range(r.varint()):
        brows, mn, mx = r.varint(), r.fixed("<Q"), r.fixed("<Q")
        services = [r.blob().decode() for _ in range(r.varint())]
        models = [r.blob().decode() for _ in range(r.varint())]
        block = Block(brows, mn, mx, services, models)
        for _ in range(r.varint()):
            cid, _enc, _comp = r.byte(), r.byte(), r.byte()
            off, length, raw_len, _nulls = r.varint(), r.varint(), r.varint(), r.varint()
            r.blob()
            r.blob()
            checksum_at = footer_offset + r.pos
            checksum = r.fixed("<I")
            block.chunks.append(Chunk(cid, names.get(cid, f"#{cid}"), off, length, raw_len, checksum, checksum_at))
        blocks.append(block)
    assert r.pos == footer_length, f"footer of {path.name} not fully parsed ({r.pos}/{footer_length})"
    return Segment(path, rows, first, last, blocks, footer_offset, footer_length)


def _crc32c_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C = _crc32c_table()


def crc32c(data: bytes) -> int:
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC32C[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def fix_checksums(seg: Segment, chunk: Chunk) -> None:
    """After damaging `chunk`, rewrite its CRC in the footer and the footer's CRC in the
    trailer, so the damage gets past every checksum (a test of the decoders)."""
    data = bytearray(seg.path.read_bytes())
    struct.pack_into("<I", data, chunk.checksum_at, crc32c(bytes(data[chunk.offset: chunk.offset + chunk.length])))
    footer = bytes(data[seg.footer_offset: seg.footer_offset + seg.footer_length])
    struct.pack_into("<I", data, len(data) - SEG_TRAILER + 4, crc32c(footer))
    seg.path.write_bytes(bytes(data))


def flip_byte(path: Path, offset: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0xFF]))


# --------------------------------------------------------------------------
# payloads
# --------------------------------------------------------------------------


def remap_ids(req: ExportTraceServiceRequest) -> ExportTraceServiceRequest:
    """A copy of `req` whose non-empty trace and span ids are replaced by fresh random
    ones, consistently (a parent or link pointing at a span of the request follows it)."""
    out = ExportTraceServiceRequest()
    out.CopyFrom(req)
    traces: dict[bytes, bytes] = {}
    spans: dict[bytes, bytes] = {}

    def tid(old: bytes) -> bytes:
        if not old:
            return old
        while old not in traces:
            new = os.urandom(16)
            if any(new):
                traces[old] = new
        return traces[old]

    def sid(old: bytes) -> bytes:
        if not old:
            return old
        while old not in spans:
            new = os.urandom(8)
            if any(new):
                spans[old] = new
        return spans[old]

    for rs in out.resource_spans:
        for ss in rs.scope_spans:
            for sp in ss.spans:
                sp.trace_id = tid(sp.trace_id)
                sp.span_id = sid(sp.span_id)
                sp.parent_span_id = sid(sp.parent_span_id)
                for ln in sp.links:
                    ln.trace_id = tid(ln.trace_id)
                    ln.span_id = sid(ln.span_id)
    return out


# --------------------------------------------------------------------------
# comparing stored traces with what was sent
# --------------------------------------------------------------------------


def group_by_trace(expected_spans: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = collections.defaultdict(list)
    for e in expected_spans:
        out[e["trace_id"]].append(e)
    return dict(out)


def trace_problems(doc: dict, trace_id: str, expected: list[dict]) -> list[str]:
    """Differences between one GET /api/v1/traces/{id} document and the spans expected in it."""
    errors: list[str] = []
    spans = doc.get("spans")
    if doc.get("trace_id") != trace_id:
        errors.append(f"trace {trace_id}: document trace_id is {doc.get('trace_id')!r}")
    if not isinstance(spans, list):
        return errors + [f"trace {trace_id}: spans is not a list: {spans!r}"]
    if doc.get("span_count") != len(spans):
        errors.append(f"trace {trace_id}: span_count {doc.get('span_count')!r} but {len(spans)} spans")
    if doc.get("warnings") != []:
        errors.append(f"trace {trace_id}: unexpected warnings {doc.get('warnings')!r}")
    by_key: dict = collections.defaultdict(list)
    for sp in spans:
        if sp.get("trace_id") != trace_id:
            errors.append(f"trace {trace_id}: holds a span of trace {sp.get('trace_id')!r}")
        by_key[sp.get("span_id")].append(sp)
    want = {e["span_id"] for e in expected}
    for sid, recs in by_key.items():
        if sid not in want:
            errors.append(f"trace {trace_id}: unexpected span {sid} {recs[0].get('name')!r}")
        elif len(recs) != 1:
            errors.append(f"trace {trace_id}: span {sid} returned {len(recs)} times")
    for e in expected:
        recs = by_key.get(e["span_id"])
        if not recs:
            errors.append(f"trace {trace_id}: span {e['span_id']} {e['name']!r} missing")
            continue
        errors.extend(check_span(recs[0], e))
    starts = [(sp.get("start_time_unix_nano"), sp.get("span_id")) for sp in spans]
    if [s for s, _ in starts] != sorted(s for s, _ in starts):
        errors.append(f"trace {trace_id}: spans not sorted by start time: {starts}")
    return errors


def assert_stored(srv, expected_spans: list[dict], phase: str) -> dict[str, dict]:
    """Every trace of `expected_spans` through the trace API: exactly the expected spans,
    field by field, no warnings. Returns trace id -> document."""
    errors: list[str] = []
    docs = {}
    for trace_id, spans in group_by_trace(expected_spans).items():
        r = srv.api_get(f"/api/v1/traces/{trace_id}")
        if r.status_code != 200:
            errors.append(f"trace {trace_id}: GET -> {r.status_code} {r.text[:300]}")
            continue
        docs[trace_id] = doc = parse_sink_line(r.text)
        errors.extend(trace_problems(doc, trace_id, spans))
    if errors:
        shown = "\n  ".join(errors[:60])
        more = f"\n  ... and {len(errors) - 60} more" if len(errors) > 60 else ""
        raise AssertionError(f"[{phase}] {len(errors)} difference(s) between the trace API and what was sent:"
                             f"\n  {shown}{more}")
    return docs

