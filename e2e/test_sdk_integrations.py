"""`pyflare.integrations.openai` and `.anthropic` with the real `openai` and `anthropic` clients from
PyPI, pointed (`base_url`) at a local stub that answers like each provider (provider_stub.py: JSON
bodies, server-sent-event streams, 429 and 500 errors). The GenAI spans are read back from the
server with their tokens and cost (equal to `pyflare.calculate_cost`), streams included; the GenAI
client metrics reach it; `uninstrument()` puts the clients back."""

from __future__ import annotations

import asyncio
import json

import anthropic
import openai
import pytest

import pyflare
from provider_stub import (ANTHROPIC_USAGE, EMBEDDING_TOKENS_PER_INPUT, FIRST_CHUNK_DELAY_S, OPENAI_USAGE, REPLY_TEXT,
                           ProviderStub)
from sdk_helpers import SDK_SERVER_CONFIG, clean_env, metric_points, sdk_init, service_name, span_hex, trace_hex

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello."}]
OPENAI_TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
                                                "parameters": {"type": "object",
                                                               "properties": {"city": {"type": "string"}}}}}
ANTHROPIC_TOOL = {"name": "get_weather", "description": "Weather of a city",
                  "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
CLAUDE = "claude-3-5-sonnet-20241022"

# what the stub reports, as the GenAI conventions count it (input includes cached reads and writes)
OPENAI_TOKENS = dict(input=OPENAI_USAGE["prompt_tokens"], output=OPENAI_USAGE["completion_tokens"],
                     cache_read=OPENAI_USAGE["cached_tokens"], cache_write=None)
ANTHROPIC_TOKENS = dict(input=ANTHROPIC_USAGE["input_tokens"] + ANTHROPIC_USAGE["cache_read_input_tokens"]
                        + ANTHROPIC_USAGE["cache_creation_input_tokens"], output=ANTHROPIC_USAGE["output_tokens"],
                        cache_read=ANTHROPIC_USAGE["cache_read_input_tokens"],
                        cache_write=ANTHROPIC_USAGE["cache_creation_input_tokens"])


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory(SDK_SERVER_CONFIG, name="sdk-integrations")


@pytest.fixture(scope="module")
def stub():
    s = ProviderStub().start()
    yield s
    s.stop()


@pytest.fixture
def sdk(srv, monkeypatch):
    clean_env(monkeypatch)
    client = sdk_init(srv, service_name("sdk-llm"), capture_content=True)
    assert pyflare.integrations.openai.instrument() and pyflare.integrations.anthropic.instrument()
    yield client
    pyflare.integrations.openai.uninstrument()
    pyflare.integrations.anthropic.uninstrument()
    pyflare.shutdown()


def oai(stub):
    return openai.OpenAI(base_url=stub.openai_base_url, api_key="sk-test", max_retries=0)


def aoai(stub):
    return openai.AsyncOpenAI(base_url=stub.openai_base_url, api_key="sk-test", max_retries=0)


def claude(stub):
    return anthropic.Anthropic(base_url=stub.anthropic_base_url, api_key="sk-ant-test", max_retries=0)


def aclaude(stub):
    return anthropic.AsyncAnthropic(base_url=stub.anthropic_base_url, api_key="sk-ant-test", max_retries=0)


def llm_spans(srv, root) -> list[dict]:
    """The GenAI spans of root's trace, in start order, each checked to be a child of root."""
    spans = [s for s in srv.get_trace(trace_hex(root))["spans"] if s["span_id"] != span_hex(root)]
    for s in spans:
        assert s["parent_span_id"] == span_hex(root), s["name"]
    return sorted(spans, key=lambda s: s["start_time_unix_nano"])


def check_costed(span: dict, provider: str, model: str, response_model: str, tokens: dict) -> None:
    pf = span["pyflare"]
    assert span["kind"] == 3 and span["name"] == f"chat {model}"
    assert (pf["provider"], pf["operation"], pf["model"], pf["response_model"]) == (provider, "chat", model,
                                                                                    response_model)
    assert pf["input_tokens"] == tokens["input"] and pf["output_tokens"] == tokens["output"]
    assert pf["cache_read_tokens"] == tokens["cache_read"] and pf["cache_write_tokens"] == tokens["cache_write"]
    expected = pyflare.calculate_cost(response_model, tokens["input"], tokens["output"],
                                      cached_tokens=tokens["cache_read"] or 0,
                                      cache_write_tokens=tokens["cache_write"] or 0)
    assert expected is not None and expected.micros > 0
    assert (pf["cost_micros"], pf["cost_source"]) == (expected.micros, "pricing"), span["attributes"]
    attrs = span["attributes"]
    assert attrs["gen_ai.provider.name"] == provider and attrs["gen_ai.operation.name"] == "chat"
    assert attrs["server.address"] == "127.0.0.1"


def check_stream(span: dict, chunks_at_least: int) -> None:
    attrs = span["attributes"]
    assert attrs["gen_ai.request.stream"] is True
    # the stub waits FIRST_CHUNK_DELAY_S before its first event; the span lasts at least as long
    ttfc = attrs["gen_ai.response.time_to_first_chunk"]
    assert FIRST_CHUNK_DELAY_S <= ttfc <= (span["end_time_unix_nano"] - span["start_time_unix_nano"]) / 1e9
    assert attrs["pyflare.stream.chunks"] >= chunks_at_least


# -- OpenAI ---------------------------------------------------------------------------------------

def test_openai_sync_plain_streamed_tools_and_content(sdk, srv, stub):
    client = oai(stub)
    with pyflare.span("openai calls") as root:
        pyflare.set_user("alice")
        reply = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, temperature=0.2, max_tokens=50)
        assert reply.choices[0].message.content == REPLY_TEXT
        sent_before = len(stub.requests)
        stream = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
        chunks = list(stream)
        # what went over the wire asked for the usage chunk, though the caller did not
        assert stub.requests[sent_before][2]["stream_options"] == {"include_usage": True}
        # the usage chunk the integration asked for is not handed to the caller, who did not ask
        assert all(c.choices for c in chunks)
        assert "".join(c.choices[0].delta.content or "" for c in chunks) == REPLY_TEXT
        with client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True,
                                            stream_options={"include_usage": True}) as own:
            asked = list(own)
        assert asked[-1].usage.prompt_tokens == OPENAI_USAGE["prompt_tokens"] and not asked[-1].choices
        tools = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, tools=[OPENAI_TOOL])
        assert tools.choices[0].message.tool_calls[0].function.name == "get_weather"
        # the helpers: structured-output parse() posts by itself, stream() goes through create()
        assert client.chat.completions.parse(model="gpt-4o", messages=MESSAGES).choices[0].message.content == REPLY_TEXT
        with client.chat.completions.stream(model="gpt-4o", messages=MESSAGES) as events:
            assert events.get_final_completion().choices[0].message.content == REPLY_TEXT
    plain, streamed, own_usage, tool, parsed, helper = llm_spans(srv, root)
    check_stream(helper, 2)
    for s, model in ((plain, "gpt-4o"), (streamed, "gpt-4o"), (own_usage, "gpt-4o"), (tool, "gpt-4o-mini"),
                     (parsed, "gpt-4o"), (helper, "gpt-4o")):
        response_model = "gpt-4o-2024-08-06" if model == "gpt-4o" else model
        check_costed(s, "openai", model, response_model, OPENAI_TOKENS)
        assert s["pyflare"]["user"] == "alice"
        assert s["status"]["code"] == 0
    check_stream(streamed, len(REPLY_TEXT.split()))
    check_stream(own_usage, 2)
    a = plain["attributes"]
    assert a["gen_ai.request.temperature"] == 0.2 and a["gen_ai.request.max_tokens"] == 50
    assert a["gen_ai.response.id"] == "chatcmpl-stub" and a["gen_ai.response.finish_reasons"] == ["stop"]
    assert "gen_ai.response.time_to_first_chunk" not in a
    # content capture is on in this test's init
    assert json.loads(a["gen_ai.input.messages"]) == [{"role": "user", "parts": [{"type": "text", "content": "Say hello."}]}]
    assert json.loads(a["gen_ai.system_instructions"]) == [{"type": "text", "content": "Be brief."}]
    out = json.loads(a["gen_ai.output.messages"])
    assert out == [{"role": "assistant", "parts": [{"type": "text", "content": REPLY_TEXT}], "finish_reason": "stop"}]
    assert json.loads(streamed["attributes"]["gen_ai.output.messages"])[0]["parts"][0]["content"] == REPLY_TEXT
    t = tool["attributes"]
    assert t["gen_ai.response.finish_reasons"] == ["tool_calls"]
    assert t["pyflare.response.tool_calls"] == ["get_weather"]
    assert json.loads(t["gen_ai.output.messages"])[0]["parts"] == [
        {"type": "tool_call", "id": "call_stub_1", "name": "get_weather", "arguments": {"city": "Paris"}}]
    assert json.loads(t["gen_ai.tool.definitions"])[0]["function"]["name"] == "get_weather"


