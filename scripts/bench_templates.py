#!/usr/bin/env python3
"""Accuracy and speed of failure clustering's template miner on the Loghub 2k samples.

For each system of ../shared/benchmarks/loghub-2k (or --data), feeds the `Content` column to
`pyflare templates --ids --text` and computes, as the Loghub-2.0 evaluation does (Jiang et al.,
"A Large-scale Evaluation for Log Parsing Techniques: How Far are We?", ISSTA 2024):
- GA, grouping accuracy: a message is right when its predicted group holds exactly the
  messages of its ground-truth EventId;
- FGA, the F1 of grouping accuracy: of the predicted groups and of the true ones, the share
  that are exactly a true group (precision, recall), then their harmonic mean;
- PA, parsing accuracy: a message is right when its template text is exactly its EventTemplate
  (`<*>` for each variable).
Drain's published figures stand beside them. Then times the miner over all systems' messages
repeated --repeat times. Prints markdown.

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

# Drain (depth 4, similarity 0.5, per-dataset regular expressions) on these samples: GA from
# the logparser benchmark (Zhu et al., ICSE-SEIP 2019), FGA and PA from the Loghub-2.0
# evaluation's Loghub-2k column (logpai/loghub-2.0, RQs_experiments/RQ2/effectiveness_results.csv).
DRAIN = {  # system: (GA, FGA, PA)
    "HDFS": (0.9975, 0.839, 0.500), "Spark": (0.9200, 0.870, 0.362), "BGL": (0.9625, 0.833, 0.342),
    "OpenStack": (0.7325, 0.117, 0.018), "Linux": (0.6900, 0.930, 0.183), "Apache": (1.0000, 1.000, 0.694),
    "Mac": (0.7865, 0.797, 0.217), "OpenSSH": (0.7875, 0.880, 0.508),
}


def accuracies(predicted: list[str], templates: list[str], rows: list[dict]) -> tuple[float, float, float]:
    """GA, FGA and PA of one system."""
    by_prediction, by_truth = defaultdict(set), defaultdict(set)
    for line, (p, r) in enumerate(zip(predicted, rows)):
        by_prediction[p].add(line)
        by_truth[r["EventId"]].add(line)
    grouped = sum(1 for p, r in zip(predicted, rows) if by_prediction[p] == by_truth[r["EventId"]])
    exact_groups = sum(1 for members in by_truth.values() if by_prediction[predicted[next(iter(members))]] == members)
    precision, recall = exact_groups / len(by_prediction), exact_groups / len(by_truth)
    f1 = 2 * precision * recall / (precision + recall) if exact_groups else 0.0
    parsed = sum(1 for t, r in zip(templates, rows) if t == r["EventTemplate"])
    return grouped / len(rows), f1, parsed / len(rows)


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

    print("| system | messages | templates (truth) | GA | Drain GA | FGA | Drain FGA | PA | Drain PA |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    totals, drain_totals, everything = [0.0] * 3, [0.0] * 3, []
    for system, drain in DRAIN.items():
        with open(data / system / f"{system}_2k.log_structured.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        messages = [r["Content"].replace("\n", " ") for r in rows]
        everything += messages
        out = subprocess.run([args.bin, "templates", "--ids", "--text", "--similarity", args.similarity],
                             input="\n".join(messages) + "\n", capture_output=True, text=True, check=True)
        lines = out.stdout.split("\n")[:-1]
        assert len(lines) == len(messages), (system, len(lines), len(messages))
        predicted, templates = zip(*(line.split("\t", 1) for line in lines))
        measured = accuracies(list(predicted), list(templates), rows)
        totals = [t + m for t, m in zip(totals, measured)]
        drain_totals = [t + d for t, d in zip(drain_totals, drain)]
        ga, fga, pa = measured
        print(f"| {system} | {len(messages)} | {len(set(predicted))} ({len({r['EventId'] for r in rows})}) "
              f"| {ga:.4f} | {drain[0]:.4f} | {fga:.4f} | {drain[1]:.3f} | {pa:.4f} | {drain[2]:.3f} |")
    n = len(DRAIN)
    print(f"| **mean** | | | **{totals[0] / n:.4f}** | {drain_totals[0] / n:.4f} | **{totals[1] / n:.4f}** "
          f"| {drain_totals[1] / n:.3f} | **{totals[2] / n:.4f}** | {drain_totals[2] / n:.3f} |")

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
