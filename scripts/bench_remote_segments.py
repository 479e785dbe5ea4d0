#!/usr/bin/env python3
"""Remote segments (`storage.remote`): loadgen's reference workload, timestamped hours ago,
sealed, then moved to SeaweedFS (S3 on the same cores) by the segment_offload job; the same
SQL statements and trace lookups timed over the local files, over the bucket with a cold cache
(deleted, server restarted) and with a warm one, with the bytes fetched from the bucket.

  bench_remote_segments.py --bin PATH --loadgen PATH [--spans 300000]

Prints Markdown table rows.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "e2e"))

import requests  # noqa: E402

from harness import STORE_CONFIG, PyflareServer, merge_config  # noqa: E402
from s3_helpers import S3_ACCESS_KEY, S3_SECRET_KEY, SeaweedFS  # noqa: E402

BUCKET = "bench-segments"
STATEMENTS = {
    "count and token sum (2 columns)": "SELECT count(*), sum(input_tokens) FROM spans",
    "cost by model (3 columns)": "SELECT model, count(*), sum(cost_micros) FROM spans GROUP BY model",
}


def timed(call) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def sql(srv: PyflareServer, statement: str) -> list:
    r = requests.post(f"{srv.api_base}/api/v1/sql", json={"sql": statement}, timeout=300)
    r.raise_for_status()
    return r.json()["rows"]


def trace(srv: PyflareServer, trace_id: str) -> None:
    requests.get(f"{srv.api_base}/api/v1/traces/{trace_id}", timeout=60).raise_for_status()


def fetched(srv: PyflareServer) -> tuple[float, float]:
    m = srv.metrics()
    return m.total("pyflare_remote_segment_fetches_total"), m.total("pyflare_remote_segment_fetched_bytes_total")


def run_job(srv: PyflareServer, name: str) -> dict:
    before = requests.get(f"{srv.api_base}/api/v1/jobs/{name}/runs", timeout=10).json()["runs"]
    last = before[0]["id"] if before else 0
    requests.post(f"{srv.api_base}/api/v1/jobs/{name}/run", timeout=10).raise_for_status()
    while True:
        runs = requests.get(f"{srv.api_base}/api/v1/jobs/{name}/runs", timeout=10).json()["runs"]
        if runs and runs[0]["id"] > last and runs[0]["status"] != "running":
            assert runs[0]["status"] == "ok", runs[0]
            return runs[0]
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True)
    parser.add_argument("--loadgen", required=True)
    parser.add_argument("--spans", type=int, default=300_000)
    parser.add_argument("--traces", type=int, default=20, help="trace lookups timed")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="pyflare-bench-remote-"))
    s3 = SeaweedFS(work / "seaweedfs", [BUCKET]).start()
    config = merge_config(STORE_CONFIG, {"scheduler": {"enabled": False}, "storage": {"remote": {
        "after": "1h", "s3": {"endpoint": s3.endpoint, "bucket": BUCKET, "access_key_id": S3_ACCESS_KEY, "secret_access_key": S3_SECRET_KEY}}}})
    srv = PyflareServer(Path(args.bin).resolve(), work / "server", config, name="remote")
    try:
        srv.start()
        ids = work / "ids.txt"
        subprocess.run([sys.executable, args.loadgen, "--endpoint", srv.traces_url, "--spans", str(args.spans), "--batch", "500",
                        "--concurrency", "4", "--pool", str(max(1, args.spans // 500)), "--now", str(time.time() - 6 * 3600),
                        "--ids-out", str(ids)], capture_output=True, text=True, check=True)
        srv.restart()  # everything sealed
        trace_ids = ids.read_text().split()[:: max(1, len(ids.read_text().split()) // args.traces)][: args.traces]
        segments = sorted((srv.data_dir / "segments").glob("*.seg"))
        segment_bytes = sum(p.stat().st_size for p in segments)

        def measure() -> dict:
            row = {name: [timed(lambda s=statement: sql(srv, s)) for _ in range(3)] for name, statement in STATEMENTS.items()}
            row["trace lookup"] = [statistics.mean(timed(lambda t=t: trace(srv, t)) for t in trace_ids)]
            return row

        answers = [sql(srv, s) for s in STATEMENTS.values()]
        local = measure()
        offload_ms = timed(lambda: run_job(srv, "segment_offload"))
        assert not list((srv.data_dir / "segments").glob("*.seg")), "every segment moved"

        srv.stop_ok()
        for f in (srv.data_dir / "remote-cache").iterdir():
            f.unlink()
        srv.start()
        cold, cold_bytes = {}, {}
        for name, statement in STATEMENTS.items():
            before = fetched(srv)[1]
            cold[name] = timed(lambda s=statement: sql(srv, s))
            cold_bytes[name] = fetched(srv)[1] - before
        before = fetched(srv)[1]
        cold["trace lookup"] = statistics.mean(timed(lambda t=t: trace(srv, t)) for t in trace_ids)
        cold_bytes["trace lookup"] = (fetched(srv)[1] - before) / len(trace_ids)
        warm = measure()
        assert [sql(srv, s) for s in STATEMENTS.values()] == answers, "the bucket answers as the local files did"
        requests_total, bytes_total = fetched(srv)

        print(f"| Moving {len(segments)} segments ({segment_bytes / 1e6:.1f} MB, {args.spans:,} spans) to the bucket "
              f"(segment_offload: upload, verify, index, remove) | {offload_ms / 1000:.2f} s, {segment_bytes / 1e6 / (offload_ms / 1000):.1f} MB/s |")
        for name in [*STATEMENTS, "trace lookup"]:
            print(f"| {name}: local / remote cold / remote warm | {statistics.median(local[name]):.1f} / {cold[name]:.1f} / "
                  f"{statistics.median(warm[name]):.1f} ms; cold fetched {cold_bytes[name] / 1e6:.2f} MB |")
        print(f"| All of the above from a cold cache | {requests_total:.0f} ranged GETs, {bytes_total / 1e6:.1f} MB of "
              f"{segment_bytes / 1e6:.1f} MB of segments |")
    finally:
        if srv.running:
            srv.stop()
        s3.stop()


if __name__ == "__main__":
    main()