def test_openai_async_streamed_tool_call(sdk, srv, stub):
    async def main():
        client = aoai(stub)
        reply = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        stream = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True,
                                                      tools=[OPENAI_TOOL])
        args = []
        async for chunk in stream:
            for tc in chunk.choices[0].delta.tool_calls or []:
                args.append(tc.function.arguments or "")
        # a stream left after its first chunk and closed: the span ends with what arrived
        partial = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
        first = await partial.__anext__()
        await partial.close()
        assert first.choices[0].delta.role == "assistant"
        return reply, "".join(args)

    with pyflare.span("async openai") as root:
        reply, args = asyncio.run(main())
    assert reply.choices[0].message.content == REPLY_TEXT and json.loads(args) == {"city": "Paris"}
    plain, streamed, closed = llm_spans(srv, root)
    assert closed["status"]["code"] == 0 and closed["attributes"]["pyflare.stream.chunks"] == 1
    assert closed["pyflare"]["input_tokens"] is None  # the usage chunk never came
    check_costed(plain, "openai", "gpt-4o", "gpt-4o-2024-08-06", OPENAI_TOKENS)
    check_costed(streamed, "openai", "gpt-4o", "gpt-4o-2024-08-06", OPENAI_TOKENS)
    check_stream(streamed, 4)
    # the tool call's arguments arrived in three pieces; the span has them whole
    assert json.loads(streamed["attributes"]["gen_ai.output.messages"])[0]["parts"] == [
        {"type": "tool_call", "id": "call_stub_1", "name": "get_weather", "arguments": {"city": "Paris"}}]
    assert streamed["attributes"]["gen_ai.response.finish_reasons"] == ["tool_calls"]


