"""The Python SDK (sdk/python, installed into e2e/.venv) against the real server: what `@pyflare.trace`,
`span()`, `llm_span()` and the helpers send is read back from `GET /api/v1/traces/{id}` with its
parents, attributes, user, session, feature, tokens and cost; `calculate_cost` equals the server's
cost for every model of the price list; configuration, env overrides, shutdown, disabled mode,
thread and asyncio propagation; the wheel installs and works in a fresh venv."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

import pyflare
from harness import REPO_ROOT
from opentelemetry import trace as otel_trace
from sdk_helpers import (SDK_SERVER_CONFIG, clean_env, metric_points, sdk_init, service_name, span_hex, spans_by_name,
                         trace_hex, trace_status)

SERVER_PRICING = REPO_ROOT / "Sources" / "PyFlareModel" / "Resources" / "pricing.json"


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory(SDK_SERVER_CONFIG, name="sdk")


@pytest.fixture
def sdk(srv, monkeypatch):
    clean_env(monkeypatch)
    service = service_name("sdk")
    client = sdk_init(srv, service, capture_content=True)
    yield client
    pyflare.shutdown()


# -- spans, parents, attributes -----------------------------------------------------------------

@pyflare.trace(name="retrieve documents")
def retrieve(query: str) -> list[dict]:
    with pyflare.retrieval_span(query, retriever="bm25"):
        docs = [{"id": "d1", "content": "Paris is the capital of France.", "score": 0.91},
                {"id": "d2", "content": "France is in Europe.", "score": 0.42}]
        pyflare.record_retrieval(docs, query=query, retriever="bm25")
        return docs


def test_spans_tree_attributes_user_session_feature_tokens_and_cost(sdk, srv):
    with pyflare.span("handle request", attributes={"http.route": "/ask"}) as root:
        pyflare.set_user("alice")
        pyflare.set_session("sess-1")
        pyflare.set_feature("qa")
        retrieve("capital of France?")
        with pyflare.llm_span("gpt-4o", provider="openai") as call:
            call.set_usage(input_tokens=1200, output_tokens=85, cached_tokens=1024)
            call.set_response(model="gpt-4o-2024-08-06", response_id="resp-1", finish_reasons=["stop"])
            call.set_input_messages([{"role": "user", "parts": [{"type": "text", "content": "capital of France?"}]}])
            call.set_output_messages([{"role": "assistant", "parts": [{"type": "text", "content": "Paris."}]}])
            pyflare.record_quality_score("faithfulness", 0.92, label="pass", explanation="supported by d1")
    spans = spans_by_name(srv, trace_hex(root))
    assert set(spans) == {"handle request", "retrieve documents", "retrieval bm25", "chat gpt-4o"}
    root_id = span_hex(root)
    assert spans["handle request"]["parent_span_id"] == ""
    assert spans["retrieve documents"]["parent_span_id"] == root_id
    assert spans["retrieval bm25"]["parent_span_id"] == spans["retrieve documents"]["span_id"]
    assert spans["chat gpt-4o"]["parent_span_id"] == root_id

    # user, session and feature: on the span that was open when they were set and on every child
    for name, s in spans.items():
        pf = s["pyflare"]
        assert (pf["user"], pf["session"], pf["feature"]) == ("alice", "sess-1", "qa"), name
        assert pf["environment"] == "e2e" and pf["service"] == sdk.settings.service_name, name
        res = s["resource"]["attributes"]
        assert res["service.version"] == "1.2.3" and res["pyflare.project"] == "proj-e2e", name
        assert res["telemetry.distro.name"] == "pyflare", name
    assert spans["handle request"]["attributes"]["http.route"] == "/ask"

    llm = spans["chat gpt-4o"]
    assert llm["kind"] == 3  # CLIENT
    pf = llm["pyflare"]
    expected = pyflare.calculate_cost("gpt-4o-2024-08-06", 1200, 85, cached_tokens=1024)
    assert expected is not None and expected.micros == round(176 * 2.5 + 1024 * 1.25 + 85 * 10.0)
    assert {k: pf[k] for k in ("model", "response_model", "provider", "operation", "ai_kind", "input_tokens",
                               "output_tokens", "cache_read_tokens", "total_tokens", "cost_micros", "cost_source",
                               "price_model")} == {
        "model": "gpt-4o", "response_model": "gpt-4o-2024-08-06", "provider": "openai", "operation": "chat",
        "ai_kind": "llm", "input_tokens": 1200, "output_tokens": 85, "cache_read_tokens": 1024, "total_tokens": 1285,
        "cost_micros": expected.micros, "cost_source": "pricing", "price_model": "gpt-4o"}
    attrs = llm["attributes"]
    assert attrs["gen_ai.response.id"] == "resp-1" and attrs["gen_ai.response.finish_reasons"] == ["stop"]
    assert json.loads(attrs["gen_ai.output.messages"])[0]["parts"][0]["content"] == "Paris."
    assert attrs["pyflare.quality.faithfulness.score"] == 0.92
    assert attrs["pyflare.quality.faithfulness.label"] == "pass"
    assert attrs["pyflare.quality.faithfulness.explanation"] == "supported by d1"

    ret = spans["retrieval bm25"]
    assert ret["pyflare"]["operation"] == "retrieval" and ret["pyflare"]["ai_kind"] == "retriever"
    assert ret["attributes"]["gen_ai.retrieval.query.text"] == "capital of France?"
    assert [d["id"] for d in json.loads(ret["attributes"]["gen_ai.retrieval.documents"])] == ["d1", "d2"]
    assert ret["attributes"]["pyflare.rag.documents.count"] == 2
    assert ret["attributes"]["pyflare.rag.documents.ids"] == ["d1", "d2"]
    assert ret["attributes"]["pyflare.rag.top_score"] == 0.91
    # the root is no model call: no model, no tokens, no cost (null, never 0)
    assert spans["handle request"]["pyflare"]["cost_micros"] is None
    assert spans["handle request"]["pyflare"]["model"] is None


def test_set_user_scope_resets_and_does_not_leak_to_siblings(sdk, srv):
    with pyflare.span("outer") as outer:
        with pyflare.set_user("carol"):
            with pyflare.span("with user"):
                pass
            with pyflare.span("own user", attributes={"user.id": "erin"}):
                pass
        with pyflare.span("after reset"):
            pass
    spans = spans_by_name(srv, trace_hex(outer))
    assert spans["with user"]["pyflare"]["user"] == "carol"
    assert spans["after reset"]["pyflare"]["user"] is None
    assert spans["own user"]["pyflare"]["user"] == "erin"  # a span's own attribute beats the propagated one
    assert spans["outer"]["pyflare"]["user"] == "carol"  # set while it was the current span
    assert pyflare.get_user() is None

    # set inside a span's block without a reset: gone when the block ends (no leak into the next
    # request a worker thread serves); a late reset() does not bring back the ended span
    with pyflare.span("request 1") as first:
        scope = pyflare.set_session("sess-leak")
    scope.reset()
    assert otel_trace.get_current_span() is otel_trace.INVALID_SPAN
    with pyflare.span("request 2") as second:
        pass
    assert spans_by_name(srv, trace_hex(first))["request 1"]["pyflare"]["session"] == "sess-leak"
    assert spans_by_name(srv, trace_hex(second))["request 2"]["pyflare"]["session"] is None
    assert trace_hex(first) != trace_hex(second)


@pyflare.trace
def double(x: int) -> int:
    return 2 * x


@pyflare.trace(name="async double", model_id="my-model", inference_type="chat", capture_output=True)
async def adouble(x: int) -> int:
    await asyncio.sleep(0)
    return 2 * x


@pyflare.trace(capture_output=True)
def count_up(n: int):
    for i in range(n):
        yield i


@pyflare.trace(capture_output=True)
async def acount_up(n: int):
    for i in range(n):
        await asyncio.sleep(0)
        yield i


@pyflare.trace(name="boom")
def boom(message: str) -> None:
    raise ValueError(message)


@pyflare.trace(name="async boom")
async def aboom() -> None:
    await asyncio.sleep(0)
    raise KeyError("missing")


@pyflare.trace(name="generator boom")
def gen_boom():
    yield 1
    raise RuntimeError("halfway")


def test_decorator_on_sync_async_generators_and_errors(sdk, srv):
    async def async_part():
        assert await adouble(4) == 8
        assert [x async for x in acount_up(3)] == [0, 1, 2]
        with pytest.raises(KeyError):
            await aboom()

    with pyflare.span("root") as root:
        assert double(21) == 42
        assert list(count_up(4)) == [0, 1, 2, 3]
        asyncio.run(async_part())
        with pytest.raises(ValueError, match="bad input"):
            boom("bad input")
        with pytest.raises(RuntimeError, match="halfway"):
            for _ in gen_boom():
                pass
        partial = count_up(10)
        assert next(partial) == 0
        partial.close()  # a generator closed early still ends its span, without an error
    spans = spans_by_name_multi(srv, trace_hex(root))
    root_id = span_hex(root)
    for name in ("double", "count_up", "async double", "acount_up", "boom",
                 "async boom", "generator boom"):
        assert name in spans, (name, sorted(spans))
    # names: the qualified name of the function unless given
    d = spans["double"][0]
    assert d["parent_span_id"] == root_id
    assert d["attributes"]["code.function.name"] == "test_sdk.double"
    assert json.loads(d["attributes"]["pyflare.input.preview"]) == {"x": 21}  # capture_content=True in init
    assert d["attributes"]["pyflare.output.preview"] == "42"
    a = spans["async double"][0]
    assert a["parent_span_id"] == root_id
    assert a["attributes"]["pyflare.model.id"] == "my-model" and a["pyflare"]["model"] == "my-model"
    assert a["pyflare"]["operation"] == "chat"
    assert a["attributes"]["pyflare.output.preview"] == "8"
    full, early = sorted(spans["count_up"], key=lambda s: s["attributes"]["pyflare.output.items"], reverse=True)
    assert full["attributes"]["pyflare.output.items"] == 4 and full["attributes"]["pyflare.output.preview"] == "[0, 1, 2, 3]"
    assert early["attributes"]["pyflare.output.items"] == 1 and early["status"]["code"] == 0
    ag = spans["acount_up"][0]
    assert ag["attributes"]["pyflare.output.items"] == 3 and ag["parent_span_id"] == root_id
    for name, etype, message in (("boom", "ValueError", "bad input"), ("async boom", "KeyError", "'missing'"),
                                 ("generator boom", "RuntimeError", "halfway")):
        s = spans[name][0]
        assert s["status"]["code"] == 2, name
        assert s["status"]["message"] == f"{etype}: {message}", name
        assert s["attributes"]["error.type"] == etype, name
        ev = [e for e in s["events"] if e["name"] == "exception"]
        assert len(ev) == 1 and ev[0]["attributes"]["exception.type"] == etype, name
    assert spans["generator boom"][0]["attributes"]["pyflare.output.items"] == 1
    # a generator's own span is not current while the consumer runs: spans the consumer makes
    # between items are siblings of the generator's span, not its children
    for group in spans.values():
        for s in group:
            if s["name"] != "root":
                assert s["parent_span_id"] == root_id, s["name"]


def spans_by_name_multi(srv, trace_id: str) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for s in srv.get_trace(trace_id)["spans"]:
        out.setdefault(s["name"], []).append(s)
    return out


def test_previews_are_truncated_and_follow_capture_settings(srv, monkeypatch):
    clean_env(monkeypatch)
    sdk_init(srv, service_name("sdk-preview"), capture_content=False)
    try:
        @pyflare.trace(name="quiet")
        def quiet(text):
            return text

        @pyflare.trace(name="loud", capture_input=True, capture_output=True)
        def loud(text):
            return text

        class Agent:
            @pyflare.trace(name="method", capture_input=True)
            def act(self, goal, *, budget=3):
                return goal

        @pyflare.trace(name="echo", capture_output=True)
        def echo():
            received = yield "ready"
            while received is not None:
                received = yield received.upper()

        big = "x" * 5000
        with pyflare.span("root") as root:
            quiet(big)
            loud(big)
            Agent().act("win")
            gen = echo()
            assert next(gen) == "ready" and gen.send("a") == "A" and gen.send("b") == "B"
            with pytest.raises(StopIteration):
                gen.send(None)
        spans = spans_by_name(srv, trace_hex(root))
        # a method's preview leaves out self; keyword defaults are not invented
        assert json.loads(spans["method"]["attributes"]["pyflare.input.preview"]) == {"goal": "win"}
        # send() reaches the generator through the traced wrapper
        assert spans["echo"]["attributes"]["pyflare.output.preview"] == '["ready", "A", "B"]'
        assert spans["echo"]["attributes"]["pyflare.output.items"] == 3
        assert "pyflare.input.preview" not in spans["quiet"]["attributes"]  # capture_content off
        assert "pyflare.output.preview" not in spans["quiet"]["attributes"]
        inp = spans["loud"]["attributes"]["pyflare.input.preview"]
        out = spans["loud"]["attributes"]["pyflare.output.preview"]
        assert len(inp) == pyflare.PREVIEW_MAX_CHARS + 1 and inp.endswith("…") and inp.startswith('{"text": "xxx')
        assert out == "x" * pyflare.PREVIEW_MAX_CHARS + "…"
    finally:
        pyflare.shutdown()


# -- propagation across threads and asyncio tasks -----------------------------------------------

def test_thread_propagation(sdk, srv):
    def work(label: str) -> str:
        with pyflare.span(f"work {label}") as s:
            return trace_hex(s)

    with pyflare.span("dispatch") as root:
        pyflare.set_user("bob")
        with ThreadPoolExecutor(max_workers=2) as pool:
            bound = [pool.submit(pyflare.bind_context(work), label) for label in ("a", "b")]
            unbound = pool.submit(work, "unbound")
            results = [f.result() for f in bound]
            lone_trace = unbound.result()
        t = threading.Thread(target=pyflare.bind_context(work), args=("thread",))
        t.start()
        t.join()
    tid = trace_hex(root)
    assert results == [tid, tid]
    spans = spans_by_name(srv, tid)
    for name in ("work a", "work b", "work thread"):
        assert spans[name]["parent_span_id"] == span_hex(root), name
        assert spans[name]["pyflare"]["user"] == "bob", name
    # a thread given no context starts from an empty one: its span is a root of another trace
    assert "work unbound" not in spans and lone_trace != tid
    lone = spans_by_name(srv, lone_trace)["work unbound"]
    assert lone["parent_span_id"] == "" and lone["pyflare"]["user"] is None


def test_asyncio_tasks_keep_their_own_context(sdk, srv):
    async def handle(user: str, delay: float) -> str:
        with pyflare.span(f"request {user}") as s:
            # tags this request's span and, through the task's own context, only what it starts
            pyflare.set_user(user)
            await asyncio.sleep(delay)
            await double_async(user)
            return span_hex(s)

    @pyflare.trace(name="step")
    async def step(user: str) -> None:
        await asyncio.sleep(0.001)

    async def double_async(user: str) -> None:
        with pyflare.span(f"inner {user}"):
            await asyncio.sleep(0)
            await step(user)

    async def main() -> list[str]:
        return await asyncio.gather(handle("u1", 0.02), handle("u2", 0.01), handle("u3", 0))

    with pyflare.span("server") as root:
        request_ids = asyncio.run(main())
    spans = spans_by_name_multi(srv, trace_hex(root))
    for user, request_id in zip(("u1", "u2", "u3"), request_ids):
        request = spans[f"request {user}"][0]
        inner = spans[f"inner {user}"][0]
        assert request["parent_span_id"] == span_hex(root)
        assert inner["parent_span_id"] == request_id == request["span_id"]
        assert request["pyflare"]["user"] == user and inner["pyflare"]["user"] == user
    steps = spans["step"]
    assert len(steps) == 3
    inner_ids = {spans[f"inner {u}"][0]["span_id"]: u for u in ("u1", "u2", "u3")}
    assert sorted(inner_ids[s["parent_span_id"]] for s in steps) == ["u1", "u2", "u3"]
    for s in steps:
        assert s["pyflare"]["user"] == inner_ids[s["parent_span_id"]]
    assert spans["server"][0]["pyflare"]["user"] is None  # the tasks' users stayed in the tasks


def test_otel_global_tracer_reports_to_pyflare(sdk, srv):
    """Other OpenTelemetry instrumentations use the global tracer provider: pointed at PyFlare."""
    tracer = otel_trace.get_tracer("some.library")
    with pyflare.span("app") as root:
        pyflare.set_feature("search")
        with tracer.start_as_current_span("library work"):
            pass
    spans = spans_by_name(srv, trace_hex(root))
    assert spans["library work"]["parent_span_id"] == span_hex(root)
    assert spans["library work"]["scope"]["name"] == "some.library"
    assert spans["library work"]["pyflare"]["feature"] == "search"


# -- cost: the SDK's figure is the server's -------------------------------------------------------

def test_packaged_pricing_is_the_servers_file():
    from pyflare import cost

    packaged = cost._packaged_pricing_path()
    assert packaged is not None and "site-packages" in str(packaged), packaged  # the installed copy
    assert packaged.read_bytes() == SERVER_PRICING.read_bytes()
    assert cost.builtin_pricing_data() == json.loads(SERVER_PRICING.read_text())


# (input incl. cached and cache writes, output, cache read, cache write): odd counts so that products
# have fractions and the rounding is exercised, a cache larger than the input (clamped), and zeros
USAGES = [(123457, 6543, 23456, 1234), (1, 1, 0, 0), (999, 0, 999, 0), (7, 3, 0, 11), (0, 250001, 0, 0)]


def test_calculate_cost_equals_the_server_for_every_model(sdk, srv):
    prices = json.loads(SERVER_PRICING.read_text())["models"]
    names = []
    for p in prices:
        m = p["model"]
        names += [m, m.upper() + "-2099-01-01"]  # exact, and dated + case: the longest-prefix rule
    names += ["openai/gpt-4o-mini", "us.anthropic.claude-3-5-sonnet-20241022-v2:0", "models/gemini-1.5-pro-002",
              "in-house-llm-7b"]  # provider paths, a vendor qualifier, an unpriced model
    expected = {}
    with pyflare.span("price list") as root:
        for i, model in enumerate(names):
            inp, out, cr, cw = USAGES[i % len(USAGES)]
            with pyflare.llm_span(model, name=f"call {i}") as call:
                call.set_usage(input_tokens=inp, output_tokens=out, cached_tokens=cr, cache_write_tokens=cw)
            c = pyflare.calculate_cost(model, inp, out, cached_tokens=cr, cache_write_tokens=cw)
            expected[f"call {i}"] = (model, None if c is None else c.micros, None if c is None else c.price.model)
    spans = spans_by_name(srv, trace_hex(root))
    mismatches = []
    for name, (model, micros, price_model) in expected.items():
        pf = spans[name]["pyflare"]
        if (pf["cost_micros"], pf["price_model"]) != (micros, price_model):
            mismatches.append((model, micros, price_model, pf["cost_micros"], pf["price_model"]))
    assert not mismatches, f"SDK vs server (model, sdk micros, sdk price, server micros, server price): {mismatches[:10]}"
    assert expected[f"call {len(names) - 1}"][1] is None  # unpriced: null on both sides, never 0
    assert len([v for v in expected.values() if v[1] is not None]) == len(names) - 1


def test_custom_price_matches_the_servers(sdk, srv):
    from pyflare import cost

    model = f"in-house-{os.getpid()}-{int(time.time())}"
    body = {"input": 0.37, "output": 1.11, "cache_read": 0.05, "provider": "acme"}
    r = requests.put(f"{srv.api_base}/api/v1/pricing/{model}", json=body, timeout=10)
    assert r.status_code in (200, 201), r.text
    assert pyflare.calculate_cost(model + "-v2", 1000, 10) is None
    cost.set_price(model, input=0.37, output=1.11, cache_read=0.05, provider="acme")
    expected = pyflare.calculate_cost(model + "-v2", 12345, 678, cached_tokens=2000)
    assert expected is not None and expected.price.model == model
    with pyflare.llm_span(model + "-v2", provider="acme") as call:
        call.set_usage(input_tokens=12345, output_tokens=678, cached_tokens=2000)
    got = spans_by_name(srv, trace_hex(call.span))[f"chat {model}-v2"]["pyflare"]
    # (price_model is not compared: the trace API names prices from its start-up table, so one
    # added later through the API shows as null there while the cost itself is right)
    assert got["cost_micros"] == expected.micros and got["cost_source"] == "pricing"
    assert abs(expected.usd - expected.micros / 1e6) < 1e-12


# -- metrics and logs -----------------------------------------------------------------------------

def test_genai_metrics_and_logs_reach_the_server(sdk, srv):
    import logging

    service = sdk.settings.service_name
    logger = logging.getLogger(f"e2e.{service}")
    logger.setLevel(logging.INFO)
    handler = sdk.logging_handler()
    logger.addHandler(handler)
    try:
        with pyflare.span("with metrics") as root:
            for inp, out in ((100, 10), (300, 30)):
                with pyflare.llm_span("gpt-4o-mini", provider="openai") as call:
                    call.set_usage(input_tokens=inp, output_tokens=out)
            logger.info("answered %d questions", 2)
        assert pyflare.force_flush()
    finally:
        logger.removeHandler(handler)
    inputs = metric_points(srv, "gen_ai.client.token.usage", service, **{"gen_ai.token.type": "input"},
                           want=lambda ps: any(p["sum"] >= 400 for p in ps))
    # cumulative histograms (the SDK's default): the latest point holds the totals
    assert max(p["sum"] for p in inputs) == 400 and max(p["count"] for p in inputs) == 2
    outputs = metric_points(srv, "gen_ai.client.token.usage", service, **{"gen_ai.token.type": "output"})
    assert max(p["sum"] for p in outputs) == 40
    durations = metric_points(srv, "gen_ai.client.operation.duration", service,
                              **{"gen_ai.request.model": "gpt-4o-mini", "gen_ai.provider.name": "openai"})
    assert max(p["count"] for p in durations) == 2
    trace = srv.get_trace(trace_hex(root))
    assert [r["body"] for r in trace["logs"]] == ["answered 2 questions"]
    assert trace["logs"][0]["span_id"] == span_hex(root)


def test_capture_logs_sends_python_logging(srv, monkeypatch):
    import logging

    clean_env(monkeypatch)
    client = sdk_init(srv, service_name("sdk-logs"), capture_logs=True)
    root_logger = logging.getLogger()
    handler = client._log_handler
    try:
        assert handler is not None and handler in root_logger.handlers
        with pyflare.span("logged") as s:
            logging.getLogger("e2e.app").warning("disk %s%% full", 91)
            logging.getLogger("e2e.app").debug("below INFO: not sent")
        assert pyflare.force_flush()
        logs = srv.get_trace(trace_hex(s))["logs"]
        assert [(r["body"], r["severity_text"]) for r in logs] == [("disk 91% full", "WARN")], logs
    finally:
        pyflare.shutdown()
    assert handler not in root_logger.handlers  # shutdown takes the handler away again


# -- configuration ----------------------------------------------------------------------------------

def test_env_overrides_the_arguments(srv, monkeypatch):
    clean_env(monkeypatch)
    monkeypatch.setenv("PYFLARE_ENDPOINT", srv.otlp_base)  # the argument below points nowhere
    monkeypatch.setenv("PYFLARE_ENVIRONMENT", "from-env")
    monkeypatch.setenv("PYFLARE_CAPTURE_CONTENT", "true")
    monkeypatch.setenv("PYFLARE_API_KEY", "key-123")
    client = pyflare.init(service_name("sdk-env"), endpoint="http://127.0.0.1:9/", use_http=True,
                          environment="from-arg", batch_export=False, capture_content=False)
    try:
        assert client.settings.endpoint == srv.otlp_base and client.settings.capture_content is True
        assert client.settings.export_headers()["authorization"] == "Bearer key-123"
        with pyflare.span("configured") as s:
            pass
        got = spans_by_name(srv, trace_hex(s))["configured"]
        assert got["pyflare"]["environment"] == "from-env"
    finally:
        pyflare.shutdown()


def test_env_sample_rate_zero_sends_nothing(srv, monkeypatch):
    clean_env(monkeypatch)
    monkeypatch.setenv("PYFLARE_SAMPLE_RATE", "0")
    sdk_init(srv, service_name("sdk-sampled"), sample_rate=1.0)
    try:
        with pyflare.span("dropped") as s:
            assert not s.is_recording()
        assert pyflare.force_flush()
        assert trace_status(srv, trace_hex(s)) == 404
    finally:
        pyflare.shutdown()


@pytest.mark.parametrize("name,value,message", [
    ("PYFLARE_SAMPLE_RATE", "often", "PYFLARE_SAMPLE_RATE: expected a number between 0 and 1, got 'often'"),
    ("PYFLARE_SAMPLE_RATE", "1.5", "PYFLARE_SAMPLE_RATE: expected a number between 0 and 1, got '1.5'"),
    ("PYFLARE_ENABLED", "maybe", "PYFLARE_ENABLED: expected true or false"),
    ("PYFLARE_ENDPOINT", "localhost:4317", "PYFLARE_ENDPOINT: expected an http:// or https:// URL, got 'localhost:4317'"),
])
def test_bad_settings_name_the_setting(monkeypatch, name, value, message):
    clean_env(monkeypatch)
    monkeypatch.setenv(name, value)
    with pytest.raises(pyflare.ConfigError) as err:
        pyflare.init("svc")
    assert message in str(err.value)
    assert pyflare.get_client() is None


def test_shutdown_flushes_and_init_twice_replaces(srv, monkeypatch):
    clean_env(monkeypatch)
    first_service, second_service = service_name("sdk-first"), service_name("sdk-second")
    # batched with an interval far beyond the test: only a flush sends these spans
    sdk_init(srv, first_service, batch_export=True, export_interval_ms=600000)
    with pyflare.span("batched 1") as s1:
        pass
    assert trace_status(srv, trace_hex(s1)) == 404  # still in the batch
    sdk_init(srv, second_service, batch_export=True, export_interval_ms=600000)  # replaces, flushing the first
    assert spans_by_name(srv, trace_hex(s1))["batched 1"]["pyflare"]["service"] == first_service
    with pyflare.span("batched 2") as s2:
        pass
    pyflare.shutdown()
    assert spans_by_name(srv, trace_hex(s2))["batched 2"]["pyflare"]["service"] == second_service
    pyflare.shutdown()  # twice: nothing to do, no error
    assert pyflare.get_client() is None
    with pyflare.span("after shutdown") as s3:
        assert not s3.is_recording()


def test_disabled_sdk_does_nothing(srv, monkeypatch):
    clean_env(monkeypatch)
    monkeypatch.setenv("PYFLARE_ENABLED", "false")
    threads_before = {t.ident for t in threading.enumerate()}
    from openai.resources.chat.completions import completions as oai

    create_before = oai.Completions.create
    assert pyflare.init(service_name("sdk-off"), endpoint=srv.otlp_base, use_http=True) is None
    try:
        assert pyflare.get_client() is None and not pyflare.is_enabled()
        assert pyflare.integrations.openai.instrument() is False
        assert oai.Completions.create is create_before
        assert double(5) == 10 and list(count_up(2)) == [0, 1]
        with pyflare.span("nothing") as s:
            assert s is otel_trace.INVALID_SPAN
        with pyflare.llm_span("gpt-4o") as call:
            call.set_usage(input_tokens=1, output_tokens=1)
        pyflare.set_user("nobody").reset()
        assert {t.ident for t in threading.enumerate()} <= threads_before  # no exporter thread started
    finally:
        pyflare.shutdown()


# -- the package itself -----------------------------------------------------------------------------

def test_wheel_builds_and_installs_into_a_fresh_venv(srv, tmp_path):
    """Builds the wheel as a user would (`pip wheel`), installs it into a new venv and uses it there.

    Offline and fast: the build backend (hatchling) comes from the e2e venv (--no-build-isolation),
    and the new venv reaches the SDK's dependencies through a .pth file naming the e2e venv's
    site-packages, placed after its own: the pyflare it imports is the one from the wheel."""
    sdk_dir = REPO_ROOT / "sdk" / "python"
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "-q", "-w", str(dist), str(sdk_dir)], check=True, timeout=120)
    wheels = list(dist.glob("pyflare-*.whl"))
    assert len(wheels) == 1, wheels
    import zipfile

    names = zipfile.ZipFile(wheels[0]).namelist()
    for member in ("pyflare/__init__.py", "pyflare/py.typed", "pyflare/data/pricing.json",
                   "pyflare/integrations/openai.py", "pyflare/integrations/anthropic.py"):
        assert member in names, member
    assert zipfile.ZipFile(wheels[0]).read("pyflare/data/pricing.json") == SERVER_PRICING.read_bytes()

    # an sdist carries the copy of the price list, and a wheel built from it has it too
    subprocess.run([sys.executable, "-m", "hatchling", "build", "-t", "sdist", "-d", str(tmp_path / "sdist")],
                   cwd=sdk_dir, check=True, timeout=120, capture_output=True)
    import tarfile

    (sdist,) = (tmp_path / "sdist").glob("pyflare-*.tar.gz")
    with tarfile.open(sdist) as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    (unpacked,) = (tmp_path / "unpacked").iterdir()
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "-q", "-w", str(tmp_path / "from-sdist"), str(unpacked)],
                   check=True, timeout=120)
    (from_sdist,) = (tmp_path / "from-sdist").glob("pyflare-*.whl")
    assert zipfile.ZipFile(from_sdist).read("pyflare/data/pricing.json") == SERVER_PRICING.read_bytes()

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    py = venv / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index",
                    "--disable-pip-version-check", "-q", str(wheels[0])], check=True, timeout=120)
    e2e_site = next(p for p in sys.path if p.endswith("site-packages") and Path(p, "opentelemetry").is_dir())
    Path(site, "zz_e2e_deps.pth").write_text(e2e_site + "\n")
    service = service_name("sdk-wheel")
    script = f"""
