"""Auto-instrumentation of the `anthropic` client: `messages.create` (sync, async, `stream=True`) and
`messages.stream()`.

    import pyflare
    from pyflare.integrations import anthropic as pyflare_anthropic

    pyflare.init("my-app")
    pyflare_anthropic.instrument()

Each call becomes a CLIENT span `chat {model}` with the OpenTelemetry GenAI attributes
(`gen_ai.provider.name` = `anthropic`). Anthropic's `input_tokens` leaves out the cached reads and
cache writes; `gen_ai.usage.input_tokens` is their sum, as the GenAI conventions define it, with
`gen_ai.usage.cache_read.input_tokens` and `gen_ai.usage.cache_creation.input_tokens` beside it,
so the server prices each part at its own rate. A stream's usage is the `message_start` counts
updated by the final `message_delta`.

Recent `anthropic` clients emit a span of their own for each call (`anthropic.messages.create`)
that carries output tokens but not the input ones. With PyFlare's span next to it the call would
be counted (and costed) twice, so while instrumented the clients' own spans are switched off;
`uninstrument()` switches them back on.
"""

from __future__ import annotations

import json
from typing import Any

from .. import _client, semconv
from ._genai import LLMCall, Patcher, StreamProxy, current_client, given, server_of

__all__ = ["instrument", "uninstrument", "is_instrumented"]

PROVIDER = "anthropic"
_patcher = Patcher()