@pytest.mark.parametrize("status,error", [(429, openai.RateLimitError), (500, openai.InternalServerError)])
def test_openai_errors_are_recorded_and_raised(sdk, srv, stub, status, error):
    with pyflare.span("failing") as root:
        with pytest.raises(error):
            oai(stub).chat.completions.create(model=f"stub-error-{status}", messages=MESSAGES)
    (span,) = llm_spans(srv, root)
    assert span["status"]["code"] == 2 and error.__name__ in span["status"]["message"]
    assert span["attributes"]["error.type"] == error.__name__
    assert span["attributes"]["http.response.status_code"] == status
    assert [e["attributes"]["exception.type"] for e in span["events"] if e["name"] == "exception"] == [
        f"openai.{error.__name__}"]
    assert span["pyflare"]["input_tokens"] is None and span["pyflare"]["cost_micros"] is None


# -- Anthropic --------------------------------------------------------------------------------------

def test_anthropic_sync_streamed_and_stream_helper(sdk, srv, stub):
    client = claude(stub)
    with pyflare.span("anthropic calls") as root:
        pyflare.set_session("conv-9")
        msg = client.messages.create(model=CLAUDE, max_tokens=100, system="Be brief.",
                                     messages=[{"role": "user", "content": "Say hello."}])
        assert msg.content[0].text == REPLY_TEXT
        stream = client.messages.create(model=CLAUDE, max_tokens=100, stream=True,
                                        messages=[{"role": "user", "content": "Say hello."}])
        text = "".join(e.delta.text for e in stream if e.type == "content_block_delta")
        assert text == REPLY_TEXT
        with client.messages.stream(model=CLAUDE, max_tokens=100, tools=[ANTHROPIC_TOOL],
                                    messages=[{"role": "user", "content": "Weather in Paris?"}]) as helper:
            final = helper.get_final_message()
        assert final.content[1].input == {"city": "Paris"}
    plain, streamed, helper_span = llm_spans(srv, root)
    for s in (plain, streamed, helper_span):
        check_costed(s, "anthropic", CLAUDE, CLAUDE, ANTHROPIC_TOKENS)
        assert s["pyflare"]["session"] == "conv-9"
    check_stream(streamed, 5)
    a = plain["attributes"]
    assert a["gen_ai.request.max_tokens"] == 100 and a["gen_ai.response.finish_reasons"] == ["end_turn"]
    assert json.loads(a["gen_ai.system_instructions"]) == [{"type": "text", "content": "Be brief."}]
    assert json.loads(a["gen_ai.output.messages"])[0]["parts"] == [{"type": "text", "content": REPLY_TEXT}]
    assert json.loads(streamed["attributes"]["gen_ai.output.messages"])[0]["parts"] == [
        {"type": "text", "content": REPLY_TEXT}]
    h = helper_span["attributes"]
    assert h["gen_ai.response.finish_reasons"] == ["tool_use"] and h["pyflare.response.tool_calls"] == ["get_weather"]
    assert json.loads(h["gen_ai.output.messages"])[0]["parts"][1] == {
        "type": "tool_call", "id": "toolu_stub_1", "name": "get_weather", "arguments": {"city": "Paris"}}


