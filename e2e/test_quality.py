"""Evaluations and drift end to end, through the real OpenTelemetry SDK and HTTP exporter:

* PSI and MMD drift of a model whose traffic shifted, checked against numpy implementations of
  the same definitions, next to a model whose traffic did not;
* evaluation results sent as span events, `pyflare.quality.*` attributes and log events, and
  annotations posted in Phoenix's shape, read back from /api/v1/evaluations;
* a planted quality drop found as a `quality_drop` pattern and an `eval_fail_rate` slice;
* the RAG evaluator on a faithful answer and on one with an invented claim;
* the LLM judge against a local stub of the chat-completions API that answers 429 once,
  replies with prose, times out and finds a hallucination; its calls traced and costed; its
  daily spend cap.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import requests

from harness import STORE_CONFIG, merge_config
from opentelemetry import trace as api
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from store_helpers import wait_until
from test_jobs_costs import run_job

SEC = 1_000_000_000
MINUTE = 60 * SEC
HOUR = 60 * MINUTE
N = 300  # spans per model and window
JUDGE_MODEL = "judge-model"


class StubJudge:
    """An OpenAI-compatible chat-completions endpoint whose answer depends on the judged output."""

    def __init__(self):
        self.requests: list[dict] = []
        self.rate_limited = False
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.requests.append(body)
                prompt = body["messages"][-1]["content"]
                if "RATE-LIMITED" in prompt and not stub.rate_limited:
                    stub.rate_limited = True
                    return self.reply(429, {"error": {"message": "Rate limit reached"}}, {"Retry-After": "0"})
                if "SLOW" in prompt:
                    time.sleep(2.5)
                if "PROSE" in prompt:
                    content = "Looks reasonable to me overall."
                elif "INVENTED" in prompt:
                    content = ('```json\n{"verdict": "fail", "score": 0.1, "explanation": "The response names a designer the context '
                               'does not mention.", "hallucination": true, "unsupported_claims": ["designed by da Vinci"]}\n```')
                else:
                    content = '{"verdict": "pass", "score": 0.95, "explanation": "Supported by the context.", "hallucination": false}'
                self.reply(200, {"id": "chatcmpl-1", "model": JUDGE_MODEL, "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}})

            def reply(self, status, payload, headers=None):
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    for key, value in (headers or {}).items():
                        self.send_header(key, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the judge gave up waiting
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def quality_config(judge_url: str, **judge) -> dict:
    return merge_config(STORE_CONFIG, {
        "scheduler": {"enabled": False},
        "segments": {"max_age_ms": 300},
        "pricing": {"models": [{"model": JUDGE_MODEL, "provider": "openai", "input": 1.0, "output": 2.0}]},
        "drift": {"window": "1h", "reference": {"offset": "1h", "length": "1h"}, "min_samples": 50,
                  "psi": {"min_per_bin": 1}, "embedding": {"permutations": 200, "seed": 7}},
        "evaluations": {"judge": {"endpoint": judge_url, "model": JUDGE_MODEL, "sample_rate": 1, "services": ["judged-app"],
                                  "timeout_seconds": 1, "attempts": 3, "backoff_seconds": 0.05, "max_daily_spend_usd": 100,
                                  **judge}},
    })


def tracer_provider(srv, service: str) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=srv.traces_url), max_export_batch_size=500,
                                                   max_queue_size=20_000, schedule_delay_millis=200))
    return provider


def llm_span(tracer, start: int, model: str, attributes: dict | None = None, duration: int = 100_000_000, parent=None):
    attrs = {"gen_ai.request.model": model, "gen_ai.provider.name": "openai", "gen_ai.operation.name": "chat",
             "gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 100}
    attrs.update(attributes or {})
    context = api.set_span_in_context(parent) if parent is not None else None
    span = tracer.start_span(f"chat {model}", start_time=start, attributes=attrs, context=context)
    return span, start + duration


def get(srv, path: str, **params) -> dict:
    r = requests.get(f"{srv.api_base}{path}", params=params, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def sql(srv, statement: str) -> list:
    r = requests.post(f"{srv.api_base}/api/v1/sql", json={"sql": statement}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()["rows"]


def wait_spans(srv, count: int) -> None:
    wait_until(lambda: sql(srv, "SELECT count(*) FROM spans")[0][0] >= count, timeout=60, what=f"{count} spans stored")


# MARK: - independent implementations of the definitions (docs/quality.md)

def numpy_psi(reference: np.ndarray, current: np.ndarray, bins: int = 10, eps: float = 1e-4) -> float:
    ordered = np.sort(reference)
    n = len(ordered)
    edges = np.unique([ordered[-(-i * n // bins) - 1] for i in range(1, bins)])
    def shares(sample):
        return np.bincount(np.searchsorted(edges, sample, side="left"), minlength=len(edges) + 1) / len(sample)
    r, c = np.clip(shares(reference), eps, None), np.clip(shares(current), eps, None)
    return float(np.sum((c - r) * np.log(c / r)))


def numpy_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    pooled = np.vstack([x, y])
    d2 = np.sum((pooled[:, None, :] - pooled[None, :, :]) ** 2, axis=-1)
    upper = d2[np.triu_indices(len(pooled), 1)]
    sigma2 = np.median(upper) / 2
    k = np.exp(-d2 / (2 * sigma2))
    m, n = len(x), len(y)
    kxx, kyy, kxy = k[:m, :m], k[m:, m:], k[:m, m:]
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1)) - 2 * kxy.mean())


# MARK: - the store every test reads

def seed_drift_and_quality_drop(tracer, now: int, hour: int, rng, data: dict | None = None) -> int:
    """The planted drift and quality drop (see the fixture); returns the spans sent, keeps each
    model's and window's tokens and vectors in `data`."""
    data = {} if data is None else data
    sent = 0
    # Drift: drift-a's prompts grow and its embeddings move in the last complete hour; drift-b stays.
    for model, shift in [("drift-a", 1.0), ("drift-b", 0.0)]:
        for window, start in [("reference", hour - 2 * HOUR), ("current", hour - HOUR)]:
            moved = window == "current" and shift > 0
            tokens = np.round(rng.normal(650 if moved else 500, 50, N)).astype(int)
            vectors = rng.normal(0.8 if moved else 0.0, 1.0, (N, 4))
            data[(model, window)] = (tokens, vectors)
            for i in range(N):
                span, end = llm_span(tracer, start + i * 10 * SEC, model, {
                    "gen_ai.usage.input_tokens": int(tokens[i]), "pyflare.embedding.vector": [float(v) for v in vectors[i]]})
                span.end(end_time=end)
                sent += 1
    # A quality drop: correctness passes 95% of the time for five hours, then half the time.
    for i in range(100):
        span, end = llm_span(tracer, now - 6 * HOUR + i * 3 * MINUTE, "qa-model", {"app.feature": "stable"})
        passed = i % 20 != 0
        span.add_event("gen_ai.evaluation.result", {"gen_ai.evaluation.name": "correctness",
                                                    "gen_ai.evaluation.score.value": 0.9 if passed else 0.2}, timestamp=end)
        span.end(end_time=end)
        sent += 1
    for i in range(40):
        span, end = llm_span(tracer, now - 50 * MINUTE + i * MINUTE, "qa-model", {"app.feature": "beta"})
        span.add_event("gen_ai.evaluation.result", {"gen_ai.evaluation.name": "correctness",
                                                    "gen_ai.evaluation.score.value": 0.9 if i % 2 else 0.2}, timestamp=end)
        span.end(end_time=end)
        sent += 1
    return sent


@pytest.fixture(scope="module")
def judge():
    stub = StubJudge()
    yield stub
    stub.close()


@pytest.fixture(scope="module")
def quality(module_server_factory, judge):
    srv = module_server_factory(quality_config(judge.url), name="quality")
    now = time.time_ns()
    hour = now // HOUR * HOUR
    rng = np.random.default_rng(2026)
    data = {}
    provider = tracer_provider(srv, "assistant")
    tracer = provider.get_tracer("pyflare.e2e.quality")
    sent = 0
    sent += seed_drift_and_quality_drop(tracer, now, hour, rng, data)
    # RAG: a retrieval and the answer to it, faithful or with an invented claim.
    contexts = ["The Eiffel Tower is a wrought-iron lattice tower in Paris, France.",
                "It was built by Gustave Eiffel's company and completed in 1889 for the World's Fair."]
    answers = {"faithful": "The Eiffel Tower is a wrought-iron lattice tower in Paris. It was completed in 1889.",
               "invented": "The Eiffel Tower is a wrought-iron lattice tower in Paris. "
                           "It was designed by Leonardo da Vinci in 1650."}
    rag_spans = {}
    for index, (kind, answer) in enumerate(answers.items()):
        start = now - 20 * MINUTE + index * MINUTE
        root = tracer.start_span("answer question", start_time=start)
        context = api.set_span_in_context(root)
        retrieval = tracer.start_span("retrieve", context=context, start_time=start, attributes={
            "openinference.span.kind": "RETRIEVER", "input.value": "When was the Eiffel Tower completed and where is it?",
            **{f"retrieval.documents.{i}.document.content": text for i, text in enumerate(contexts)}})
        retrieval.end(end_time=start + 50_000_000)
        call, end = llm_span(tracer, start + 60_000_000, "rag-model", {"output.value": answer}, parent=root)
        rag_spans[kind] = f"{call.get_span_context().span_id:016x}"
        call.end(end_time=end)
        root.end(end_time=end + 1_000_000)
        sent += 3
    provider.shutdown()

    # Spans the judge looks at: one passes after a 429, one gets prose, one times out, one hallucinates.
    provider = tracer_provider(srv, "judged-app")
    tracer = provider.get_tracer("pyflare.e2e.quality")
    judged = {}
    for index, kind in enumerate(["RATE-LIMITED", "PROSE", "SLOW", "INVENTED"]):
        span, end = llm_span(tracer, now - 10 * MINUTE + index * SEC, "app-model", {
            "input.value": "Who designed the Eiffel Tower?", "output.value": f"{kind}: Gustave Eiffel's company designed it."})
        judged[kind] = f"{span.get_span_context().span_id:016x}"
        span.end(end_time=end)
        sent += 1
    provider.shutdown()

    # Evaluations as log events, and one annotation posted like a Phoenix client.
    log_provider = LoggerProvider(resource=Resource.create({"service.name": "assistant"}))
    log_provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=srv.otlp_base + "/v1/logs")))
    evaluated = api.set_span_in_context(api.NonRecordingSpan(api.SpanContext(0xabc, 0xdef, is_remote=False,
                                                                             trace_flags=api.TraceFlags(1))))
    log_provider.get_logger("pyflare.e2e.quality").emit(
        timestamp=now - 5 * MINUTE, body="evaluation", context=evaluated, event_name="gen_ai.evaluation.result",
        attributes={"gen_ai.evaluation.name": "tone", "gen_ai.evaluation.score.label": "friendly",
                    "gen_ai.evaluation.explanation": "polite"})
    log_provider.shutdown()

    wait_spans(srv, sent)
    wait_until(lambda: sql(srv, "SELECT count(*) FROM logs")[0][0] >= 1, timeout=30, what="the log event stored")
    for job in ["evaluations", "rag_evaluations", "drift"]:
        run_job(srv, job)
    return {"srv": srv, "now": now, "hour": hour, "data": data, "rag": rag_spans, "judged": judged}


# MARK: - drift

def test_psi_drift_matches_numpy_and_flags_the_shifted_model(quality):
    srv, hour, data = quality["srv"], quality["hour"], quality["data"]
    body = get(srv, "/api/v1/drift/alerts", since=str(hour - 3 * HOUR), severity="moderate")
    alerts = body["alerts"]
    assert body["materialized_at"] is not None
    flagged = {(a["scope"], a["feature"]) for a in alerts}
    assert ("drift-a", "input_tokens") in flagged and ("drift-a", "embedding") in flagged
    assert not any(scope == "drift-b" for scope, _ in flagged), alerts

    # Every score of the window, alert or not, through the SQL API.
    rows = sql(srv, f"SELECT scope, feature, method, score, p_value, severity, samples, reference_samples, window_start_ns "
                    f"FROM drift_scores WHERE window_start_ns = {hour - HOUR} ORDER BY scope, feature")
    scores = {(r[0], r[1]): r for r in rows}
    for model in ["drift-a", "drift-b"]:
        reference, current = data[(model, "reference")][0], data[(model, "current")][0]
        row = scores[(model, "input_tokens")]
        assert row[2] == "psi" and row[6] == N and row[7] == N
        assert row[3] == pytest.approx(numpy_psi(reference, current), rel=1e-9, abs=1e-12)
    assert scores[("drift-a", "input_tokens")][5] == "significant" and scores[("drift-a", "input_tokens")][3] > 0.25
    assert scores[("drift-b", "input_tokens")][5] == "none" and scores[("drift-b", "input_tokens")][3] < 0.1
    # Constant features do not drift.
    assert scores[("drift-a", "output_tokens")][3] == 0 and scores[("drift-a", "operation")][3] == 0

    alert = next(a for a in alerts if a["scope"] == "drift-a" and a["feature"] == "input_tokens")
    assert alert["method"] == "psi" and alert["severity"] == "significant" and alert["p_value"] is None
    assert alert["window_end"] > alert["window_start"] and alert["reference_end"] == alert["window_start"]
    assert len(alert["details"]["reference_shares"]) == len(alert["details"]["edges"]) + 1


def test_mmd_drift_on_embeddings(quality):
    srv, hour, data = quality["srv"], quality["hour"], quality["data"]
    rows = sql(srv, f"SELECT scope, score, p_value, severity, details FROM drift_scores "
                    f"WHERE window_start_ns = {hour - HOUR} AND feature = 'embedding' ORDER BY scope")
    by_scope = {r[0]: r for r in rows}
    for model in ["drift-a", "drift-b"]:
        expected = numpy_mmd2(data[(model, "reference")][1], data[(model, "current")][1])
        assert by_scope[model][1] == pytest.approx(expected, rel=1e-6, abs=1e-9)
    assert by_scope["drift-a"][2] < 0.05 and by_scope["drift-a"][3] == "significant"
    assert by_scope["drift-b"][2] > 0.05 and by_scope["drift-b"][3] == "none"
    details = json.loads(by_scope["drift-a"][4])
    shift = np.linalg.norm(data[("drift-a", "current")][1].mean(0) - data[("drift-a", "reference")][1].mean(0))
    assert details["centroid_shift"] == pytest.approx(shift, rel=1e-6) and details["permutations"] == 200


def test_heatmap_and_pinned_references(quality):
    srv, hour = quality["srv"], quality["hour"]
    heatmap = get(srv, "/api/v1/drift/heatmap", scope="drift-a", since=str(hour - 3 * HOUR), until=str(hour), step="1h")
    assert len(heatmap["windows"]) == 3 and heatmap["step_seconds"] == 3600
    row = heatmap["features"].index("input_tokens")
    assert heatmap["scores"][row][:2] == [None, None] and heatmap["scores"][row][2] > 0.25
    assert heatmap["severities"][row][2] == "significant"
    assert requests.get(f"{srv.api_base}/api/v1/drift/heatmap", timeout=10).status_code == 400
    assert requests.get(f"{srv.api_base}/api/v1/drift/heatmap", params={"scope": "x", "step": "soon"}, timeout=10).status_code == 400

    # Pinning the current window itself as drift-a's reference: no drift left.
    pin = requests.put(f"{srv.api_base}/api/v1/drift/references/drift-a", timeout=10,
                       json={"since": str(hour - HOUR), "until": str(hour)})
    assert pin.status_code == 200, pin.text
    assert [p["scope"] for p in pin.json()["pinned"]] == ["drift-a"] and pin.json()["configured"]["mode"] == "rolling"
    pinned = get(srv, "/api/v1/drift/heatmap", scope="drift-a", since=str(hour - HOUR), until=str(hour))
    assert pinned["scores"][pinned["features"].index("input_tokens")] == [0]
    assert requests.delete(f"{srv.api_base}/api/v1/drift/references/drift-a", timeout=10).status_code == 200
    assert requests.delete(f"{srv.api_base}/api/v1/drift/references/drift-a", timeout=10).status_code == 404
    assert requests.put(f"{srv.api_base}/api/v1/drift/references/drift-a", json={"since": "later"}, timeout=10).status_code == 400


# MARK: - evaluations

def test_evaluations_from_events_attributes_logs_and_annotations(quality):
    srv, now = quality["srv"], quality["now"]
    body = get(srv, "/api/v1/evaluations", name="correctness", model="qa-model", limit=1000)
    assert len(body["evaluations"]) == 140 and body["next_cursor"] is None
    assert body["materialized_at"] >= body["evaluations"][0]["time"]  # the extraction ran after the spans
    first = body["evaluations"][0]
    assert first["source"] == "event" and first["service"] == "assistant" and len(first["span_id"]) == 16
    assert {e["passed"] for e in body["evaluations"]} == {True, False}
    # Paging walks them all once.
    seen, cursor = [], None
    while True:
        page = get(srv, "/api/v1/evaluations", name="correctness", limit=50, **({"cursor": cursor} if cursor else {}))
        seen += [e["id"] for e in page["evaluations"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 140

    logged = get(srv, "/api/v1/evaluations", name="tone")["evaluations"]
    assert [(e["source"], e["label"], e["explanation"], e["span_id"]) for e in logged] == [("log", "friendly", "polite", f"{0xdef:016x}")]

    span_id = quality["rag"]["faithful"]
    annotation = requests.post(f"{srv.api_base}/v1/span_annotations", timeout=10, json={"data": [
        {"span_id": span_id, "name": "user_feedback", "annotator_kind": "HUMAN", "result": {"label": "thumbs_up", "score": 1}}]})
    assert annotation.status_code == 200, annotation.text
    assert len(annotation.json()["data"]) == 1
    mine = get(srv, "/api/v1/evaluations", span_id=span_id, source="annotation")["evaluations"]
    assert [(e["name"], e["evaluator"], e["score"], e["passed"]) for e in mine] == [("user_feedback", "HUMAN", 1.0, True)]
    # A bad item rejects the request and stores nothing of it.
    bad = requests.post(f"{srv.api_base}/v1/span_annotations", timeout=10, json={"data": [
        {"span_id": span_id, "name": "ok", "result": {"score": 1}}, {"span_id": "xyz", "name": "bad", "result": {"score": 1}}]})
    assert bad.status_code == 400 and "data[1].span_id" in bad.text
    assert get(srv, "/api/v1/evaluations", name="ok")["evaluations"] == []
    assert requests.post(f"{srv.api_base}/v1/span_annotations", data="{", headers={"Content-Type": "application/json"},
                         timeout=10).status_code == 400

    summary = get(srv, "/api/v1/evaluations/summary", name="correctness", since=str(now - 7 * HOUR), interval="1h")
    group = summary["groups"][0]
    assert group["name"] == "correctness" and group["count"] == 140 and group["failed"] == 5 + 20
    assert group["fail_rate"] == pytest.approx(25 / 140) and sum(p["count"] for p in group["series"]) == 140
    by_model = get(srv, "/api/v1/evaluations/summary", group_by="model", since=str(now - 7 * HOUR))
    assert {(g["name"], g["model"]) for g in by_model["groups"]} >= {("correctness", "qa-model")}
    # Re-running the extraction changes nothing.
    run_job(srv, "evaluations")
    assert len(get(srv, "/api/v1/evaluations", name="correctness", limit=1000)["evaluations"]) == 140


def test_quality_drop_is_a_pattern_and_a_slice(quality):
    srv = quality["srv"]
    run_job(srv, "rca_patterns")
    patterns = get(srv, "/api/v1/rca/patterns", type="quality_drop")["patterns"]
    drops = [p for p in patterns if p["type"] == "quality_drop"]
    assert len(drops) == 1, patterns
    drop = drops[0]
    assert drop["scope"] == {"service": "assistant", "model": "qa-model"} and drop["end"] is None
    assert drop["evidence"]["evaluation"] == "correctness" and drop["evidence"]["recent_fail_rate"] == 0.5
    assert drop["evidence"]["baseline_fail_rate"] == 0.05 and "correctness" in drop["description"]

    # The failing evaluations are those of the beta feature: the slice that says so.
    run_job(srv, "rca_slices")
    slices = get(srv, "/api/v1/rca/slices", metric="eval_fail_rate")["slices"]
    beta = [s for s in slices if s["definition"] == {"feature": "beta"}]
    assert len(beta) == 1, slices
    assert beta[0]["sample_count"] == 40 and beta[0]["metric_value"] == 0.5 and beta[0]["significant"]

    # Each evaluation keeps its span's feature: the summary by feature says the same.
    groups = {g["feature"]: g for g in get(srv, "/api/v1/evaluations/summary", name="correctness", group_by="feature")["groups"]}
    assert (groups["beta"]["count"], groups["beta"]["failed"]) == (40, 20)
    assert (groups["stable"]["count"], groups["stable"]["failed"]) == (100, 5)
    failing_beta = get(srv, "/api/v1/evaluations", feature="beta", passed="false")["evaluations"]
    assert len(failing_beta) == 20 and all(e["feature"] == "beta" for e in failing_beta)


def test_rag_evaluator_scores_faithful_and_invented_answers(quality):
    srv = quality["srv"]
    scores = {}
    for kind, span_id in quality["rag"].items():
        rows = get(srv, "/api/v1/evaluations", span_id=span_id, source="rag")["evaluations"]
        scores[kind] = {e["name"]: e for e in rows}
        assert set(scores[kind]) == {"rag.context_relevance", "rag.faithfulness", "rag.answer_relevance", "rag.groundedness", "rag.overall"}
        assert all(e["model"] == "rag-model" and e["evaluator"] == "pyflare.rag" for e in rows)
    assert scores["faithful"]["rag.faithfulness"]["score"] == 1.0 and scores["faithful"]["rag.faithfulness"]["passed"]
    assert scores["invented"]["rag.faithfulness"]["score"] == 0.5
    assert scores["invented"]["rag.overall"]["score"] < scores["faithful"]["rag.overall"]["score"]
    issues = scores["invented"]["rag.overall"]["details"]["issues"]
    assert any("Leonardo da Vinci" in issue for issue in issues), issues
    claims = scores["invented"]["rag.overall"]["details"]["claims"]
    assert [c["supported"] for c in claims] == [True, False]


# MARK: - the judge

def test_llm_judge_verdicts_retries_and_its_own_traces(quality, judge):
    srv, judged = quality["srv"], quality["judged"]
    run_job(srv, "llm_judge")
    verdicts = {}
    for kind, span_id in judged.items():
        rows = get(srv, "/api/v1/evaluations", span_id=span_id, source="judge")["evaluations"]
        assert len(rows) == 1, (kind, rows)
        verdicts[kind] = rows[0]
    assert verdicts["RATE-LIMITED"]["label"] == "pass" and verdicts["RATE-LIMITED"]["details"]["attempts"] == 2
    assert verdicts["PROSE"]["label"] == "error" and verdicts["PROSE"]["passed"] is None
    assert verdicts["SLOW"]["label"] == "error" and "3 attempts" in verdicts["SLOW"]["explanation"]
    invented = verdicts["INVENTED"]
    assert invented["label"] == "fail" and invented["passed"] is False and invented["score"] == pytest.approx(0.1)
    assert invented["details"]["hallucination"] is True and invented["details"]["unsupported_claim"] is True
    assert invented["details"]["unsupported_claims"] == ["designed by da Vinci"] and invented["details"]["preferred"] is None
    assert invented["name"] == "hallucination" and invented["evaluator"] == JUDGE_MODEL
    # Priced at the judge model's price: 100 input tokens at $1/M and 20 output at $2/M.
    assert invented["cost_micros"] == 140
    # Only the judged app's spans were sent, each with its output and the judge's prompt.
    prompts = [r["messages"][-1]["content"] for r in judge.requests]
    assert all("Gustave Eiffel's company designed it" in p for p in prompts) and len(prompts) == 1 + 1 + 1 + 3 + 1
    assert all(r["model"] == JUDGE_MODEL and r["temperature"] == 0 for r in judge.requests)

    # The judge's calls are spans of their own, costed like any other.
    def traced():
        rows = sql(srv, "SELECT count(*), sum(cost_micros), sum(status = 'error') FROM spans WHERE service = 'pyflare-judge'")
        return rows[0][0] == 4 and rows[0]
    count, cost, errors = wait_until(traced, timeout=30, what="the judge's spans")
    assert cost == 4 * 140 - 140 and errors == 1  # the timed-out call has no usage, and fails

    # Judged once: a second run sends nothing.
    before = len(judge.requests)
    run_job(srv, "llm_judge")
    assert len(judge.requests) == before


def test_judge_stops_at_its_daily_spend_cap(start_server, judge):
    srv = start_server(quality_config(judge.url, max_daily_spend_usd=0.0001), name="judge-cap")
    provider = tracer_provider(srv, "judged-app")
    tracer = provider.get_tracer("pyflare.e2e.quality")
    now = time.time_ns()
    for i in range(3):
        span, end = llm_span(tracer, now - MINUTE + i * SEC, "app-model", {"input.value": "q", "output.value": f"answer {i}"})
        span.end(end_time=end)
    provider.shutdown()
    wait_spans(srv, 3)
    before = len(judge.requests)
    run_job(srv, "llm_judge")
    # The first call costs $0.00014, past the $0.0001 cap: nothing more that day.
    assert len(judge.requests) - before == 1
    assert len(get(srv, "/api/v1/evaluations", source="judge")["evaluations"]) == 1
    assert "judge spend cap reached" in srv.logs()
