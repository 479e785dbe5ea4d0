"""What every GenAI client span of PyFlare shares: attributes, metrics, stream accounting, patching.

One `LLMCall` is one model call: a CLIENT span named `{operation} {model}` with the OpenTelemetry
GenAI attributes, and at its end the GenAI client metrics `gen_ai.client.operation.duration`,
`gen_ai.client.token.usage` (and, for a stream, `gen_ai.client.operation.time_to_first_chunk`).
"""

from __future__ import annotations

import functools
import inspect
import json
import threading
import time
from typing import Any, Callable, Iterable, Mapping

from opentelemetry import context as otel_context, trace as otel_trace
from opentelemetry.trace import SpanKind

from .. import _client, semconv
from .._client import attributes_of
from .._tracing import record_error

# Bucket boundaries the GenAI semantic conventions advise for the two client histograms.
TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864]
DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
TTFC_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0]


class GenAIInstruments:
    def __init__(self, meter: Any) -> None:
        self.token_usage = meter.create_histogram(
            semconv.METRIC_TOKEN_USAGE, unit="{token}", description="Number of input and output tokens used",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS)
        self.duration = meter.create_histogram(
            semconv.METRIC_OPERATION_DURATION, unit="s", description="GenAI operation duration",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS)
        self.time_to_first_chunk = meter.create_histogram(
            semconv.METRIC_TIME_TO_FIRST_CHUNK, unit="s",
            description="Time from the request to the first chunk of a streamed response",
            explicit_bucket_boundaries_advisory=TTFC_BUCKETS)


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class LLMCall:
    """One model call in progress: its span, its clock and what it reported."""

    def __init__(self, client: Any, span: otel_trace.Span, metric_attributes: dict[str, Any],
                 capture_content: bool) -> None:
        self.client = client
        self.span = span
        self.capture_content = capture_content
        self._metric_attributes = metric_attributes
        self._start = time.perf_counter()
        self._first_chunk: float | None = None
        self._chunks = 0
        self._done = False
        self._lock = threading.Lock()
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.response_model: str | None = None

    @classmethod
    def start(cls, client: Any, *, operation: str, provider: str | None, request_model: str | None,
              span_name: str | None = None, attributes: Mapping[str, Any] | None = None,
              server_address: str | None = None, server_port: int | None = None) -> "LLMCall":
        attrs: dict[str, Any] = {semconv.GEN_AI_OPERATION_NAME: operation}
        if provider:
            attrs[semconv.GEN_AI_PROVIDER_NAME] = provider
        if request_model:
            attrs[semconv.GEN_AI_REQUEST_MODEL] = request_model
        if server_address:
            attrs[semconv.SERVER_ADDRESS] = server_address
        if server_port:
            attrs[semconv.SERVER_PORT] = server_port
        metric_attrs = dict(attrs)
        metric_attrs.pop(semconv.SERVER_PORT, None)
        attrs.update(attributes_of(attributes))
        name = span_name or (f"{operation} {request_model}" if request_model else operation)
        span = client.tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attrs)
        return cls(client, span, metric_attrs, client.settings.capture_content)

    @classmethod
    def disabled(cls) -> "LLMCall":
        call = cls.__new__(cls)
        call.client = None
        call.span = otel_trace.INVALID_SPAN
        call.capture_content = False
        call._metric_attributes = {}
        call._start = time.perf_counter()
        call._first_chunk = None
        call._chunks = 0
        call._done = True
        call._lock = threading.Lock()
        call.input_tokens = call.output_tokens = None
        call.response_model = None
        return call

    # -- what the call reported ---------------------------------------------------------------
    def set_attribute(self, key: str, value: Any) -> None:
        if value is not None and self.span.is_recording():
            self.span.set_attributes(attributes_of({key: value}))

    def set_request(self, **params: Any) -> None:
        """Request parameters: max_tokens, temperature, top_p, stream... as `gen_ai.request.*`."""
        for key, value in params.items():
            if value is not None and not _is_not_given(value):
                self.set_attribute(f"gen_ai.request.{key}", value)

    def set_usage(self, input_tokens: int | None = None, output_tokens: int | None = None,
                  cached_tokens: int | None = None, cache_write_tokens: int | None = None,
                  reasoning_tokens: int | None = None) -> None:
        """Token counts; `input_tokens` counts every input token, cached reads and writes included."""
        self.input_tokens = _int(input_tokens)
        self.output_tokens = _int(output_tokens)
        self.set_attribute(semconv.GEN_AI_USAGE_INPUT_TOKENS, self.input_tokens)
        self.set_attribute(semconv.GEN_AI_USAGE_OUTPUT_TOKENS, self.output_tokens)
        self.set_attribute(semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, _int(cached_tokens))
        self.set_attribute(semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, _int(cache_write_tokens))
        self.set_attribute(semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, _int(reasoning_tokens))

    def set_response(self, model: str | None = None, response_id: str | None = None,
                     finish_reasons: Iterable[str | None] | None = None) -> None:
        if model:
            self.response_model = model
            self.set_attribute(semconv.GEN_AI_RESPONSE_MODEL, model)
        self.set_attribute(semconv.GEN_AI_RESPONSE_ID, response_id)
        reasons = [str(r) for r in (finish_reasons or []) if r]
        if reasons:
            self.set_attribute(semconv.GEN_AI_RESPONSE_FINISH_REASONS, reasons)

    def set_input_messages(self, messages: list[dict[str, Any]], system: list[dict[str, Any]] | None = None) -> None:
        """`gen_ai.input.messages` (and `gen_ai.system_instructions`), only with content capture on."""
        if self.capture_content and self.span.is_recording():
            self.span.set_attribute(semconv.GEN_AI_INPUT_MESSAGES, json.dumps(messages, ensure_ascii=False, default=str))
            if system:
                self.span.set_attribute(semconv.GEN_AI_SYSTEM_INSTRUCTIONS, json.dumps(system, ensure_ascii=False, default=str))

    def set_output_messages(self, messages: list[dict[str, Any]]) -> None:
        if self.capture_content and self.span.is_recording():
            self.span.set_attribute(semconv.GEN_AI_OUTPUT_MESSAGES, json.dumps(messages, ensure_ascii=False, default=str))

    def chunk(self) -> None:
        """A streamed chunk arrived; the first one fixes the time to first chunk."""
        self._chunks += 1
        if self._first_chunk is None:
            self._first_chunk = time.perf_counter()

    def activate(self) -> Any:
        """Makes the span current (so HTTP client spans nest under it); pass the token to deactivate."""
        return otel_context.attach(otel_trace.set_span_in_context(self.span))

    @staticmethod
    def deactivate(token: Any) -> None:
        otel_context.detach(token)

    # -- the end ------------------------------------------------------------------------------
    def _end(self, error: BaseException | None) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
        duration = time.perf_counter() - self._start
        metric_attrs = dict(self._metric_attributes)
        if self.response_model:
            metric_attrs[semconv.GEN_AI_RESPONSE_MODEL] = self.response_model
        if self._first_chunk is not None:
            ttfc = self._first_chunk - self._start
            self.set_attribute(semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, ttfc)
            self.set_attribute(semconv.STREAM_CHUNKS, self._chunks)
        if error is not None:
            record_error(self.span, error)
            metric_attrs[semconv.ERROR_TYPE] = type(error).__qualname__
        self.span.end()
        instruments = self.client.genai_instruments if self.client is not None else None
        if instruments is None:
            return
        instruments.duration.record(duration, metric_attrs)
        if self._first_chunk is not None:
            instruments.time_to_first_chunk.record(self._first_chunk - self._start, metric_attrs)
        if error is None:
            if self.input_tokens is not None:
                instruments.token_usage.record(self.input_tokens, {**metric_attrs, semconv.GEN_AI_TOKEN_TYPE: "input"})
            if self.output_tokens is not None:
                instruments.token_usage.record(self.output_tokens, {**metric_attrs, semconv.GEN_AI_TOKEN_TYPE: "output"})

    def finish(self) -> None:
        self._end(None)

    def fail(self, error: BaseException) -> None:
        self._end(error)

    @property
    def done(self) -> bool:
        return self._done