def _blocks(content: Any) -> list[dict[str, Any]]:
    """Anthropic content (a string or blocks) as GenAI message parts."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts: list[dict[str, Any]] = []
    for block in content:
        b = block if isinstance(block, dict) else getattr(block, "model_dump", lambda: {})()
        kind = b.get("type")
        if kind == "text":
            parts.append({"type": "text", "content": b.get("text", "")})
        elif kind == "tool_use":
            parts.append({"type": "tool_call", "id": b.get("id"), "name": b.get("name"), "arguments": b.get("input")})
        elif kind == "tool_result":
            parts.append({"type": "tool_call_response", "id": b.get("tool_use_id"), "response": b.get("content")})
        elif kind == "thinking":
            parts.append({"type": "reasoning", "content": b.get("thinking", "")})
        else:
            parts.append({"type": str(kind)})
    return parts


def _start(kwargs: dict[str, Any], instance: Any, stream: bool) -> LLMCall | None:
    client = current_client()
    if client is None:
        return None
    host, port = server_of(instance)
    model = given(kwargs, "model")
    call = LLMCall.start(client, operation=semconv.OPERATION_CHAT, provider=PROVIDER,
                         request_model=str(model) if model else None, server_address=host, server_port=port)
    call.set_request(max_tokens=given(kwargs, "max_tokens"), temperature=given(kwargs, "temperature"),
                     top_p=given(kwargs, "top_p"), top_k=given(kwargs, "top_k"), stream=stream or None)
    if call.capture_content:
        messages = [{"role": m.get("role", "user"), "parts": _blocks(m.get("content"))}
                    for m in (given(kwargs, "messages") or []) if isinstance(m, dict)]
        call.set_input_messages(messages, _blocks(given(kwargs, "system")) or None)
        tools = given(kwargs, "tools")
        if tools:
            call.set_attribute(semconv.GEN_AI_TOOL_DEFINITIONS, json.dumps(tools, default=str))
    return call


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _set_usage(call: LLMCall, usage: Any) -> None:
    if usage is None:
        return
    uncached = _field(usage, "input_tokens")
    cache_read = _field(usage, "cache_read_input_tokens")
    cache_write = _field(usage, "cache_creation_input_tokens")
    total = None
    if uncached is not None or cache_read is not None or cache_write is not None:
        total = (uncached or 0) + (cache_read or 0) + (cache_write or 0)
    call.set_usage(input_tokens=total, output_tokens=_field(usage, "output_tokens"),
                   cached_tokens=cache_read, cache_write_tokens=cache_write)


def _record_message(call: LLMCall, message: Any) -> None:
    if message is None:
        return
    call.set_response(model=_field(message, "model"), response_id=_field(message, "id"),
                      finish_reasons=[_field(message, "stop_reason")])
    _set_usage(call, _field(message, "usage"))
    content = _field(message, "content") or []
    names = [_field(b, "name") for b in content if _field(b, "type") == "tool_use"]
    if names:
        call.set_attribute(semconv.TOOL_CALL_NAMES, names)
    call.set_output_messages([{"role": "assistant", "parts": _blocks(content),
                               "finish_reason": _field(message, "stop_reason")}])


class _StreamState:
    """Rebuilds the message of a raw event stream: message_start, content blocks, message_delta."""

    def __init__(self, call: LLMCall) -> None:
        self.call = call
        self.message: dict[str, Any] = {}
        self.usage: dict[str, Any] = {}
        self.blocks: dict[int, dict[str, Any]] = {}
        self.json_parts: dict[int, list[str]] = {}

    def on_chunk(self, event: Any) -> None:
        kind = _field(event, "type")
        if kind == "message_start":
            msg = _field(event, "message")
            self.message = {"id": _field(msg, "id"), "model": _field(msg, "model")}
            self.usage.update({k: v for k, v in _dump(_field(msg, "usage")).items() if v is not None})
        elif kind == "content_block_start":
            self.blocks[_field(event, "index")] = _dump(_field(event, "content_block"))
        elif kind == "content_block_delta":
            index = _field(event, "index")
            delta = _field(event, "delta")
            block = self.blocks.setdefault(index, {"type": "text", "text": ""})
            dtype = _field(delta, "type")
            if dtype == "text_delta":
                block["text"] = block.get("text", "") + (_field(delta, "text") or "")
            elif dtype == "input_json_delta":
                self.json_parts.setdefault(index, []).append(_field(delta, "partial_json") or "")
            elif dtype == "thinking_delta":
                block["thinking"] = block.get("thinking", "") + (_field(delta, "thinking") or "")
        elif kind == "message_delta":
            delta = _field(event, "delta")
            if _field(delta, "stop_reason"):
                self.message["stop_reason"] = _field(delta, "stop_reason")
            # the final usage: cumulative counts, which replace those of message_start
            self.usage.update({k: v for k, v in _dump(_field(event, "usage")).items() if v is not None})

    def on_end(self, error: BaseException | None) -> None:
        for index, parts in self.json_parts.items():
            raw = "".join(parts)
            try:
                self.blocks[index]["input"] = json.loads(raw) if raw else {}
            except ValueError:
                self.blocks[index]["input"] = raw
        message = dict(self.message, usage=self.usage or None,
                       content=[self.blocks[i] for i in sorted(self.blocks)])
        _record_message(self.call, message)
        if error is None:
            self.call.finish()
        else:
            self.call.fail(error)


def _dump(obj: Any) -> dict[str, Any]:
    if obj is None:
        return {}
    if isinstance(obj, dict):
        return dict(obj)
    dump = getattr(obj, "model_dump", None)
    return dump() if dump is not None else dict(vars(obj))


def _message_of(result: Any) -> Any:
    """The Message of a create() result: itself, or parsed from `with_raw_response`'s HTTP response."""
    if hasattr(result, "stop_reason"):
        return result
    if hasattr(result, "parse") and hasattr(result, "http_response"):
        try:
            return result.parse()  # the client caches it: the caller's parse() gets the same object
        except Exception:
            return None
    return None


def _status(call: LLMCall, error: BaseException) -> None:
    status = getattr(error, "status_code", None)
    if isinstance(status, int):
        call.set_attribute("http.response.status_code", status)


def _wrap_create(original: Any) -> Any:
    def create(self: Any, *args: Any, **kwargs: Any) -> Any:
        stream = bool(given(kwargs, "stream"))
        call = _start(kwargs, self, stream)
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
        if stream and hasattr(result, "__next__"):
            state = _StreamState(call)
            return StreamProxy(result, call, state.on_chunk, state.on_end)
        _record_message(call, _message_of(result))
        call.finish()
        return result
    return create


