"""Auto-instrumentation of the `openai` client: `chat.completions.create` (and `.parse`, `.stream`),
sync and async, streamed or not, and `embeddings.create`.

    import pyflare
    from pyflare.integrations import openai as pyflare_openai

    pyflare.init("my-app")
    pyflare_openai.instrument()

Each call becomes a CLIENT span `chat {model}` with the OpenTelemetry GenAI attributes
(`gen_ai.operation.name`, `gen_ai.provider.name` = `openai`, `gen_ai.request.*`,
`gen_ai.response.model`/`id`/`finish_reasons`, `gen_ai.usage.input_tokens`, `output_tokens`,
`cache_read.input_tokens`, `reasoning.output_tokens`), with `gen_ai.input.messages` and
`gen_ai.output.messages` when `capture_content` is on, and the GenAI client metrics. A stream's
span ends with the stream; it records the time to the first chunk and the usage of the final chunk.
OpenAI sends that chunk only when asked (`stream_options={"include_usage": True}`): with
`stream_usage=True` (the default) the integration asks for it when the caller did not, and keeps
the extra usage-only chunk from the caller, so a stream is costed without the caller seeing a change.
Errors (429, 500, timeouts) are recorded on the span and raised again. An embeddings call is an
`embeddings {model}` span with its input tokens (costed like any other) and the vector size.
"""

from __future__ import annotations

import json
from typing import Any

from .. import _client, semconv
from ._genai import LLMCall, Patcher, StreamProxy, current_client, given, server_of

__all__ = ["instrument", "uninstrument", "is_instrumented"]

PROVIDER = "openai"
_patcher = Patcher()
_options = {"stream_usage": True}