def _is_not_given(value: Any) -> bool:
    # openai.NOT_GIVEN / anthropic.NOT_GIVEN / Omit: sentinels meaning "argument left out"
    return type(value).__name__ in ("NotGiven", "Omit")


def given(kwargs: Mapping[str, Any], key: str) -> Any:
    value = kwargs.get(key)
    return None if value is None or _is_not_given(value) else value


# -- patching -------------------------------------------------------------------------------------

class Patcher:
    """Replaces attributes of a client library's classes with traced ones, and puts them back.

    Patching what is already patched does nothing, and `restore()` undoes exactly what `patch()`
    did, so instrument/uninstrument can be called in any order and any number of times.
    """

    def __init__(self) -> None:
        self._patched: dict[tuple[type, str], Any] = {}
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        return bool(self._patched)

    def patch(self, owner: type, name: str, make_wrapper: Callable[[Any], Any]) -> None:
        with self._lock:
            original = owner.__dict__.get(name)
            if original is None or (owner, name) in self._patched:
                return
            wrapper = make_wrapper(original)
            if callable(wrapper) and callable(original):
                functools.update_wrapper(wrapper, original)
            setattr(owner, name, wrapper)
            self._patched[(owner, name)] = original

    def restore(self) -> None:
        with self._lock:
            for (owner, name), original in reversed(list(self._patched.items())):
                setattr(owner, name, original)
            self._patched.clear()


