#!/usr/bin/env python3
"""Store benchmarks that loadgen.py does not cover.

  bench_store.py no-text --loadgen PATH --endpoint URL --spans N
      Posts the reference workload with every large text removed (string values of 256
      bytes or more, and the prompt/completion/document keys), for bytes-per-span
      without large text.
  bench_store.py lookup --api URL --ids FILE --samples N
      Times GET /api/v1/traces/{id} for trace ids from FILE (loadgen --ids-out), one
      keep-alive connection, and prints p50/p99 in ms as JSON.
  bench_store.py payloads --loadgen PATH --out DIR --count N
      Writes N distinct 500-span protobuf payloads of the reference workload to
      DIR/pool-NN.pb, for the store's in-process benchmarks (WAL record, segment build).
  bench_store.py sql --pyflare BIN --data DIR [--runs N]
      Times `pyflare sql` (the engine's own elapsed_ms, best of N) on the stored spans: the
      per-model aggregate over everything, and the same bounded to 1% of the time range;
      prints markdown table rows with spans/s and the blocks read.
"""
from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import random
import subprocess
import sys
import time
import urllib.parse

LARGE_KEYS = {
    "gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions", "gen_ai.prompt",
    "gen_ai.completion", "input.value", "output.value", "gen_ai.retrieval.documents",
    "gen_ai.tool.call.arguments", "gen_ai.tool.call.result", "gen_ai.retrieval.query.text",
}


def is_large(key, value) -> bool:
    return key in LARGE_KEYS or (isinstance(value, str) and len(value.encode()) >= 256)


def load_loadgen(path: str):
    spec = importlib.util.spec_from_file_location("loadgen", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def no_text(args) -> None:
    lg = load_loadgen(args.loadgen)
    gen = lg.TraceGen(seed=11, now_ns=time.time_ns())
    url = urllib.parse.urlparse(args.endpoint)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    sent = 0
    while sent < args.spans:
        batch = []
        while len(batch) < args.batch:
            batch.extend(gen.trace())
        for span in batch:
            span.attrs = [(k, v) for k, v in span.attrs if not is_large(k, v)]
            span.events = [(name, ts, [(k, v) for k, v in attrs if not is_large(k, v)]) for name, ts, attrs in span.events]
        body = lg.build_request(batch).SerializeToString()
        conn.request("POST", url.path, body, {"Content-Type": "application/x-protobuf"})
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            sys.exit(f"no-text: HTTP {response.status}")
        sent += len(batch)
    print(json.dumps({"spans_sent": sent}))


def lookup(args) -> None:
    ids = [line.strip() for line in open(args.ids) if line.strip()]
    random.Random(5).shuffle(ids)
    ids = ids[: args.samples]
    url = urllib.parse.urlparse(args.api)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    times, spans = [], 0
    for trace_id in ids:
        started = time.perf_counter()
        conn.request("GET", f"/api/v1/traces/{trace_id}")
        response = conn.getresponse()
        body = response.read()
        times.append((time.perf_counter() - started) * 1000)
        if response.status != 200:
            sys.exit(f"lookup: HTTP {response.status} for {trace_id}: {body[:200]!r}")
        spans += json.loads(body)["span_count"]
    times.sort()
    pick = lambda q: round(times[min(len(times) - 1, int(q * len(times)))], 2)
    print(json.dumps({"lookups": len(times), "spans_returned": spans, "p50_ms": pick(0.50), "p99_ms": pick(0.99),
                      "max_ms": round(times[-1], 2)}))


def payloads(args) -> None:
    lg = load_loadgen(args.loadgen)
    pool = lg.build_pool(args.count, 500, 7, time.time_ns(), False, False)
    for index, payload in enumerate(pool):
        with open(f"{args.out}/pool-{index:02d}.pb", "wb") as f:
            f.write(payload.body)


def run_sql(binary: str, data: str, statement: str, params: list[str] = ()) -> dict:
    args = [binary, "sql", "--data-dir", data, "--format", "json", "--timeout-ms", "3600000", statement]
    for param in params:
        args += ["--param", str(param)]
    out = subprocess.run(args, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def sql(args) -> None:
    spans = run_sql(args.pyflare, args.data, "SELECT count(*) FROM spans")["rows"][0][0]
    low, high = run_sql(args.pyflare, args.data,
                        "SELECT min(min_time_ns), max(max_time_ns) FROM segments WHERE kind = 'spans' AND state = 'active'")["rows"][0]
    aggregate = "SELECT model, count(*), sum(cost_micros) FROM spans"
    cases = [
        (f"`{aggregate} GROUP BY model`, {spans:,} spans", aggregate + " GROUP BY model", []),
        ("the same with `WHERE start_time_ns >= ? AND start_time_ns < ?` over 1% of the time range",
         aggregate + " WHERE start_time_ns >= ? AND start_time_ns < ? GROUP BY model", [low, low + (high - low) // 100]),
    ]
    for label, statement, params in cases:
        best = min((run_sql(args.pyflare, args.data, statement, params) for _ in range(args.runs)),
                   key=lambda result: result["elapsed_ms"])
        scanned = best["scan"]["rows_scanned"]
        rate = scanned / (best["elapsed_ms"] / 1000) if best["elapsed_ms"] else 0
        print(f"| SQL {label}, one core | {best['elapsed_ms']:,.0f} ms, {rate / 1e6:.1f} M spans/s scanned "
              f"({scanned:,} spans; {best['scan']['blocks_read']:,} blocks read, {best['scan']['blocks_skipped']:,} skipped) |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("no-text")
    p.add_argument("--loadgen", required=True)
    p.add_argument("--endpoint", required=True)
    p.add_argument("--spans", type=int, default=100_000)
    p.add_argument("--batch", type=int, default=500)
    p = sub.add_parser("lookup")
    p.add_argument("--api", required=True)
    p.add_argument("--ids", required=True)
    p.add_argument("--samples", type=int, default=2000)
    p = sub.add_parser("payloads")
    p.add_argument("--loadgen", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--count", type=int, default=20)
    p = sub.add_parser("sql")
    p.add_argument("--pyflare", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    {"no-text": no_text, "lookup": lookup, "payloads": payloads, "sql": sql}[args.command](args)


if __name__ == "__main__":
    main()