import pyflare, json
assert pyflare.__file__.startswith({site!r}), pyflare.__file__
from importlib.metadata import version
assert version("pyflare") == pyflare.__version__
c = pyflare.calculate_cost("gpt-4o", 1000, 100)
pyflare.init({service!r}, endpoint={srv.otlp_base!r}, use_http=True, batch_export=False)
with pyflare.span("from the wheel") as s:
    pass
pyflare.shutdown()
print(json.dumps({{"trace": format(s.get_span_context().trace_id, "032x"), "micros": c.micros}}))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYFLARE_") and k != "PYTHONPATH"}
    out = subprocess.run([str(py), "-c", script], check=True, capture_output=True, text=True, timeout=60, env=env)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["micros"] == 1000 * 2.5 + 100 * 10.0
    got = spans_by_name(srv, result["trace"])["from the wheel"]
    assert got["pyflare"]["service"] == service
    assert got["resource"]["attributes"]["telemetry.distro.version"] == pyflare.__version__


def test_quality_scores_become_server_evaluations(sdk, srv):
    """`record_quality_score` writes the `pyflare.quality.*` convention the evaluations job reads."""
    with pyflare.span("answer") as root:
        with pyflare.llm_span("gpt-4o-mini", provider="openai") as call:
            call.set_usage(input_tokens=10, output_tokens=5)
            pyflare.record_quality_score("helpfulness", 0.25, explanation="too vague")
            pyflare.record_quality_score("toxicity", label="fail", passed=False)
    before = requests.get(f"{srv.api_base}/api/v1/jobs/evaluations/runs", timeout=10).json()["runs"]
    r = requests.post(f"{srv.api_base}/api/v1/jobs/evaluations/run", timeout=10)
    assert r.status_code == 202, r.text
    deadline = time.monotonic() + 30
    while True:
        runs = requests.get(f"{srv.api_base}/api/v1/jobs/evaluations/runs", timeout=10).json()["runs"]
        if len(runs) > len(before) and runs[0]["status"] != "running":
            break
        assert time.monotonic() < deadline, runs[:1]
        time.sleep(0.1)
    assert runs[0]["status"] == "ok", runs[0]
    got = requests.get(f"{srv.api_base}/api/v1/evaluations", params={"trace_id": trace_hex(root)}, timeout=10).json()
    by_name = {e["name"]: e for e in got["evaluations"]}
    assert set(by_name) == {"helpfulness", "toxicity"}, got
    assert by_name["helpfulness"]["score"] == 0.25 and by_name["helpfulness"]["explanation"] == "too vague"
    assert by_name["helpfulness"]["span_id"] == span_hex(call.span) and by_name["helpfulness"]["model"] == "gpt-4o-mini"
    assert by_name["toxicity"]["label"] == "fail" and by_name["toxicity"]["passed"] is False


