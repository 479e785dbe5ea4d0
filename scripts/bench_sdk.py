#!/usr/bin/env python3
"""Overhead of the Python SDK (sdk/python): a decorated call against a plain one, and one
instrumented OpenAI / Anthropic request against the same request uninstrumented.

    e2e/.venv/bin/python scripts/bench_sdk.py [--calls 200000] [--requests 400]

Spans go through the SDK's real pipeline (sampler, PyFlare's span processor, BatchSpanProcessor)
into an exporter that drops them, so what is measured is the SDK's own cost on the calling thread,
not the network or a server. The requests go to the provider stub of the e2e tests on loopback
(e2e/provider_stub.py) with the real `openai` and `anthropic` clients. Prints Markdown rows for
docs/benchmarks.md. Each figure is the best of 5 rounds (the mean of one round of --calls calls, or
the median of --requests requests), so that other work on the machine inflates it less.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# A tight loop makes spans faster than the batch processor's thread takes them (2,048 queued by
# default, then dropped, which would make the loop look cheaper): a queue that holds every span.
os.environ.setdefault("OTEL_BSP_MAX_QUEUE_SIZE", "4000000")
sys.path.insert(0, str(ROOT / "e2e"))

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult  # noqa: E402

import pyflare  # noqa: E402


class DropExporter(SpanExporter):
    def __init__(self) -> None:
        self.count = 0

    def export(self, spans):  # type: ignore[override]
        self.count += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def per_call_ns(fn, calls: int, rounds: int = 5) -> float:
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter_ns() - t0) / calls)
    return best


def per_request_us(fn, requests: int, rounds: int = 5) -> float:
    best = float("inf")
    for _ in range(rounds):
        times = []
        for _ in range(requests):
            t0 = time.perf_counter_ns()
            fn()
            times.append(time.perf_counter_ns() - t0)
        best = min(best, statistics.median(times) / 1000)
    return best


def init(**kw):
    exporter = DropExporter()
    readers = []
    if kw.pop("metrics", False):
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader

        readers.append(InMemoryMetricReader())  # the instruments record as in production; nothing is sent
    # a long interval: the export thread wakes when the queue reaches its batch size, not on a timer
    pyflare.init("bench-sdk", span_exporter=exporter, metrics=False, metric_readers=readers, logs=False,
                 export_interval_ms=60000, **kw)
    return exporter


def bench_calls(calls: int) -> list[tuple[str, float]]:
    def plain(x):
        return x + 1

    traced = pyflare.trace(plain)
    traced_named = pyflare.trace(name="named", capture_input=True, capture_output=True)(plain)

    async def aplain(x):
        return x + 1

    atraced = pyflare.trace(aplain)

    def run_async(fn):
        async def loop():
            for _ in range(calls):
                await fn(1)
        return loop

    rows = []
    base = per_call_ns(lambda: plain(1), calls)
    rows.append(("plain function call", base))
    pyflare.shutdown()
    rows.append(("`@pyflare.trace`, SDK not initialized", per_call_ns(lambda: traced(1), calls)))
    exporter = init()
    otel_tracer = pyflare.get_client().tracer

    def raw_otel():
        with otel_tracer.start_as_current_span("raw"):
            plain(1)
    rows.append(("OpenTelemetry SDK alone: `start_as_current_span` around the call, same pipeline",
                 per_call_ns(raw_otel, calls)))
    rows.append(("`@pyflare.trace`, span exported (batch, dropped)", per_call_ns(lambda: traced(1), calls)))
    rows.append(("`@pyflare.trace(capture_input, capture_output)`", per_call_ns(lambda: traced_named(1), calls)))

    def with_span():
        with pyflare.span("block"):
            pass
    rows.append(("`with pyflare.span(...)`", per_call_ns(with_span, calls)))
    user, session = pyflare.set_user("u1"), pyflare.set_session("s1")
    rows.append(("`@pyflare.trace` with user and session in baggage", per_call_ns(lambda: traced(1), calls)))
    session.reset()
    user.reset()
    pyflare.shutdown()
    # every span of the six timed rows above (5 rounds each) was exported, none dropped
    assert exporter.count == calls * 5 * 5, exporter.count
    init(metrics=True)

    def with_llm():
        with pyflare.llm_span("gpt-4o", provider="openai") as call:
            call.set_usage(input_tokens=100, output_tokens=10)
    rows.append(("`with pyflare.llm_span(...)` + usage + GenAI metrics", per_call_ns(with_llm, calls // 4)))
    pyflare.shutdown()
    init(sample_rate=0.0)
    rows.append(("`@pyflare.trace`, sampled out (sample_rate=0)", per_call_ns(lambda: traced(1), calls)))
    pyflare.shutdown()

    def async_per_call(fn) -> float:
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter_ns()
            asyncio.run(run_async(fn)())
            best = min(best, (time.perf_counter_ns() - t0) / calls)
        return best
    rows.append(("plain `async def` call (awaited in a loop)", async_per_call(aplain)))
    init()
    rows.append(("`@pyflare.trace` on an `async def`", async_per_call(atraced)))
    pyflare.shutdown()
    return rows


def bench_requests(requests: int) -> list[tuple[str, float, float]]:
    import anthropic
    import openai
    from provider_stub import ProviderStub

    stub = ProviderStub().start()
    oai = openai.OpenAI(base_url=stub.openai_base_url, api_key="sk-bench", max_retries=0)
    ant = anthropic.Anthropic(base_url=stub.anthropic_base_url, api_key="sk-bench", max_retries=0)
    messages = [{"role": "user", "content": "Say hello."}]

    def chat():
        oai.chat.completions.create(model="gpt-4o", messages=messages)

    def chat_stream():
        for _ in oai.chat.completions.create(model="gpt-4o", messages=messages, stream=True):
            pass

    def message():
        ant.messages.create(model="claude-3-5-sonnet-20241022", max_tokens=10, messages=messages)

    cases = [("OpenAI `chat.completions.create`", chat), ("OpenAI, `stream=True`, read to the end", chat_stream),
             ("Anthropic `messages.create`", message)]
    import provider_stub
    provider_stub.FIRST_CHUNK_DELAY_S = 0.0  # the stub's pause is for the tests' time-to-first-chunk checks
    rows = []
    for name, fn in cases:
        for _ in range(20):
            fn()  # connections and lazy imports warmed up
        # no SDK at all: anthropic's own tracing would use the global provider (a proxy, no-op)
        plain = per_request_us(fn, requests)
        init(metrics=True)
        pyflare.integrations.openai.instrument()
        pyflare.integrations.anthropic.instrument()
        traced = per_request_us(fn, requests)
        pyflare.integrations.openai.uninstrument()
        pyflare.integrations.anthropic.uninstrument()
        pyflare.shutdown()
        rows.append((name, plain, traced))
    stub.stop()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=200000)
    ap.add_argument("--requests", type=int, default=400)
    args = ap.parse_args()
    calls = bench_calls(args.calls)
    print(f"| call ({args.calls:,} calls, best of 5) | ns per call | added to the plain call above |")
    print("|---|---|---|")
    base = 0.0
    for name, ns in calls:
        if name.startswith("plain"):
            base = ns
        added = "" if name.startswith("plain") else f"{ns - base:,.0f} ns"
        print(f"| {name} | {ns:,.0f} | {added} |")
    print()
    print(f"| request to the provider stub (median of {args.requests}, best of 5) | uninstrumented | instrumented | added |")
    print("|---|---|---|---|")
    for name, plain, traced in bench_requests(args.requests):
        print(f"| {name} | {plain:,.0f} µs | {traced:,.0f} µs | {traced - plain:,.0f} µs |")


if __name__ == "__main__":
    main()
