#!/usr/bin/env python3
"""Cost-summary latency from the materialized tables, whatever the raw volume.

Fills a data directory's index with 30 days of rollups (minute, hour and day tables, GROUPS
dimension combinations per bucket), cost attribution rows (GROUPS users per hour) and the cost
by dimension computed from them by the jobs' own statements, starts the server on it, and times GET /api/v1/costs/summary for each group_by
over the 30 days (with and without an hourly series) and over ragged ranges. Prints one
markdown row per query shape with p50/p99 in milliseconds.

    scripts/bench_costs.py --bin .build-bench/release/pyflare [--groups 48] [--requests 300]
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "e2e"))
from harness import free_ports  # noqa: E402

MINUTE = 60_000_000_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR


def start(binary: str, arguments: list[str], env: dict, base: str) -> subprocess.Popen:
    """The server, once its API answers /health."""
    server = subprocess.Popen([binary, "serve", *arguments], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            if requests.get(f"{base}/health", timeout=1).ok:
                return server
        except requests.RequestException:
            time.sleep(0.1)
    server.kill()
    raise SystemExit(f"the server at {base} did not come up")


class SumSaturating:
    """The server's `sum_saturating` aggregate, which the jobs' statements use: `sum()` whose
    total stops at the ends of the 64-bit range instead of failing."""

    def __init__(self):
        self.total = None

    def step(self, value):
        if value is not None:
            self.total = max(-(1 << 63), min((1 << 63) - 1, (self.total or 0) + int(value)))

    def finalize(self):
        return self.total


def fill(db_path: Path, groups: int, days: int, end: int) -> int:
    db = sqlite3.connect(db_path)
    db.create_aggregate("sum_saturating", 1, SumSaturating)
    rng = random.Random(1)
    combos = [(f"svc-{i % 4}", f"model-{i % 8}", f"prov-{i % 3}", f"op-{i % 12}", ("prod", "staging")[i % 2],
               f"feature-{i % 6}", ("ok", "error")[i // 24 % 2]) for i in range(groups)]
    sketch = bytes([1, 0, 0, 0, 0, 0])
    rows = 0
    for table, width in [("rollup_1m", MINUTE), ("rollup_1h", HOUR), ("rollup_1d", DAY)]:
        batch = []
        for bucket in range(end - days * DAY, end, width):
            for combo in combos:
                n = rng.randint(1, 60) * width // MINUTE
                batch.append((bucket, *combo, n, n // 20, n * 900, n * 200, n * 50, 0, 0, n * 1500, n, 0, n * 700_000_000, sketch))
            if len(batch) > 50_000:
                db.executemany(f"INSERT INTO {table} VALUES ({','.join('?' * 20)})", batch)
                rows += len(batch)
                batch = []
        db.executemany(f"INSERT INTO {table} VALUES ({','.join('?' * 20)})", batch)
        rows += len(batch)
    batch = []
    for bucket in range(end - days * DAY, end, HOUR):
        for user in range(groups):
            batch.append((bucket, f"user-{user}", f"feature-{user % 6}", f"team-{user % 3}", 10, 9000, 2000, 500, 0, 15000, 0))
    db.executemany("INSERT INTO cost_attribution_1h VALUES (?,?,?,?,?,?,?,?,?,?,?)", batch)
    rows += len(batch)
    # The cost by dimension, from the tables above, by the jobs' own statements.
    queries = Path(__file__).resolve().parent.parent / "queries"
    for table, width in [("cost_by_dimension_1h", HOUR), ("cost_by_dimension_1d", DAY)]:
        statement = (queries / f"{table}.sql").read_text()
        db.execute(f"INSERT INTO {table} {statement}",
                   {"window_start_ns": end - days * DAY, "window_end_ns": end, "window_ns": width})
        rows += db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    db.commit()
    db.close()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--groups", type=int, default=48)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        api_port, http_port, grpc_port = free_ports(3)
        common = ["--data-dir", str(data), "--api-port", str(api_port), "--otlp-http-port", str(http_port),
                  "--otlp-grpc-port", str(grpc_port)]
        env = dict(os.environ, PYFLARE_SCHEDULER_ENABLED="false", PYFLARE_LOG_LEVEL="warning")
        # A first start creates index.db with every migration.
        base = f"http://127.0.0.1:{api_port}"
        server = start(args.bin, common, env, base)
        server.terminate()
        server.wait(30)

        end = (time.time_ns() // DAY) * DAY
        started = time.monotonic()
        rows = fill(data / "index.db", args.groups, args.days, end)
        print(f"filled {rows} rollup rows ({args.days} days, {args.groups} combinations) in {time.monotonic() - started:.1f}s",
              file=sys.stderr)

        server = start(args.bin, common, env, base)
        try:
            since = end - args.days * DAY
            shapes = [
                ("30 days by model", {"group_by": "model", "since": since, "until": end}),
                ("30 days by model, daily series", {"group_by": "model", "since": since, "until": end, "interval": "1d"}),
                ("30 days by service, hourly series", {"group_by": "service", "since": since, "until": end, "interval": "1h"}),
                ("30 days by user", {"group_by": "user", "since": since, "until": end}),
                ("30 days by team, daily series", {"group_by": "team", "since": since, "until": end, "interval": "1d"}),
                ("30 days by user, hourly series, top 10", {"group_by": "user", "since": since, "until": end, "interval": "1h", "limit": 10}),
                ("30 days by user, hourly series (the default: top 20 and the rest)", {"group_by": "user", "since": since, "until": end, "interval": "1h"}),
                (f"30 days by user, hourly series, all {args.groups} (`limit={args.groups}`)",
                 {"group_by": "user", "since": since, "until": end, "interval": "1h", "limit": args.groups}),
                ("29.9 days by provider (ragged edges)", {"group_by": "provider", "since": since + 37 * MINUTE, "until": end - 83 * MINUTE}),
            ]
            session = requests.Session()
            print("| query | p50 ms | p99 ms |")
            print("|---|---:|---:|")
            for name, params in shapes:
                for _ in range(10):
                    session.get(f"{base}/api/v1/costs/summary", params=params, timeout=30).raise_for_status()
                times = []
                for _ in range(args.requests):
                    t0 = time.perf_counter()
                    session.get(f"{base}/api/v1/costs/summary", params=params, timeout=30).raise_for_status()
                    times.append((time.perf_counter() - t0) * 1000)
                times.sort()
                p99 = times[min(len(times) - 1, int(0.99 * len(times)))]
                print(f"| {name} | {statistics.median(times):.2f} | {p99:.2f} |")
        finally:
            server.terminate()
            server.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
