#!/usr/bin/env python3
"""OTLP/gRPC ingest load: the reference workload of ../shared/bench/loadgen.py sent as
TraceService/Export calls over grpcio, for the gRPC figure next to loadgen's HTTP one.

  bench_grpc.py --loadgen PATH --endpoint HOST:PORT --spans N [--concurrency 4] [--gzip]

Builds the same pool of 500-span protobuf payloads as loadgen (seed 1), sends them over
`concurrency` channels (one thread each, unary calls, payload bytes passed through
unserialized), and prints spans/s acknowledged and call latency percentiles as JSON.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import threading
import time

import grpc

METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loadgen", required=True)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--spans", type=int, default=200_000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--pool", type=int, default=200)
    parser.add_argument("--gzip", action="store_true")
    args = parser.parse_args()

    spec = importlib.util.spec_from_file_location("loadgen", args.loadgen)
    loadgen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loadgen)
    requests = max(1, args.spans // 500)
    pool = loadgen.build_pool(min(args.pool, requests), 500, 1, time.time_ns(), False, False)
    compression = grpc.Compression.Gzip if args.gzip else grpc.Compression.NoCompression

    lock = threading.Lock()
    state = {"next": 0, "ok": 0, "spans": 0, "errors": {}}
    latencies: list[float] = []

    def worker() -> None:
        channel = grpc.insecure_channel(args.endpoint, options=[("grpc.max_send_message_length", 64 << 20)])
        export = channel.unary_unary(METHOD)
        while True:
            with lock:
                index = state["next"]
                if index >= requests:
                    break
                state["next"] += 1
            payload = pool[index % len(pool)]
            started = time.perf_counter()
            try:
                export(payload.body, timeout=60, compression=compression)
                elapsed = time.perf_counter() - started
                with lock:
                    state["ok"] += 1
                    state["spans"] += payload.nspans
                    latencies.append(elapsed)
            except grpc.RpcError as error:
                with lock:
                    state["errors"][error.code().name] = state["errors"].get(error.code().name, 0) + 1
        channel.close()

    threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    pick = lambda q: round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 1) if latencies else None
    print(json.dumps({"spans_acked": state["spans"], "calls_ok": state["ok"], "errors": state["errors"],
                      "seconds": round(elapsed, 2), "spans_per_s": round(state["spans"] / elapsed),
                      "p50_ms": pick(0.5), "p99_ms": pick(0.99)}))


if __name__ == "__main__":
    main()
