"""Root-cause analysis end to end: a seeded LLM workload with planted problems sent through the
real OpenTelemetry SDK and HTTP exporter (exceptions recorded by the SDK), the RCA jobs run
through the API, and each planted problem found through /api/v1/rca/* with the right scope:

* a pair slice (gpt-4o-mini on the search feature fails a third of the time);
* three error families whose messages vary in numbers, ids, hosts and quoted values;
* an error spike of claude-sonnet in one quarter of an hour;
* a runaway spender (one user sending huge prompts);
* a latency trend on gpt-4o (its calls slow down steadily over the three hours);
* failures that only a log record tells (the logging bridge's `logger.exception`).
"""

from __future__ import annotations

import logging
import random
import time

import pytest
import requests

from harness import STORE_CONFIG, merge_config
from opentelemetry import trace as api
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode
from store_helpers import wait_until
from test_jobs_costs import run_job

SEC = 1_000_000_000
MINUTE = 60 * SEC
MODELS = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4"]
FEATURES = ["chat", "search", "summarize"]
USERS = [f"user-{i}" for i in range(12)]
RCA_CONFIG = merge_config(STORE_CONFIG, {"scheduler": {"enabled": False}, "segments": {"max_age_ms": 300}})
JOBS = ["rollup_1m", "rollup_1h", "cost_attribution_1h", "cost_by_dimension_1h", "failure_clusters", "rca_slices", "rca_patterns"]


class RateLimitError(Exception):
    pass


class APITimeoutError(Exception):
    pass


class BadRequestError(Exception):
    pass


def failure(rng: random.Random, i: int) -> Exception:
    """One of three error families, its variable parts varying."""
    family = i % 3
    if family == 0:
        return RateLimitError(f"Rate limit reached for gpt-4o-mini in organization org-{rng.randrange(10**6)} on tokens per min (TPM): "
                              f"Limit 30000, Used {rng.randint(20000, 30000)}, Requested {rng.randint(100, 5000)}.")
    if family == 1:
        return APITimeoutError(f"Request to https://api-{rng.randint(1, 9)}.example.com/v1/chat/completions timed out after "
                               f"{rng.uniform(10, 60):.1f} seconds")
    return BadRequestError(f"Invalid value for 'messages[{rng.randint(0, 9)}].content': '{rng.choice(['abc def', 'x', 'lorem ipsum dolor'])}' "
                           f"is longer than the maximum of {rng.randint(1000, 9000)} characters")


def workload(now_ns: int, seed: int = 11) -> list[dict]:
    """About 3,600 LLM calls over the last 3 hours."""
    rng = random.Random(seed)
    start = now_ns - 3 * 60 * MINUTE
    spans = []
    for i in range(3600):
        model, feature, user = rng.choice(MODELS), rng.choice(FEATURES), rng.choice(USERS)
        t = start + i * 3 * SEC
        p = 0.02
        if model == "gpt-4o-mini" and feature == "search":
            p = 0.35
        if model == "claude-sonnet-4" and now_ns - 75 * MINUTE <= t < now_ns - 60 * MINUTE:
            p = 0.6
        slowdown = 1 + 2 * i / 3600 if model == "gpt-4o" else 1
        spans.append({"model": model, "feature": feature, "user": user, "start": t, "input": rng.randint(200, 600),
                      "output": rng.randint(50, 200), "duration": int(rng.lognormvariate(6, 0.3) * slowdown) * 1_000_000,
                      "error": rng.random() < p})
    for i in range(120):  # the runaway spender: 120 calls with 60k-token prompts in the last hour
        spans.append({"model": "gpt-4o", "feature": "chat", "user": "user-runaway", "start": now_ns - 60 * MINUTE + i * 20 * SEC,
                      "input": 60_000, "output": 500, "duration": 2_000_000_000, "error": False})
    return spans


def send(srv, spans: list[dict], seed: int = 5) -> dict[str, list[str]]:
    """Sends the calls, each under a root span of the app; returns the span ids of the failures by family."""
    rng = random.Random(seed)
    provider = TracerProvider(resource=Resource.create({"service.name": "assistant"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=srv.traces_url), max_export_batch_size=500, max_queue_size=20_000,
                                                   schedule_delay_millis=200))
    tracer = provider.get_tracer("pyflare.e2e.rca")
    failed: dict[str, list[str]] = {}
    for i, s in enumerate(spans):
        root = tracer.start_span("handle request", start_time=s["start"])
        with api.use_span(root, end_on_exit=False):
            call = tracer.start_span(f"chat {s['model']}", start_time=s["start"], attributes={
                "gen_ai.request.model": s["model"], "gen_ai.provider.name": "openai", "gen_ai.operation.name": "chat",
                "gen_ai.usage.input_tokens": s["input"], "gen_ai.usage.output_tokens": s["output"],
                "user.id": s["user"], "app.feature": s["feature"]})
            if s["error"]:
                try:
                    raise failure(rng, i)
                except Exception as exc:  # noqa: BLE001 - recorded as the SDK records it
                    call.record_exception(exc)
                    call.set_status(Status(StatusCode.ERROR, str(exc)))
                    failed.setdefault(f"{type(exc).__module__}.{type(exc).__qualname__}", []).append(f"{call.get_span_context().span_id:016x}")
            call.end(end_time=s["start"] + s["duration"])
        root.end(end_time=s["start"] + s["duration"] + 1_000_000)
    provider.shutdown()
    return failed