def current_client() -> Any:
    return _client.current()


class StreamProxy:
    """Wraps a provider's stream object: forwards everything, and sees every chunk go by.

    `on_chunk` is called for each chunk; `on_end` once, with the error if the stream failed,
    when the stream is exhausted, closed, left through `with`, or garbage-collected unread.
    """

    def __init__(self, stream: Any, call: LLMCall, on_chunk: Callable[[Any], None],
                 on_end: Callable[[BaseException | None], None]) -> None:
        self._stream = stream
        self._call = call
        self._on_chunk = on_chunk
        self._on_end = on_end
        self._ended = False

    def _finish(self, error: BaseException | None) -> None:
        if not self._ended:
            self._ended = True
            self._on_end(error)

    def _take(self, chunk: Any) -> Any:
        self._call.chunk()
        try:
            self._on_chunk(chunk)
        except Exception:  # a chunk shape we do not know must not break the caller's stream
            pass
        return chunk

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    # sync
    def __iter__(self) -> "StreamProxy":
        return self

    def __next__(self) -> Any:
        try:
            chunk = next(self._stream)  # type: ignore[call-overload]
        except StopIteration:
            self._finish(None)
            raise
        except BaseException as error:
            self._finish(error)
            raise
        return self._take(chunk)

    def __enter__(self) -> "StreamProxy":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            close = getattr(self._stream, "close", None)
            if close is not None:
                close()
        finally:
            self._finish(exc)

    def close(self) -> Any:
        """Closes the stream and ends the span; for an async stream, returns the awaitable to await."""
        result = self._stream.close()
        if inspect.isawaitable(result):
            async def closing() -> None:
                try:
                    await result
                finally:
                    self._finish(None)
            return closing()
        self._finish(None)
        return result

    # async
    def __aiter__(self) -> "StreamProxy":
        return self

    async def __anext__(self) -> Any:
        try:
            chunk = await self._stream.__anext__()
        except StopAsyncIteration:
            self._finish(None)
            raise
        except BaseException as error:
            self._finish(error)
            raise
        return self._take(chunk)

    async def __aenter__(self) -> "StreamProxy":
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            close = getattr(self._stream, "close", None)
            if close is not None:
                result = close()
                if hasattr(result, "__await__"):
                    await result
        finally:
            self._finish(exc)

    def __del__(self) -> None:
        # a stream dropped half-read still ends its span (with what arrived so far)
        try:
            self._finish(None)
        except Exception:
            pass


def server_of(instance: Any) -> tuple[str | None, int | None]:
    """`server.address` and `server.port` of a resource's client (`instance._client.base_url`)."""
    try:
        url = instance._client.base_url
        host = url.host
        port = url.port
        return (str(host) if host else None), (int(port) if port else None)
    except Exception:
        return None, None