def test_anthropic_clients_own_spans_are_off_while_instrumented(sdk, srv, stub):
    """The anthropic client's built-in `anthropic.messages.create` span would count the call twice."""
    with pyflare.span("one call") as root:
        claude(stub).messages.create(model=CLAUDE, max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    spans = srv.get_trace(trace_hex(root))["spans"]
    assert sorted(s["name"] for s in spans) == [f"chat {CLAUDE}", "one call"]
    assert sum(1 for s in spans if s["pyflare"]["cost_micros"]) == 1


def test_anthropic_async_stream_tool_use_and_errors(sdk, srv, stub):
    async def main():
        client = aclaude(stub)
        stream = await client.messages.create(model=CLAUDE, max_tokens=100, stream=True, tools=[ANTHROPIC_TOOL],
                                              messages=[{"role": "user", "content": "Weather in Paris?"}])
        parts = [e.delta.partial_json async for e in stream
                 if e.type == "content_block_delta" and e.delta.type == "input_json_delta"]
        async with client.messages.stream(model=CLAUDE, max_tokens=100,
                                          messages=[{"role": "user", "content": "Say hello."}]) as helper:
            text = "".join([t async for t in helper.text_stream])
        assert text == REPLY_TEXT
        errors = []
        for status in (429, 500):
            try:
                await client.messages.create(model=f"stub-error-{status}", max_tokens=10,
                                             messages=[{"role": "user", "content": "hi"}])
            except anthropic.APIStatusError as e:
                errors.append(type(e).__name__)
        return "".join(parts), errors

    with pyflare.span("async anthropic") as root:
        args, errors = asyncio.run(main())
    assert json.loads(args) == {"city": "Paris"} and errors == ["RateLimitError", "InternalServerError"]
    streamed, helper, e429, e500 = llm_spans(srv, root)
    for s in (streamed, helper):
        check_costed(s, "anthropic", CLAUDE, CLAUDE, ANTHROPIC_TOKENS)
        check_stream(s, len(REPLY_TEXT.split()) if s is helper else 5)
    assert streamed["attributes"]["pyflare.response.tool_calls"] == ["get_weather"]
    for span, status, name in ((e429, 429, "RateLimitError"), (e500, 500, "InternalServerError")):
        assert span["status"]["code"] == 2 and span["attributes"]["error.type"] == name
        assert span["attributes"]["http.response.status_code"] == status


# -- content capture, metrics, uninstrument -----------------------------------------------------------

def test_no_content_without_capture(srv, stub, monkeypatch):
    clean_env(monkeypatch)
    sdk_init(srv, service_name("sdk-llm-quiet"), capture_content=False)
    pyflare.integrations.openai.instrument()
    pyflare.integrations.anthropic.instrument()
    try:
        with pyflare.span("quiet") as root:
            oai(stub).chat.completions.create(model="gpt-4o", messages=MESSAGES, tools=[OPENAI_TOOL])
            claude(stub).messages.create(model=CLAUDE, max_tokens=10, messages=[{"role": "user", "content": "hi"}])
        for span in llm_spans(srv, root):
            leaked = [k for k in span["attributes"] if k.startswith(("gen_ai.input", "gen_ai.output", "gen_ai.system_",
                                                                     "gen_ai.tool.definitions"))]
            assert not leaked, (span["name"], leaked)
            assert span["pyflare"]["cost_micros"] > 0
    finally:
        pyflare.integrations.openai.uninstrument()
        pyflare.integrations.anthropic.uninstrument()
        pyflare.shutdown()


def test_genai_client_metrics(sdk, srv, stub):
    service = sdk.settings.service_name
    client = oai(stub)
    with pyflare.span("metered"):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="stub-error-429", messages=MESSAGES)
        claude(stub).messages.create(model=CLAUDE, max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert pyflare.force_flush()
    ok = {"gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024-08-06"}
    tokens = metric_points(srv, "gen_ai.client.token.usage", service, **ok, **{"gen_ai.token.type": "input"})
    assert max(p["count"] for p in tokens) == 2 and max(p["sum"] for p in tokens) == 2 * OPENAI_USAGE["prompt_tokens"]
    out = metric_points(srv, "gen_ai.client.token.usage", service, **{"gen_ai.provider.name": "anthropic",
                                                                      "gen_ai.token.type": "output"})
    assert max(p["sum"] for p in out) == ANTHROPIC_USAGE["output_tokens"]
    failed = metric_points(srv, "gen_ai.client.operation.duration", service, **{"error.type": "RateLimitError"})
    assert max(p["count"] for p in failed) == 1
    durations = metric_points(srv, "gen_ai.client.operation.duration", service, **ok)
    assert max(p["count"] for p in durations) == 2
    ttfc = metric_points(srv, "gen_ai.client.operation.time_to_first_chunk", service, **ok)
    assert max(p["count"] for p in ttfc) == 1 and max(p["min"] for p in ttfc) >= FIRST_CHUNK_DELAY_S


def test_uninstrument_restores_the_clients(srv, stub, monkeypatch):
    from anthropic import _base_client
    from anthropic.resources.messages import messages as amod
    from openai.resources import embeddings as oemb
    from openai.resources.chat.completions import completions as omod

    originals = {(cls, name): cls.__dict__[name] for cls, name in (
        (omod.Completions, "create"), (omod.AsyncCompletions, "create"), (omod.Completions, "parse"),
        (omod.AsyncCompletions, "parse"), (oemb.Embeddings, "create"), (oemb.AsyncEmbeddings, "create"),
        (amod.Messages, "create"),
        (amod.AsyncMessages, "create"), (amod.Messages, "stream"), (amod.AsyncMessages, "stream"),
        (_base_client.BaseClient, "_tracer"))}
    clean_env(monkeypatch)
    sdk_init(srv, service_name("sdk-llm-undo"))
    try:
        pyflare.integrations.openai.instrument()
        pyflare.integrations.anthropic.instrument()
        pyflare.integrations.openai.instrument()  # twice: still one layer
        assert all(cls.__dict__[name] is not original for (cls, name), original in originals.items())
        assert omod.Completions.create.__wrapped__ is originals[(omod.Completions, "create")]
        pyflare.integrations.openai.uninstrument()
        pyflare.integrations.anthropic.uninstrument()
        assert all(cls.__dict__[name] is original for (cls, name), original in originals.items())
        assert not pyflare.integrations.openai.is_instrumented()
        with pyflare.span("after uninstrument") as root:
            oai(stub).chat.completions.create(model="gpt-4o", messages=MESSAGES)
        spans = srv.get_trace(trace_hex(root))["spans"]
        assert [s["name"] for s in spans] == ["after uninstrument"]  # no span from the client any more
    finally:
        pyflare.integrations.openai.uninstrument()
        pyflare.integrations.anthropic.uninstrument()
        pyflare.shutdown()


def test_raw_responses_are_costed(sdk, srv, stub):
    """`with_raw_response` hands back the HTTP response; the span still has the parsed usage."""
    with pyflare.span("raw") as root:
        r = oai(stub).chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES)
        assert r.headers["x-request-id"] == "req_stub" and r.parse().choices[0].message.content == REPLY_TEXT
        m = claude(stub).messages.with_raw_response.create(model=CLAUDE, max_tokens=10,
                                                             messages=[{"role": "user", "content": "hi"}])
        assert m.parse().content[0].text == REPLY_TEXT
    openai_span, anthropic_span = llm_spans(srv, root)
    check_costed(openai_span, "openai", "gpt-4o", "gpt-4o-2024-08-06", OPENAI_TOKENS)
    check_costed(anthropic_span, "anthropic", CLAUDE, CLAUDE, ANTHROPIC_TOKENS)
    assert json.loads(anthropic_span["attributes"]["gen_ai.output.messages"])[0]["parts"] == [
        {"type": "text", "content": REPLY_TEXT}]


