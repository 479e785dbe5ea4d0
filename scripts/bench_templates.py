#!/usr/bin/env python3
"""Grouping accuracy and speed of failure clustering's template miner on the Loghub 2k samples.

For each system of ../shared/benchmarks/loghub-2k (or --data), feeds the `Content` column to
`pyflare templates --ids` and computes the grouping accuracy (GA: a message is right when its
predicted group holds exactly the messages of its ground-truth EventId), next to Drain's
published figure. Then times the miner over all systems' messages repeated --repeat times.
Prints markdown.

    scripts/bench_templates.py --bin .build-bench/release/pyflare [--similarity 0.6]
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

# Drain (depth 4, similarity 0.5, per-dataset regular expressions), from the logparser benchmark.
DRAIN = {"HDFS": 0.9975, "Spark": 0.9200, "BGL": 0.9625, "OpenStack": 0.7325, "Linux": 0.6900,
         "Apache": 1.0000, "Mac": 0.7865, "OpenSSH": 0.7875}


def grouping_accuracy(predicted: list[str], truth: list[str]) -> float:
    by_prediction, by_truth = defaultdict(set), defaultdict(set)
    for line, (p, t) in enumerate(zip(predicted, truth)):
        by_prediction[p].add(line)
        by_truth[t].add(line)
    right = sum(1 for p, t in zip(predicted, truth) if by_prediction[p] == by_truth[t])
    return right / len(truth)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--data", default=str(Path(__file__).resolve().parent.parent.parent / "shared/benchmarks/loghub-2k"))
    parser.add_argument("--similarity", default="0.6")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    data = Path(args.data)
    if not data.is_dir():
        print(f"no Loghub samples at {data}; skipped", file=sys.stderr)
        return 0

    print("| system | messages | templates (truth) | PyFlare GA | Drain GA |")
    print("|---|---:|---:|---:|---:|")
    total, drain_total, everything = 0.0, 0.0, []
    for system in DRAIN:
        with open(data / system / f"{system}_2k.log_structured.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        messages = [r["Content"].replace("\n", " ") for r in rows]
        everything += messages
        out = subprocess.run([args.bin, "templates", "--ids", "--similarity", args.similarity],
                             input="\n".join(messages) + "\n", capture_output=True, text=True, check=True)
        predicted = out.stdout.split()
        assert len(predicted) == len(messages), (system, len(predicted), len(messages))
        accuracy = grouping_accuracy(predicted, [r["EventId"] for r in rows])
        total += accuracy
        drain_total += DRAIN[system]
        print(f"| {system} | {len(messages)} | {len(set(predicted))} ({len({r['EventId'] for r in rows})}) "
              f"| {accuracy:.4f} | {DRAIN[system]:.4f} |")
    print(f"| **mean** | | | **{total / len(DRAIN):.4f}** | {drain_total / len(DRAIN):.4f} |")

    with tempfile.NamedTemporaryFile("w", suffix=".log") as f:
        f.write("\n".join(everything * args.repeat) + "\n")
        f.flush()
        out = subprocess.run([args.bin, "templates", "--similarity", args.similarity, f.name],
                             capture_output=True, text=True, check=True)
    print()
    print(f"Throughput, one core: {out.stderr.strip()} ({len(everything)} messages of all systems, {args.repeat} times).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
