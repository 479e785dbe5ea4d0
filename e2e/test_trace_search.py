"""Free-text search and the trace list's other filters (issue 24): words sent through the real
OpenTelemetry exporter in prompts, completions, tool calls and exceptions find their traces, by
whole word and in any case, sealed or not; a block whose token filter lacks a word is skipped
without reading its text; feature, environment and minimum cost narrow the list."""

from __future__ import annotations

import json
import time

import pytest
import requests
from opentelemetry import trace as api
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, BatchSpanProcessor

from harness import STORE_CONFIG, merge_config
from store_helpers import wait_until

SEC = 1_000_000_000
# Small blocks, so a few hundred filler spans make many blocks for the filter to skip.
CONFIG = merge_config(STORE_CONFIG, {"scheduler": {"enabled": False},
                                     "segments": {"max_age_ms": 300, "block_spans": 64}})
FILLER_TRACES = 40
FILLER_SPANS = 20


def exporter(srv, service: str):
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=srv.traces_url)))
    return provider, provider.get_tracer("pyflare.e2e.search")


def trace_id(span) -> str:
    return format(span.get_span_context().trace_id, "032x")


def send_world(srv) -> dict[str, str]:
    """Named traces with words in each place search reads, then filler traces without them."""
    provider, tracer = exporter(srv, "support-bot")
    ids = {}
    with tracer.start_as_current_span("answer ticket", attributes={
            "app.feature": "refunds", "deployment.environment.name": "production"}) as root:
        with tracer.start_as_current_span("chat gpt-4o", attributes={
                "gen_ai.request.model": "gpt-4o", "gen_ai.provider.name": "openai", "gen_ai.operation.name": "chat",
                "gen_ai.usage.input_tokens": 200_000, "gen_ai.usage.output_tokens": 1000,
                "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [
                    {"type": "text", "content": "My parcel to Reykjavik never arrived. Can I get a Refund?"}]}]),
                "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [
                    {"type": "tool_call", "name": "lookup_order", "arguments": {"order": "A-7731"}}]}]),
        }):
            pass
        ids["prompt"] = trace_id(root)
    with tracer.start_as_current_span("run tool", attributes={
            "app.feature": "tracking", "deployment.environment.name": "staging",
            "gen_ai.tool.name": "carrier_api", "gen_ai.tool.call.arguments": '{"carrier": "Zanzibar Express"}'}) as root:
        try:
            raise TimeoutError("carrier gateway quasar-17 timed out after 30s")
        except TimeoutError as error:
            root.record_exception(error)
            root.set_status(api.Status(api.StatusCode.ERROR, "upstream failed"))
        ids["exception"] = trace_id(root)
    provider.shutdown()
    provider = TracerProvider(resource=Resource.create({"service.name": "filler"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=srv.traces_url), max_export_batch_size=256))
    tracer = provider.get_tracer("pyflare.e2e.search")
    for number in range(FILLER_TRACES):
        with tracer.start_as_current_span(f"filler {number}"):
            for step in range(FILLER_SPANS - 1):
                with tracer.start_as_current_span("step", attributes={"input.value": f"ordinary text number {number} {step}"}):
                    pass
    provider.shutdown()
    return ids


def search(srv, expect: int = 200, **params) -> dict:
    r = requests.get(f"{srv.api_base}/api/v1/traces", params=params, timeout=30)
    assert r.status_code == expect, (params, r.status_code, r.text[:400])
    return r.json()


def found(srv, q: str, **params) -> list[str]:
    return [t["trace_id"] for t in search(srv, q=q, **params)["traces"]]


@pytest.fixture(scope="module")
def world(module_server_factory):
    srv = module_server_factory(CONFIG, name="search")
    ids = send_world(srv)
    return srv, ids


def wait_sealed(srv):
    """Until no span waits unsealed (the store's gauge on /metrics is 0)."""
    def unsealed() -> float:
        for line in requests.get(f"{srv.api_base}/metrics", timeout=10).text.splitlines():
            if line.startswith("pyflare_unsealed_spans"):
                return float(line.split()[-1])
        return -1
    wait_until(lambda: unsealed() == 0, timeout=30, what="every span sealed")


def test_a_word_finds_its_trace_wherever_it_was_sent(world):
    srv, ids = world
    assert found(srv, "reykjavik") == [ids["prompt"]]            # a prompt
    assert found(srv, "A-7731") == [ids["prompt"]]               # a tool call's arguments, as two words
    assert found(srv, "zanzibar") == [ids["exception"]]          # a tool span's arguments
    assert found(srv, "quasar") == [ids["exception"]]            # an exception message
    assert found(srv, "TimeoutError") == [ids["exception"]]      # the exception's type


def test_words_match_whole_in_any_case_and_all_must_be_there(world):
    srv, ids = world
    assert found(srv, "REFUND") == [ids["prompt"]]
    assert found(srv, "refun") == []                      # a word, not a substring
    assert found(srv, "parcel refund") == [ids["prompt"]]
    assert found(srv, "parcel quasar") == []              # every word, in one span
    answer = search(srv, q="Parcel, REFUND!")
    assert answer["search"]["words"] == ["parcel", "refund"]


def test_search_skips_blocks_whose_filter_lacks_the_word(world):
    srv, ids = world
    wait_sealed(srv)
    answer = search(srv, q="quasar")
    assert [t["trace_id"] for t in answer["traces"]] == [ids["exception"]]
    stats = answer["search"]
    blocks = stats["blocks_read"] + stats["blocks_skipped"]
    assert blocks >= (FILLER_TRACES * FILLER_SPANS) // 64, stats
    assert stats["blocks_read"] <= 2 and stats["blocks_skipped"] >= blocks - 2, stats
    assert stats["spans_matched"] == 1


def test_search_combines_with_filters_and_pages(world):
    srv, ids = world
    assert found(srv, "ordinary", service="support-bot") == []
    everything = found(srv, "ordinary text", limit=1000)
    assert len(everything) == FILLER_TRACES
    seen, cursor = [], None
    while True:
        params = {"q": "ordinary", "limit": 7}
        if cursor:
            params["cursor"] = cursor
        page = search(srv, **params)
        seen += [t["trace_id"] for t in page["traces"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == everything


def test_a_query_without_words_is_refused(world):
    srv, _ = world
    answer = search(srv, expect=400, q="  --- ! ")
    assert answer["error"]["field"] == "q"


def test_feature_environment_and_minimum_cost_filter_the_list(world):
    srv, ids = world
    assert [t["trace_id"] for t in search(srv, feature="refunds")["traces"]] == [ids["prompt"]]
    assert [t["trace_id"] for t in search(srv, environment="staging")["traces"]] == [ids["exception"]]
    row = search(srv, feature="refunds")["traces"][0]
    assert row["feature"] == "refunds" and row["environment"] == "production"
    assert row["cost_micros"] > 0
    dollars = row["cost_micros"] / 1e6
    assert [t["trace_id"] for t in search(srv, min_cost=dollars)["traces"]] == [ids["prompt"]]
    assert search(srv, min_cost=dollars * 2)["traces"] == []
    assert search(srv, expect=400, min_cost="cheap")["error"]["field"] == "min_cost"
