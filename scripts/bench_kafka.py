#!/usr/bin/env python3
"""The Kafka tier's throughput: loadgen's reference workload into an exporter node
(`sink.kind: kafka`), then a storage node (`receivers.kafka`, the durable store) consuming the
backlog, through Tansu (in memory: the broker's own storage is not what is measured).

  bench_kafka.py --bin PATH --loadgen PATH [--spans 300000] [--storage memory|s3]

Prints a Markdown table: spans/s acknowledged by the exporter node (every span acknowledged
by the broker first) and spans/s stored by the storage node catching up on the topic.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "e2e"))

import requests  # noqa: E402

from harness import STORE_CONFIG, PyflareServer, merge_config  # noqa: E402
from kafka_helpers import Tansu, librdkafka_dir  # noqa: E402
from s3_helpers import SeaweedFS  # noqa: E402

TOPICS = {"spans": "bench-spans", "logs": "bench-logs", "metrics": "bench-metrics"}


def count(srv: PyflareServer) -> int:
    r = requests.post(f"{srv.api_base}/api/v1/sql", json={"sql": "SELECT count(*) FROM spans"}, timeout=60)
    r.raise_for_status()
    return r.json()["rows"][0][0]


def peak_rss_mib(srv: PyflareServer) -> float:
    for line in Path(f"/proc/{srv.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(srv: PyflareServer) -> float:
    fields = Path(f"/proc/{srv.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks of 1/100 s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True)
    parser.add_argument("--loadgen", required=True)
    parser.add_argument("--spans", type=int, default=300_000)
    parser.add_argument("--storage", choices=["memory", "s3"], default="memory")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="pyflare-bench-kafka-"))
    env = {"LD_LIBRARY_PATH": str(librdkafka_dir(work))}
    s3 = SeaweedFS(work / "seaweedfs", ["tansu"]).start() if args.storage == "s3" else None
    broker = Tansu(work / "tansu", s3).start()
    servers: list[PyflareServer] = []
    try:
        broker.create_topics(list(TOPICS.values()), partitions=4)
        exporter = PyflareServer(Path(args.bin).resolve(), work / "exporter", {
            "sink": {"kind": "kafka"}, "exporters": {"kafka": {"brokers": broker.bootstrap, "topics": TOPICS}}}, name="exporter", env=env)
        servers.append(exporter.start())
        out = subprocess.run([sys.executable, args.loadgen, "--endpoint", exporter.traces_url, "--spans", str(args.spans),
                              "--batch", "500", "--concurrency", "4", "--pool", str(max(1, args.spans // 500)), "--retries", "20"],
                             capture_output=True, text=True, check=True).stdout
        produced = float(re.search(r"throughput:\s+([\d.]+) spans/s", out).group(1))
        statuses = re.search(r"status histogram:\s+(.*)", out).group(1).strip()
        exporter_rss, exporter_cpu = peak_rss_mib(exporter), cpu_seconds(exporter)
        exporter.stop_ok()

        storage = PyflareServer(Path(args.bin).resolve(), work / "storage", merge_config(STORE_CONFIG, {
            "receivers": {"kafka": {"brokers": broker.bootstrap, "topics": TOPICS, "group_id": "bench"}}}), name="storage", env=env)
        started = time.monotonic()
        servers.append(storage.start())
        if os.environ.get("BENCH_KAFKA_PERF"):
            subprocess.Popen(["perf", "record", "-g", "-o", os.environ["BENCH_KAFKA_PERF"], "-p", str(storage.proc.pid), "--", "sleep", "40"])
        first = None
        while True:
            stored = count(storage)
            if stored and first is None:
                first = time.monotonic()  # the group's first assignment takes seconds; not consumption
            if stored >= args.spans:
                break
            if time.monotonic() - started > 900:
                raise SystemExit(f"the storage node stored {stored} of {args.spans} spans in 900 s")
            time.sleep(0.25)
        done = time.monotonic()
        consumed = args.spans / (done - first)
        storage_rss, storage_cpu = peak_rss_mib(storage), cpu_seconds(storage)
        print(f"| Kafka exporter node, {args.spans:,} spans (batch 500, 4 connections), Tansu {args.storage} | "
              f"{produced:,.0f} spans/s acknowledged ({statuses}); peak RSS {exporter_rss:.0f} MiB, "
              f"{exporter_cpu / args.spans * 1e6:.1f} µs CPU/span |")
        print(f"| Kafka storage node catching up on those {args.spans:,} spans (durable store) | "
              f"{consumed:,.0f} spans/s stored (first span after {first - started:.1f} s: joining the group); "
              f"peak RSS {storage_rss:.0f} MiB, {storage_cpu / args.spans * 1e6:.1f} µs CPU/span |")
    finally:
        for srv in servers:
            if srv.running:
                srv.stop()
        broker.stop()
        if s3:
            s3.stop()


if __name__ == "__main__":
    main()