def test_grpc_by_default(srv, monkeypatch):
    clean_env(monkeypatch)
    from pyflare._config import resolve

    defaults = resolve("svc", None, None, None, None, None, None, None, True, None, None, None, None, 1000, True, True)
    assert (defaults.endpoint, defaults.use_http) == ("http://localhost:4317", False)
    assert resolve("svc", None, None, None, None, None, None, True, True, None, None, None, None, 1000, True,
                   True).signal_endpoint("traces") == "http://localhost:4318/v1/traces"
    service = service_name("sdk-grpc")
    pyflare.init(service, endpoint=f"http://127.0.0.1:{srv.grpc_port}", batch_export=False, export_interval_ms=60000)
    try:
        with pyflare.span("over grpc") as root:
            with pyflare.llm_span("gpt-4o", provider="openai") as call:
                call.set_usage(input_tokens=7, output_tokens=3)
        assert pyflare.force_flush()
        spans = spans_by_name(srv, trace_hex(root))
        assert spans["chat gpt-4o"]["pyflare"]["cost_micros"] == pyflare.calculate_cost("gpt-4o", 7, 3).micros
        points = metric_points(srv, "gen_ai.client.token.usage", service, **{"gen_ai.token.type": "output"})
        assert max(p["sum"] for p in points) == 3
    finally:
        pyflare.shutdown()


