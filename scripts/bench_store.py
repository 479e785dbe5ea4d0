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
  bench_store.py markers --loadgen PATH --endpoint URL --api URL --word W --share F --rare-word R --rare N --until-spans T
      Runs beside a loadgen run: keeps spans holding word W at share F of the spans the server
      accepted (read from /metrics), and sends N spans holding word R spread over the run, each
      a one-span trace of one of the load's services in its 2-hour window; stops once T spans
      were accepted.
  bench_store.py search --api URL --words W,… [--runs N]
      Times GET /api/v1/traces?q=W&limit=50 for each word (best and worst of N) and prints
      markdown table rows with the traces found and the blocks read and skipped.
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


def timed_get(conn, path: str, what: str) -> tuple[float, dict]:
    """GET `path` on a keep-alive connection: the milliseconds it took and the JSON answer."""
    started = time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status != 200:
        sys.exit(f"{what}: HTTP {response.status} for {path}: {body[:200]!r}")
    return elapsed, json.loads(body)


def lookup(args) -> None:
    ids = [line.strip() for line in open(args.ids) if line.strip()]
    random.Random(5).shuffle(ids)
    ids = ids[: args.samples]
    url = urllib.parse.urlparse(args.api)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    times, spans = [], 0
    for trace_id in ids:
        elapsed, answer = timed_get(conn, f"/api/v1/traces/{trace_id}", "lookup")
        times.append(elapsed)
        spans += answer["span_count"]
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


def accepted(conn) -> int:
    conn.request("GET", "/metrics")
    for line in conn.getresponse().read().decode().splitlines():
        if line.startswith("pyflare_spans_accepted_total"):
            return int(float(line.split()[-1]))
    return 0


def marker_request(word: str, count: int, rng: random.Random, services: list[str],
                   window_ns: int = 7200 * 10**9) -> bytes:
    """`count` one-span traces holding `word`, under the load's own services: a segment sorts
    its spans by service, so markers of a service of their own would share a few blocks."""
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
    from opentelemetry.proto.common.v1 import common_pb2
    from opentelemetry.proto.trace.v1 import trace_pb2
    request = trace_service_pb2.ExportTraceServiceRequest()
    now = time.time_ns()
    for _ in range(count):
        resource = request.resource_spans.add()
        resource.resource.attributes.add(key="service.name", value=common_pb2.AnyValue(string_value=rng.choice(services)))
        scope = resource.scope_spans.add()
        start = now - rng.randrange(window_ns)
        span = scope.spans.add(trace_id=rng.randbytes(16), span_id=rng.randbytes(8), name="chat gpt-4o-mini",
                               kind=trace_pb2.Span.SPAN_KIND_CLIENT, start_time_unix_nano=start,
                               end_time_unix_nano=start + 800_000_000)
        prompt = json.dumps([{"role": "user", "parts": [{"type": "text", "content": f"why did the {word} step fail again"}]}])
        span.attributes.add(key="gen_ai.input.messages", value=common_pb2.AnyValue(string_value=prompt))
    return request.SerializeToString()


def markers(args) -> None:
    api = urllib.parse.urlparse(args.api)
    otlp = urllib.parse.urlparse(args.endpoint)
    metrics = http.client.HTTPConnection(api.hostname, api.port, timeout=60)
    services = [service[0] for service in load_loadgen(args.loadgen).SERVICES]
    sender = http.client.HTTPConnection(otlp.hostname, otlp.port, timeout=60)
    rng = random.Random(7)

    def send(word: str, count: int) -> None:
        sender.request("POST", otlp.path or "/v1/traces", body=marker_request(word, count, rng, services),
                       headers={"Content-Type": "application/x-protobuf"})
        response = sender.getresponse()
        response.read()
        if response.status != 200:
            sys.exit(f"markers: HTTP {response.status}")

    sent = rare = 0
    while True:
        total = accepted(metrics)
        if total >= args.until_spans:
            break
        want = int(total * args.share)
        if want > sent:
            send(args.word, want - sent)
            sent = want
        if rare < args.rare and total >= (rare + 0.5) * args.until_spans / args.rare:
            send(args.rare_word, 1)
            rare += 1
        time.sleep(0.05)
    while rare < args.rare:
        send(args.rare_word, 1)
        rare += 1
    print(json.dumps({"word": args.word, "spans": sent, "rare_word": args.rare_word, "rare_spans": rare}))


def search(args) -> None:
    url = urllib.parse.urlparse(args.api)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=600)
    for word in args.words.split(","):
        times, answer = [], None
        for _ in range(args.runs):
            elapsed, answer = timed_get(conn, f"/api/v1/traces?q={urllib.parse.quote(word)}&limit=50", "search")
            times.append(elapsed)
        stats = answer["search"]
        print(f"| search \"{word}\", first page | {min(times):,.0f} ms (worst of {args.runs}: {max(times):,.0f} ms); "
              f"{len(answer['traces'])} traces, {stats['spans_matched']:,} spans matched; {stats['blocks_read']:,} blocks read, "
              f"{stats['blocks_skipped']:,} skipped by their word filter; {stats['segments_searched']} of "
              f"{stats['segments_in_range']} segments |")


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
    p = sub.add_parser("markers")
    p.add_argument("--loadgen", required=True)
    p.add_argument("--endpoint", required=True)
    p.add_argument("--api", required=True)
    p.add_argument("--word", required=True)
    p.add_argument("--share", type=float, default=0.001)
    p.add_argument("--rare-word", required=True)
    p.add_argument("--rare", type=int, default=10)
    p.add_argument("--until-spans", type=int, required=True)
    p = sub.add_parser("search")
    p.add_argument("--api", required=True)
    p.add_argument("--words", required=True)
    p.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    {"no-text": no_text, "lookup": lookup, "payloads": payloads, "sql": sql, "markers": markers,
     "search": search}[args.command](args)


if __name__ == "__main__":
    main()