def test_openai_embeddings(sdk, srv, stub):
    async def embed_async():
        return await aoai(stub).embeddings.create(model="text-embedding-3-large", input="one")

    with pyflare.span("embed") as root:
        sync = oai(stub).embeddings.create(model="text-embedding-3-small", input=["one", "two", "three"])
        assert [len(d.embedding) for d in sync.data] == [4, 4, 4]  # the client decoded the base64 it asked for
        one = asyncio.run(embed_async())
        assert one.data[0].embedding == [0.25, -0.5, 0.125, 1.0]
    small, large = llm_spans(srv, root)
    for span, model, inputs in ((small, "text-embedding-3-small", 3), (large, "text-embedding-3-large", 1)):
        pf = span["pyflare"]
        tokens = EMBEDDING_TOKENS_PER_INPUT * inputs
        assert span["name"] == f"embeddings {model}" and span["kind"] == 3
        assert (pf["operation"], pf["ai_kind"], pf["provider"], pf["model"]) == ("embeddings", "embedding", "openai", model)
        assert pf["input_tokens"] == tokens and pf["output_tokens"] is None
        assert pf["cost_micros"] == pyflare.calculate_cost(model, tokens, 0).micros > 0
        assert span["attributes"]["gen_ai.embeddings.dimension.count"] == 4