def test_a_second_client_beside_init(sdk, srv):
    """`PyFlare.create` builds a client with init's arguments without replacing the current one."""
    other = pyflare.PyFlare.create("sdk-second-client", endpoint=srv.otlp_base, use_http=True, batch_export=False,
                                   environment="side", metrics=False, logs=False)
    try:
        assert pyflare.get_client() is sdk
        with other.tracer.start_as_current_span("from the second client") as s:
            pass
        got = spans_by_name(srv, trace_hex(s))["from the second client"]
        assert got["pyflare"]["service"] == "sdk-second-client" and got["pyflare"]["environment"] == "side"
        with pytest.raises(TypeError, match="unexpected arguments: colour"):
            pyflare.PyFlare.create("x", colour="red")
    finally:
        other.shutdown()


def test_semconv_names_are_opentelemetrys_and_the_servers():
    """The GenAI names in pyflare.semconv are OpenTelemetry's current ones, and every key the SDK
    writes for a normalized column is one the server reads (NormalizedColumn.swift)."""
    import re

    from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as otel_genai
    from opentelemetry.semconv._incubating.metrics import gen_ai_metrics as otel_metrics
    from pyflare import semconv

    checked = 0
    for name in dir(semconv):
        if name.startswith("GEN_AI_") and hasattr(otel_genai, name):
            assert getattr(semconv, name) == getattr(otel_genai, name), name
            checked += 1
    assert checked >= 20, checked
    assert semconv.METRIC_TOKEN_USAGE == otel_metrics.GEN_AI_CLIENT_TOKEN_USAGE
    assert semconv.METRIC_OPERATION_DURATION == otel_metrics.GEN_AI_CLIENT_OPERATION_DURATION
    assert semconv.METRIC_TIME_TO_FIRST_CHUNK == otel_metrics.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK
    swift = (REPO_ROOT / "Sources" / "PyFlareModel" / "NormalizedColumn.swift").read_text()
    server_keys = set(re.findall(r'"([a-z_][a-z0-9_.]*)"', swift))
    written = [semconv.GEN_AI_REQUEST_MODEL, semconv.GEN_AI_RESPONSE_MODEL, semconv.GEN_AI_PROVIDER_NAME,
               semconv.GEN_AI_OPERATION_NAME, semconv.GEN_AI_USAGE_INPUT_TOKENS, semconv.GEN_AI_USAGE_OUTPUT_TOKENS,
               semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
               semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, semconv.MODEL_ID, semconv.INFERENCE_TYPE, semconv.USER,
               semconv.SESSION, semconv.APP_FEATURE, semconv.DEPLOYMENT_ENVIRONMENT, semconv.SERVICE_NAME,
               semconv.COST_MICROS, semconv.COST_USD, semconv.TOKENS_INPUT, semconv.TOKENS_CACHED]
    assert [k for k in written if k not in server_keys] == []