def _text_of(content: Any) -> str | None:
    if content is None:
        return None
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        texts = [p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        return "".join(texts) if texts else json.dumps(content, default=str)
    return str(content)


def input_messages(messages: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """OpenAI chat messages as GenAI `gen_ai.input.messages` parts, and the system instructions."""
    out: list[dict[str, Any]] = []
    system: list[dict[str, Any]] = []
    for m in messages or []:
        m = m if isinstance(m, dict) else getattr(m, "model_dump", lambda: {})()
        role = m.get("role", "user")
        parts: list[dict[str, Any]] = []
        text = _text_of(m.get("content"))
        if role == "tool":
            parts.append({"type": "tool_call_response", "id": m.get("tool_call_id"), "response": text})
        elif text:
            parts.append({"type": "text", "content": text})
        for call in m.get("tool_calls") or []:
            fn = call.get("function") or {}
            parts.append({"type": "tool_call", "id": call.get("id"), "name": fn.get("name"),
                          "arguments": _json_or_text(fn.get("arguments"))})
        if role in ("system", "developer"):
            system.extend(parts)
        else:
            out.append({"role": role, "parts": parts})
    return out, system


def _json_or_text(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def _start(kwargs: dict[str, Any], instance: Any) -> LLMCall | None:
    client = current_client()
    if client is None:
        return None
    host, port = server_of(instance)
    model = given(kwargs, "model")
    call = LLMCall.start(client, operation=semconv.OPERATION_CHAT, provider=PROVIDER,
                         request_model=str(model) if model else None, server_address=host, server_port=port)
    call.set_request(max_tokens=given(kwargs, "max_completion_tokens") or given(kwargs, "max_tokens"),
                     temperature=given(kwargs, "temperature"), top_p=given(kwargs, "top_p"),
                     frequency_penalty=given(kwargs, "frequency_penalty"),
                     presence_penalty=given(kwargs, "presence_penalty"), seed=given(kwargs, "seed"),
                     stream=bool(given(kwargs, "stream")) or None,
                     choice_count=given(kwargs, "n"))
    if call.capture_content:
        messages, system = input_messages(given(kwargs, "messages"))
        call.set_input_messages(messages, system)
        tools = given(kwargs, "tools")
        if tools:
            call.set_attribute(semconv.GEN_AI_TOOL_DEFINITIONS, json.dumps(tools, default=str))
    return call


def _usage(call: LLMCall, usage: Any) -> None:
    if usage is None:
        return
    prompt_details = getattr(usage, "prompt_tokens_details", None)
    completion_details = getattr(usage, "completion_tokens_details", None)
    # prompt_tokens already counts the cached tokens, as gen_ai.usage.input_tokens wants
    call.set_usage(input_tokens=getattr(usage, "prompt_tokens", None),
                   output_tokens=getattr(usage, "completion_tokens", None),
                   cached_tokens=getattr(prompt_details, "cached_tokens", None) if prompt_details else None,
                   reasoning_tokens=getattr(completion_details, "reasoning_tokens", None) if completion_details else None)


def _record_response(call: LLMCall, response: Any) -> None:
    choices = getattr(response, "choices", None) or []
    call.set_response(model=getattr(response, "model", None), response_id=getattr(response, "id", None),
                      finish_reasons=[getattr(c, "finish_reason", None) for c in choices])
    _usage(call, getattr(response, "usage", None))
    tool_names = [tc.function.name for c in choices for tc in (getattr(c.message, "tool_calls", None) or [])
                  if getattr(tc, "function", None) is not None]
    if tool_names:
        call.set_attribute(semconv.TOOL_CALL_NAMES, tool_names)
    if call.capture_content:
        out = []
        for c in choices:
            msg = c.message
            parts: list[dict[str, Any]] = []
            if getattr(msg, "content", None):
                parts.append({"type": "text", "content": msg.content})
            for tc in getattr(msg, "tool_calls", None) or []:
                fn = getattr(tc, "function", None)
                if fn is not None:
                    parts.append({"type": "tool_call", "id": tc.id, "name": fn.name,
                                  "arguments": _json_or_text(fn.arguments)})
            out.append({"role": getattr(msg, "role", "assistant"), "parts": parts, "finish_reason": c.finish_reason})
        call.set_output_messages(out)


class _StreamState:
    """Accumulates a chat completion stream: text and tool calls per choice, the final usage."""

    def __init__(self, call: LLMCall, hide_usage_chunk: bool) -> None:
        self.call = call
        self.hide_usage_chunk = hide_usage_chunk
        self.model: str | None = None
        self.response_id: str | None = None
        self.usage: Any = None
        self.text: dict[int, list[str]] = {}
        self.finish: dict[int, str] = {}
        self.tools: dict[int, dict[int, dict[str, Any]]] = {}

    def on_chunk(self, chunk: Any) -> None:
        self.model = getattr(chunk, "model", None) or self.model
        self.response_id = getattr(chunk, "id", None) or self.response_id
        if getattr(chunk, "usage", None) is not None:
            self.usage = chunk.usage
        for choice in getattr(chunk, "choices", None) or []:
            index = getattr(choice, "index", 0) or 0
            delta = getattr(choice, "delta", None)
            if choice.finish_reason:
                self.finish[index] = choice.finish_reason
            if delta is None:
                continue
            if getattr(delta, "content", None):
                self.text.setdefault(index, []).append(delta.content)
            for tc in getattr(delta, "tool_calls", None) or []:
                slot = self.tools.setdefault(index, {}).setdefault(tc.index, {"id": None, "name": None, "arguments": []})
                if tc.id:
                    slot["id"] = tc.id
                fn = getattr(tc, "function", None)
                if fn is not None:
                    if fn.name:
                        slot["name"] = fn.name
                    if fn.arguments:
                        slot["arguments"].append(fn.arguments)

    def on_end(self, error: BaseException | None) -> None:
        call = self.call
        indexes = sorted(set(self.text) | set(self.finish) | set(self.tools))
        call.set_response(model=self.model, response_id=self.response_id,
                          finish_reasons=[self.finish[i] for i in indexes if i in self.finish])
        _usage(call, self.usage)
        names = [t["name"] for i in indexes for t in self.tools.get(i, {}).values() if t["name"]]
        if names:
            call.set_attribute(semconv.TOOL_CALL_NAMES, names)
        if call.capture_content:
            out = []
            for i in indexes:
                parts: list[dict[str, Any]] = []
                if self.text.get(i):
                    parts.append({"type": "text", "content": "".join(self.text[i])})
                for t in self.tools.get(i, {}).values():
                    parts.append({"type": "tool_call", "id": t["id"], "name": t["name"],
                                  "arguments": _json_or_text("".join(t["arguments"]))})
                out.append({"role": "assistant", "parts": parts, "finish_reason": self.finish.get(i)})
            call.set_output_messages(out)
        if error is None:
            call.finish()
        else:
            call.fail(error)


class _ChatStream(StreamProxy):
    """The caller's stream; drops the usage-only chunk that the integration asked for on its own."""

    def __init__(self, stream: Any, state: _StreamState) -> None:
        super().__init__(stream, state.call, state.on_chunk, state.on_end)
        self._state = state

    def _hidden(self, chunk: Any) -> bool:
        return self._state.hide_usage_chunk and not getattr(chunk, "choices", None) and \
            getattr(chunk, "usage", None) is not None

    def __next__(self) -> Any:
        while True:
            chunk = super().__next__()
            if not self._hidden(chunk):
                return chunk

    async def __anext__(self) -> Any:
        while True:
            chunk = await super().__anext__()
            if not self._hidden(chunk):
                return chunk


def _prepare_stream(kwargs: dict[str, Any]) -> bool:
    """Asks for the final usage chunk if the caller did not; True when the integration asked."""
    if not _options["stream_usage"] or not given(kwargs, "stream"):
        return False
    options = given(kwargs, "stream_options")
    if options is None:
        kwargs["stream_options"] = {"include_usage": True}
        return True
    if isinstance(options, dict) and "include_usage" not in options:
        kwargs["stream_options"] = {**options, "include_usage": True}
        return True
    return False


def _parsed(result: Any) -> Any:
    # `with_raw_response` returns the HTTP response; its parse() gives the ChatCompletion
    if not hasattr(result, "choices") and hasattr(result, "parse") and hasattr(result, "http_request"):
        try:
            return result.parse()
        except Exception:
            return None
    return result


def _wrap_sync(original: Any) -> Any:
    def create(self: Any, *args: Any, **kwargs: Any) -> Any:
        call = _start(kwargs, self)
        if call is None:
            return original(self, *args, **kwargs)
        hide = _prepare_stream(kwargs)
        token = call.activate()
        try:
            result = original(self, *args, **kwargs)
        except BaseException as error:
            _status(call, error)
            call.fail(error)
            raise
        finally:
            call.deactivate(token)
        if given(kwargs, "stream") and hasattr(result, "__next__"):
            return _ChatStream(result, _StreamState(call, hide))
        _record_response(call, _parsed(result))
        call.finish()
        return result
    return create


def _wrap_async(original: Any) -> Any:
    async def create(self: Any, *args: Any, **kwargs: Any) -> Any:
        call = _start(kwargs, self)
        if call is None:
            return await original(self, *args, **kwargs)
        hide = _prepare_stream(kwargs)
        token = call.activate()
        try:
            result = await original(self, *args, **kwargs)
        except BaseException as error:
            _status(call, error)
            call.fail(error)
            raise
        finally:
            call.deactivate(token)
        if given(kwargs, "stream") and hasattr(result, "__anext__"):
            return _ChatStream(result, _StreamState(call, hide))
        _record_response(call, _parsed(result))
        call.finish()
        return result
    return create


def _start_embeddings(kwargs: dict[str, Any], instance: Any) -> LLMCall | None:
    client = current_client()
    if client is None:
        return None
    host, port = server_of(instance)
    model = given(kwargs, "model")
    call = LLMCall.start(client, operation=semconv.OPERATION_EMBEDDINGS, provider=PROVIDER,
                         request_model=str(model) if model else None, server_address=host, server_port=port)
    fmt = given(kwargs, "encoding_format")
    call.set_request(encoding_formats=[fmt] if fmt else None)
    call.set_attribute("gen_ai.embeddings.dimension.count", given(kwargs, "dimensions"))
    return call


def _record_embeddings(call: LLMCall, response: Any) -> None:
    call.set_response(model=getattr(response, "model", None))
    usage = getattr(response, "usage", None)
    if usage is not None:
        call.set_usage(input_tokens=getattr(usage, "prompt_tokens", None))
    data = getattr(response, "data", None) or []
    if data and isinstance(getattr(data[0], "embedding", None), list):
        call.set_attribute("gen_ai.embeddings.dimension.count", len(data[0].embedding))


def _wrap_embeddings(original: Any) -> Any:
    def create(self: Any, *args: Any, **kwargs: Any) -> Any:
        call = _start_embeddings(kwargs, self)
        if call is None:
            return original(self, *args, **kwargs)
        token = call.activate()
        try:
            result = original(self, *args, **kwargs)
        except BaseException as error:
            _status(call, error)
            call.fail(error)
            raise
        finally:
            call.deactivate(token)
        _record_embeddings(call, _parsed(result))
        call.finish()
        return result
    return create


def _wrap_aembeddings(original: Any) -> Any:
    async def create(self: Any, *args: Any, **kwargs: Any) -> Any:
        call = _start_embeddings(kwargs, self)
        if call is None:
            return await original(self, *args, **kwargs)
        token = call.activate()
        try:
            result = await original(self, *args, **kwargs)
        except BaseException as error:
            _status(call, error)
            call.fail(error)
            raise
        finally:
            call.deactivate(token)
        _record_embeddings(call, _parsed(result))
        call.finish()
        return result
    return create


def _status(call: LLMCall, error: BaseException) -> None:
    status = getattr(error, "status_code", None)
    if isinstance(status, int):
        call.set_attribute("http.response.status_code", status)


def instrument(stream_usage: bool = True) -> bool:
    """Traces `openai` chat completions (all clients, existing and future). Calling it again does nothing.

    `stream_usage`: ask for the usage chunk of streams that did not (see the module docs).
    Returns False (and patches nothing) when the SDK was initialized with `enabled=False`.
    """
    if _client.disabled():
        return False  # pyflare.init(enabled=False): leave the client library exactly as it is
    from openai.resources.chat.completions import completions as module

    _options["stream_usage"] = stream_usage
    _patcher.patch(module.Completions, "create", _wrap_sync)
    _patcher.patch(module.AsyncCompletions, "create", _wrap_async)
    # parse() (structured outputs) posts on its own rather than through create(); stream() goes
    # through create() and is traced there
    _patcher.patch(module.Completions, "parse", _wrap_sync)
    _patcher.patch(module.AsyncCompletions, "parse", _wrap_async)
    from openai.resources import embeddings

    _patcher.patch(embeddings.Embeddings, "create", _wrap_embeddings)
    _patcher.patch(embeddings.AsyncEmbeddings, "create", _wrap_aembeddings)
    return True


def uninstrument() -> None:
    """Puts the original methods back."""
    _patcher.restore()


def is_instrumented() -> bool:
    return _patcher.active