def _wrap_acreate(original: Any) -> Any:
    async def create(self: Any, *args: Any, **kwargs: Any) -> Any:
        stream = bool(given(kwargs, "stream"))
        call = _start(kwargs, self, stream)
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
        if stream and hasattr(result, "__anext__"):
            state = _StreamState(call)
            return StreamProxy(result, call, state.on_chunk, state.on_end)
        _record_message(call, _message_of(result))
        call.finish()
        return result
    return create


class _StreamManager:
    """`messages.stream()`'s context manager: the span lasts from entering it to leaving it, and the
    usage is read from the stream's message snapshot (the SDK has already summed the events)."""

    def __init__(self, manager: Any, call: LLMCall) -> None:
        self._manager = manager
        self._call = call
        self._stream: Any = None

    def _end(self, error: BaseException | None) -> None:
        if self._call.done:
            return
        snapshot = None
        if self._stream is not None:
            try:
                snapshot = self._stream.current_message_snapshot
            except Exception:
                snapshot = None
        _record_message(self._call, snapshot)
        if error is None:
            self._call.finish()
        else:
            self._call.fail(error)

    def __enter__(self) -> Any:
        try:
            self._stream = self._manager.__enter__()
        except BaseException as error:
            _status(self._call, error)
            self._end(error)
            raise
        return _FirstEventWatcher(self._stream, self._call)

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            return self._manager.__exit__(exc_type, exc, tb)
        finally:
            self._end(exc)

    async def __aenter__(self) -> Any:
        try:
            self._stream = await self._manager.__aenter__()
        except BaseException as error:
            _status(self._call, error)
            self._end(error)
            raise
        return _FirstEventWatcher(self._stream, self._call)

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            return await self._manager.__aexit__(exc_type, exc, tb)
        finally:
            self._end(exc)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._manager, name)


class _FirstEventWatcher:
    """The MessageStream as the caller uses it; notes when events arrive (time to first chunk)."""

    def __init__(self, stream: Any, call: LLMCall) -> None:
        self._stream = stream
        self._call = call

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def __iter__(self) -> Any:
        for event in self._stream:
            self._call.chunk()
            yield event

    async def __aiter__(self) -> Any:
        async for event in self._stream:
            self._call.chunk()
            yield event

    @property
    def text_stream(self) -> Any:
        inner = self._stream.text_stream
        call = self._call
        if hasattr(inner, "__anext__"):
            async def agen() -> Any:
                async for text in inner:
                    call.chunk()
                    yield text
            return agen()

        def gen() -> Any:
            for text in inner:
                call.chunk()
                yield text
        return gen()


def _wrap_stream(original: Any) -> Any:
    def stream(self: Any, *args: Any, **kwargs: Any) -> Any:
        call = _start(kwargs, self, True)
        if call is None:
            return original(self, *args, **kwargs)
        try:
            manager = original(self, *args, **kwargs)
        except BaseException as error:
            call.fail(error)
            raise
        return _StreamManager(manager, call)
    return stream


def _no_tracer(self: Any) -> None:
    return None


def instrument() -> bool:
    """Traces `anthropic` messages calls (all clients, existing and future). Calling it again does nothing.

    Returns False (and patches nothing) when the SDK was initialized with `enabled=False`.
    """
    if _client.disabled():
        return False  # pyflare.init(enabled=False): leave the client library exactly as it is
    from anthropic import _base_client
    from anthropic.resources.messages import messages as module

    _patcher.patch(module.Messages, "create", _wrap_create)
    _patcher.patch(module.AsyncMessages, "create", _wrap_acreate)
    _patcher.patch(module.Messages, "stream", _wrap_stream)
    _patcher.patch(module.AsyncMessages, "stream", _wrap_stream)
    if isinstance(_base_client.BaseClient.__dict__.get("_tracer"), property):
        _patcher.patch(_base_client.BaseClient, "_tracer", lambda original: property(_no_tracer))
    return True


def uninstrument() -> None:
    """Puts the original methods back (and the clients' own spans)."""
    _patcher.restore()


def is_instrumented() -> bool:
    return _patcher.active