def get(srv, path: str, **params) -> dict:
    r = requests.get(f"{srv.api_base}{path}", params=params, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def wait_all_sealed(srv, count: int) -> None:
    def sealed():
        r = requests.post(f"{srv.api_base}/api/v1/sql", json={"sql": "SELECT coalesce(sum(rows), 0) FROM segments WHERE kind = 'spans'"}, timeout=30)
        return r.json()["rows"][0][0] >= count
    wait_until(sealed, timeout=60, what=f"{count} spans sealed")


@pytest.fixture(scope="module")
def analysed(module_server_factory):
    srv = module_server_factory(RCA_CONFIG, name="rca")
    now = time.time_ns()
    spans = workload(now)
    failed = send(srv, spans)
    wait_all_sealed(srv, 2 * len(spans))
    for job in JOBS:
        run_job(srv, job)
    return srv, spans, failed


def test_failures_cluster_by_family(analysed):
    srv, _, failed = analysed
    body = get(srv, "/api/v1/rca/clusters", limit=50)
    clusters = body["clusters"]
    by_type = {}
    for cluster in clusters:
        for entry in cluster["error_types"]:
            by_type.setdefault(entry["name"], []).append(cluster)
    # each family is one cluster holding exactly its failures
    for family, ids in failed.items():
        assert len(by_type[family]) == 1, (family, [c["template"] for c in by_type[family]])
        cluster = by_type[family][0]
        assert cluster["size"] == len(ids), (family, cluster["size"], len(ids))
        assert set(cluster["member_ids"]) <= set(ids)
        assert cluster["services"] == [{"name": "assistant", "count": len(ids)}]
        assert cluster["severity"] > 0 and cluster["first_seen"] <= cluster["last_seen"]
        assert sum(point["count"] for point in cluster["series"]) == len(ids)
    assert body["total"] == len(failed)
    rate_limit = by_type["test_rca.RateLimitError"][0]
    assert rate_limit["template"].startswith("test_rca.RateLimitError: Rate limit reached for <*> in organization <*> on tokens per min")
    assert "rate" in rate_limit["common_keywords"] and "limit" in rate_limit["common_keywords"]
    assert rate_limit["representative_error"].startswith("test_rca.RateLimitError: Rate limit reached")
    assert rate_limit["stack_line"].startswith('File "') and "test_rca.py" in rate_limit["stack_line"]
    assert len(rate_limit["affected_traces"]) == 10

    detail = get(srv, f"/api/v1/rca/clusters/{rate_limit['id']}")
    assert detail["size"] == rate_limit["size"] and detail["examples"]
    assert len(detail["member_ids"]) == min(100, rate_limit["size"])
    # filters: by a model and a service that have none of it
    assert get(srv, "/api/v1/rca/clusters", model="no-such-model")["clusters"] == []
    assert requests.get(f"{srv.api_base}/api/v1/rca/clusters/999999", timeout=10).status_code == 404
    assert requests.get(f"{srv.api_base}/api/v1/rca/clusters/abc", timeout=10).status_code == 400


def test_a_new_failure_joins_its_cluster_and_ids_stay(analysed):
    srv, _, failed = analysed
    before = {c["error_types"][0]["name"]: c for c in get(srv, "/api/v1/rca/clusters", limit=50)["clusters"]}
    now = time.time_ns()
    more = [{"model": "gpt-4o-mini", "feature": "search", "user": "user-1", "start": now - i * SEC, "input": 10, "output": 5,
             "duration": 1_000_000, "error": True} for i in range(6)]
    added = send(srv, more, seed=99)
    wait_all_sealed(srv, 2 * (3720 + len(more)))
    run_job(srv, "failure_clusters")
    after = {c["error_types"][0]["name"]: c for c in get(srv, "/api/v1/rca/clusters", limit=50)["clusters"]}
    assert set(after) == set(before)
    for family, cluster in before.items():
        assert after[family]["id"] == cluster["id"]
        assert after[family]["size"] == cluster["size"] + len(added.get(family, []))


def test_error_logs_are_failures_too(analysed):
    """A job that logs its failures without an error span: each logged exception is a member."""
    srv, _, _ = analysed
    provider = LoggerProvider(resource=Resource.create({"service.name": "nightly-batch"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=srv.otlp_base + "/v1/logs")))
    logger = logging.getLogger("e2e.rca.batch")
    logger.propagate = False
    handler = LoggingHandler(level=logging.INFO, logger_provider=provider)
    logger.addHandler(handler)
    try:
        for i in range(8):
            try:
                raise RuntimeError(f"document doc-{i * 7919} has no field summary")
            except RuntimeError:
                logger.exception("summarizing failed")
        logger.warning("not a failure: warnings are left out")
    finally:
        logger.removeHandler(handler)
        provider.shutdown()

    def clustered():
        run_job(srv, "failure_clusters")
        return get(srv, "/api/v1/rca/clusters", service="nightly-batch")["clusters"]
    clusters = wait_until(clustered, timeout=30, what="the logged failures clustered")
    assert len(clusters) == 1, [c["template"] for c in clusters]
    assert clusters[0]["size"] == 8 and clusters[0]["error_types"] == [{"name": "RuntimeError", "count": 8}]
    assert clusters[0]["member_ids"] == []  # log records outside a span have no span id


def test_slices_find_the_planted_pair_and_the_spender(analysed):
    srv, _, _ = analysed
    errors = get(srv, "/api/v1/rca/slices", metric="error_rate")
    top = errors["slices"][0]
    assert top["definition"] == {"model": "gpt-4o-mini", "feature": "search"}, errors["slices"][:3]
    assert top["significant"] and top["p_value"] < 1e-6 and top["metric_value"] > 0.25
    assert top["impact_unit"] == "errors" and top["impact_score"] > 50
    for key in ("sample_count", "baseline_value", "deviation", "deviation_percentage", "q_value"):
        assert key in top
    assert not any(s["definition"] in ({"model": "gpt-4o-mini"}, {"feature": "search"}) for s in errors["slices"])
    cost = get(srv, "/api/v1/rca/slices", metric="cost_per_request")["slices"]
    assert cost[0]["definition"] == {"user": "user-runaway"}, cost[:3]
    # the dimension filter and an on-demand analysis of another range
    by_feature = get(srv, "/api/v1/rca/slices", metric="error_rate", dimension="feature")["slices"]
    assert by_feature and all("feature" in s["definition"] for s in by_feature)
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 4 * 3600))
    on_demand = get(srv, "/api/v1/rca/slices", metric="error_rate", since=since)
    assert on_demand["on_demand"] and on_demand["slices"][0]["definition"] == {"model": "gpt-4o-mini", "feature": "search"}
    assert requests.get(f"{srv.api_base}/api/v1/rca/slices", params={"metric": "bogus"}, timeout=10).status_code == 400


