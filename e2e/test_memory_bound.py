"""The byte bound of ingest (issue 28): a burst far above what the server may hold is answered
with back-pressure (429 with Retry-After), the server's memory stays near its bounds instead of
growing with the burst, and every acknowledged span is readable afterwards."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import requests

from harness import STORE_CONFIG, merge_config
from otlp_helpers import make_request, make_span
from store_helpers import wait_until

MiB = 1 << 20
# Small bounds, so a burst of a few hundred MB is many times what the server may hold.
BOUNDED = merge_config(STORE_CONFIG, {"batcher": {"max_queued_bytes": 4 * MiB},
                                      "segments": {"max_bytes": 4 * MiB, "max_unsealed_bytes": 12 * MiB}})


def memory_kib(pid: int, field: str) -> int:
    """`VmRSS` (now) or `VmHWM` (peak) of a process, in KiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def test_a_burst_far_above_the_bound_gets_back_pressure_and_memory_stays_bounded(start_server):
    srv = start_server(BOUNDED, name="bounded")
    pid = srv.proc.pid
    accepted, refused, lock = [0], [0], threading.Lock()
    send_fresh(srv, -1, accepted, refused, lock)  # the first request's allocations belong to the baseline
    assert accepted[0] == 400
    baseline = memory_kib(pid, "VmRSS")
    # 240 requests of ~1 MB, 16 at a time: about 250 MB, sixteen times what the server may hold
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda i: send_fresh(srv, i, accepted, refused, lock), range(240)))
    peak = memory_kib(pid, "VmHWM")
    assert refused[0] > 0, "the burst is many times the bound: some requests get 429"
    assert accepted[0] > 400
    # The server may hold 4 MiB queued and 12 MiB unsealed, plus a seal in progress and the
    # requests being read: its peak stays within 160 MiB of where it started.
    assert peak - baseline < 160 * 1024, f"peak {peak // 1024} MiB, started at {baseline // 1024} MiB"

    def stored() -> int:
        return requests.post(f"{srv.api_base}/api/v1/sql", json={"sql": "SELECT count(*) FROM spans WHERE service = 'burst'"},
                             timeout=30).json()["rows"][0][0]
    wait_until(lambda: stored() == accepted[0], timeout=60, what="every acknowledged span readable")
    srv.restart()
    assert stored() == accepted[0], "and after a restart, from the segments"


def send_fresh(srv, index: int, accepted: list, refused: list, lock) -> None:
    """Request `index`: 400 spans with ids of their own and ~1 MB of distinct text."""
    rng = random.Random(index)
    text = "".join(rng.choice("abcdefghij klmnop") for _ in range(2500))
    spans = [make_span(name="llm call", start=1_765_000_000_000_000_000 + index * 1_000_000 + n,
                       attributes={"gen_ai.prompt": text + str(n), "request.index": index})
             for n in range(400)]
    body = make_request(spans, service="burst").SerializeToString()
    r = requests.post(srv.traces_url, data=body, headers={"Content-Type": "application/x-protobuf"}, timeout=60)
    with lock:
        if r.status_code == 200:
            accepted[0] += len(spans)
        else:
            assert r.status_code == 429 and r.headers.get("Retry-After"), (r.status_code, r.text[:200])
            refused[0] += len(spans)