def test_patterns_find_the_spike_and_the_runaway_spender(analysed):
    srv, _, _ = analysed
    patterns = get(srv, "/api/v1/rca/patterns")["patterns"]
    spikes = [p for p in patterns if p["type"] == "error_spike"]
    assert [p["scope"].get("model") for p in spikes] == ["claude-sonnet-4"], [(p["scope"], p["description"]) for p in spikes]
    spike = spikes[0]
    assert spike["end"] is not None  # it is over
    assert 0 < spike["severity"] <= 1 and "claude-sonnet-4" in spike["description"]
    assert spike["evidence"]["peak_rate"] > 0.3 and spike["suggested_actions"]
    costs = [p for p in patterns if p["type"] == "cost_anomaly"]
    assert {"user": "user-runaway"} in [p["scope"] for p in costs], [(p["scope"], p["description"]) for p in costs]
    assert not [p for p in patterns if p["type"] == "user_segment_issue"]
    trends = [p for p in patterns if p["type"] == "latency_degradation"]
    assert [p["scope"].get("model") for p in trends] == ["gpt-4o"], [(p["scope"], p["description"]) for p in trends]
    assert trends[0]["end"] is None and trends[0]["evidence"]["p95_after_ms"] > 1.3 * trends[0]["evidence"]["p95_before_ms"]
    # filters, and the same ids on the next run
    assert [p["id"] for p in get(srv, "/api/v1/rca/patterns", type="error_spike")["patterns"]] == [spike["id"]]
    run_job(srv, "rca_patterns")
    again = get(srv, "/api/v1/rca/patterns", type="error_spike")["patterns"]
    assert [p["id"] for p in again] == [spike["id"]] and again[0]["start"] == spike["start"]
    assert requests.get(f"{srv.api_base}/api/v1/rca/patterns", params={"type": "nope"}, timeout=10).status_code == 400
