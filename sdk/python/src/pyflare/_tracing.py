"""`@pyflare.trace`, `span()`, `llm_span()`, user/session/feature and the quality and RAG helpers."""

from __future__ import annotations

import contextvars
import functools
import inspect
import json
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence, TypeVar, overload

from opentelemetry import baggage, context as otel_context, trace as otel_trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from . import _client, semconv
from ._client import attributes_of

if TYPE_CHECKING:
    from .integrations._genai import LLMCall

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

# Argument and result previews are cut to this many characters (then "…" is appended): enough to
# recognize a call in the trace view, small enough that a large prompt does not bloat every span.
PREVIEW_MAX_CHARS = 1000

_NOOP_SPAN = otel_trace.INVALID_SPAN


def _tracer() -> otel_trace.Tracer | None:
    client = _client.current()
    return client.tracer if client is not None else None


def _capture_default() -> bool:
    client = _client.current()
    return bool(client and client.settings.capture_content)


def preview(value: Any, limit: int = PREVIEW_MAX_CHARS) -> str:
    """JSON of `value` where it has one (its repr otherwise), cut to `limit` characters."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, default=repr, ensure_ascii=False)
        except (TypeError, ValueError, RecursionError):
            text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def record_error(span: otel_trace.Span, error: BaseException) -> None:
    """ERROR status, `error.type` and an exception event, as the OTel conventions want them."""
    span.record_exception(error)
    span.set_attribute(semconv.ERROR_TYPE, type(error).__qualname__)
    span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))


# -- @trace -------------------------------------------------------------------------------------

def _call_preview(signature: inspect.Signature | None, args: tuple, kwargs: dict) -> str:
    if signature is None:
        return preview({"args": list(args), "kwargs": kwargs})
    try:
        bound = signature.bind_partial(*args, **kwargs)
    except TypeError:
        return preview({"args": list(args), "kwargs": kwargs})
    values = {k: v for k, v in bound.arguments.items() if k not in ("self", "cls")}
    return preview(values)


@overload
def trace(func: F) -> F: ...
@overload
def trace(func: None = None, *, name: str | None = None, model_id: str | None = None,
          inference_type: str | None = None, capture_input: bool | None = None, capture_output: bool | None = None,
          attributes: Mapping[str, Any] | None = None, kind: SpanKind = SpanKind.INTERNAL) -> Callable[[F], F]: ...


def trace(func: Callable[..., Any] | None = None, *, name: str | None = None, model_id: str | None = None,
          inference_type: str | None = None, capture_input: bool | None = None, capture_output: bool | None = None,
          attributes: Mapping[str, Any] | None = None, kind: SpanKind = SpanKind.INTERNAL) -> Any:
    """Traces each call of a function, coroutine function, generator or async generator.

    The span is named `name` (default: the function's qualified name) and is a child of the span
    current at the call. `model_id` and `inference_type` set `pyflare.model.id` and
    `pyflare.inference.type` (which make it an AI span for the server). With `capture_input` /
    `capture_output` (default: the `capture_content` of `init`) the arguments and the result are
    recorded as JSON previews of at most `PREVIEW_MAX_CHARS` characters. An exception is recorded
    (ERROR status, `error.type`, an exception event) and raised again. A generator's span lasts
    until it is exhausted, closed or fails; its output preview lists the items it yielded.

    When the SDK is not initialized or disabled, the function is called directly.
    """

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        span_name: str = name or getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or "call"
        static = dict(attributes or {})
        if model_id:
            static[semconv.MODEL_ID] = model_id
        if inference_type:
            static[semconv.INFERENCE_TYPE] = inference_type
        static["code.function.name"] = f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', span_name)}"
        static_attrs = attributes_of(static)
        try:
            signature: inspect.Signature | None = inspect.signature(fn)
        except (TypeError, ValueError):
            signature = None

        def start(tracer: otel_trace.Tracer, args: tuple, kwargs: dict,
                  ctx: otel_context.Context | None = None) -> tuple[otel_trace.Span, bool]:
            span = tracer.start_span(span_name, context=ctx, kind=kind, attributes=static_attrs)
            want_output = _capture_default() if capture_output is None else capture_output
            want_input = _capture_default() if capture_input is None else capture_input
            if want_input and span.is_recording():
                span.set_attribute(semconv.INPUT_PREVIEW, _call_preview(signature, args, kwargs))
            return span, want_output

        if inspect.isasyncgenfunction(fn):
            @functools.wraps(fn)
            def agen_wrapper(*args: Any, **kwargs: Any) -> Any:
                tracer = _tracer()
                if tracer is None:
                    return fn(*args, **kwargs)
                return _traced_async_generator(fn, args, kwargs, tracer, start, otel_context.get_current())
            return agen_wrapper

        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
                tracer = _tracer()
                if tracer is None:
                    return fn(*args, **kwargs)
                return _traced_generator(fn, args, kwargs, tracer, start, otel_context.get_current())
            return gen_wrapper

        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                tracer = _tracer()
                if tracer is None:
                    return await fn(*args, **kwargs)
                span, want_output = start(tracer, args, kwargs)
                token = otel_context.attach(otel_trace.set_span_in_context(span))
                try:
                    result = await fn(*args, **kwargs)
                    if want_output and span.is_recording():
                        span.set_attribute(semconv.OUTPUT_PREVIEW, preview(result))
                    return result
                except BaseException as error:
                    record_error(span, error)
                    raise
                finally:
                    otel_context.detach(token)
                    span.end()
            return async_wrapper

        @functools.wraps(fn)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            tracer = _tracer()
            if tracer is None:
                return fn(*args, **kwargs)
            span, want_output = start(tracer, args, kwargs)
            token = otel_context.attach(otel_trace.set_span_in_context(span))
            try:
                result = fn(*args, **kwargs)
                if want_output and span.is_recording():
                    span.set_attribute(semconv.OUTPUT_PREVIEW, preview(result))
                return result
            except BaseException as error:
                record_error(span, error)
                raise
            finally:
                otel_context.detach(token)
                span.end()
        return sync_wrapper

    if func is not None and callable(func):
        return decorate(func)
    return decorate


def _traced_generator(fn: Callable[..., Any], args: tuple, kwargs: dict, tracer: otel_trace.Tracer,
                      start: Callable[..., tuple[otel_trace.Span, bool]], parent: otel_context.Context) -> Any:
    """Runs each step of the generator with its span current, and the consumer's code without it:
    the span's context is attached around every resume and detached before every yield."""
    span, want_output = start(tracer, args, kwargs, parent)
    ctx = otel_trace.set_span_in_context(span, parent)
    items: list[Any] = []
    count = 0
    error: BaseException | None = None
    token = otel_context.attach(ctx)
    try:
        gen = fn(*args, **kwargs)
    finally:
        otel_context.detach(token)
    try:
        sent: Any = None
        thrown: BaseException | None = None
        while True:
            token = otel_context.attach(ctx)
            try:
                item = gen.throw(thrown) if thrown is not None else gen.send(sent)
            except StopIteration as stop:
                return stop.value
            finally:
                otel_context.detach(token)
            count += 1
            if want_output and len(items) < 100:
                items.append(item)
            thrown = None
            try:
                sent = yield item
            except GeneratorExit:
                gen.close()
                raise
            except BaseException as e:  # thrown in by the consumer: pass it on to the generator
                thrown = e
    except GeneratorExit:
        raise
    except BaseException as e:
        error = e
        raise
    finally:
        if error is not None:
            record_error(span, error)
        span.set_attribute("pyflare.output.items", count)
        if want_output:
            span.set_attribute(semconv.OUTPUT_PREVIEW, preview(items))
        span.end()


async def _traced_async_generator(fn: Callable[..., Any], args: tuple, kwargs: dict, tracer: otel_trace.Tracer,
                                  start: Callable[..., tuple[otel_trace.Span, bool]],
                                  parent: otel_context.Context) -> Any:
    span, want_output = start(tracer, args, kwargs, parent)
    ctx = otel_trace.set_span_in_context(span, parent)
    items: list[Any] = []
    count = 0
    error: BaseException | None = None
    agen = fn(*args, **kwargs)
    try:
        sent: Any = None
        thrown: BaseException | None = None
        while True:
            token = otel_context.attach(ctx)
            try:
                item = await (agen.athrow(thrown) if thrown is not None else agen.asend(sent))
            except StopAsyncIteration:
                return
            finally:
                otel_context.detach(token)
            count += 1
            if want_output and len(items) < 100:
                items.append(item)
            thrown = None
            try:
                sent = yield item
            except GeneratorExit:
                await agen.aclose()
                raise
            except BaseException as e:
                thrown = e
    except GeneratorExit:
        raise
    except BaseException as e:
        error = e
        raise
    finally:
        if error is not None:
            record_error(span, error)
        span.set_attribute("pyflare.output.items", count)
        if want_output:
            span.set_attribute(semconv.OUTPUT_PREVIEW, preview(items))
        span.end()


# -- context managers ---------------------------------------------------------------------------

@contextmanager
def span(name: str, attributes: Mapping[str, Any] | None = None, kind: SpanKind = SpanKind.INTERNAL) -> Iterator[otel_trace.Span]:
    """A span around a block, current inside it; an exception is recorded and raised again."""
    tracer = _tracer()
    if tracer is None:
        yield _NOOP_SPAN
        return
    with tracer.start_as_current_span(name, kind=kind, attributes=attributes_of(attributes),
                                      record_exception=False, set_status_on_exception=False) as s:
        try:
            yield s
        except BaseException as error:
            record_error(s, error)
            raise


@contextmanager
def llm_span(model: str, provider: str | None = None, operation: str = semconv.OPERATION_CHAT,
             name: str | None = None, attributes: Mapping[str, Any] | None = None) -> Iterator["LLMCall"]:
    """A GenAI client span for one model call made by hand (no integration for its client).

    Yields an `LLMCall`: give it the usage (`set_usage`), the response model and, with content capture
    on, the messages; when the block ends, the span carries the GenAI attributes the server costs and
    the `gen_ai.client.*` metrics are recorded.

        with pyflare.llm_span("gpt-4o", provider="openai") as call:
            reply = my_client.complete(prompt)
            call.set_usage(input_tokens=reply.prompt_tokens, output_tokens=reply.completion_tokens)
    """
    from .integrations._genai import LLMCall

    client = _client.current()
    if client is None:
        yield LLMCall.disabled()
        return
    call = LLMCall.start(client, operation=operation, provider=provider, request_model=model, span_name=name,
                         attributes=attributes)
    token = otel_context.attach(otel_trace.set_span_in_context(call.span))
    try:
        yield call
    except BaseException as error:
        call.fail(error)
        raise
    else:
        call.finish()
    finally:
        otel_context.detach(token)


# -- user, session, feature ---------------------------------------------------------------------

class Scope:
    """What `set_user`/`set_session`/`set_feature` changed; `reset()` (or leaving a `with`) undoes it.

    A value set inside a span's block also ends with that block: leaving it restores the context
    from before the span, whatever was set since. `reset()` after that does nothing, rather than
    bringing back the ended span's context.
    """

    def __init__(self, token: Any, ctx: otel_context.Context) -> None:
        self._token = token
        self._ctx = ctx

    def reset(self) -> None:
        token, self._token = self._token, None
        if token is not None and otel_context.get_current() is self._ctx:
            otel_context.detach(token)

    def __enter__(self) -> "Scope":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.reset()


def _set_propagated(key: str, value: str | None) -> Scope:
    ctx = baggage.remove_baggage(key) if value is None else baggage.set_baggage(key, str(value))
    current = otel_trace.get_current_span()
    if value is not None and current.is_recording():
        current.set_attribute(key, str(value))  # the span already open gets it too, not only its children
    return Scope(otel_context.attach(ctx), ctx)


def set_user(user_id: str | None) -> Scope:
    """Sets `user.id` on the current span and every span started below it in this context (thread or
    asyncio task), and in W3C baggage for downstream services. `None` clears it."""
    return _set_propagated(semconv.USER, user_id)


def set_session(session_id: str | None) -> Scope:
    """Like `set_user`, for `session.id`."""
    return _set_propagated(semconv.SESSION, session_id)


def set_feature(feature: str | None) -> Scope:
    """Like `set_user`, for `app.feature` (the product feature the work is for)."""
    return _set_propagated(semconv.APP_FEATURE, feature)


def get_user() -> str | None:
    value = baggage.get_baggage(semconv.USER)
    return None if value is None else str(value)


def bind_context(fn: Callable[..., T]) -> Callable[..., T]:
    """`fn` bound to the caller's context: the current span, user, session and feature.

    A new thread starts with an empty context; hand it `bind_context(work)` (or submit that to an
    executor) and the spans it creates are children of the caller's span.
    """
    ctx = contextvars.copy_context()

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> T:
        return ctx.copy().run(fn, *args, **kwargs)
    return run


# -- quality and RAG ------------------------------------------------------------------------------

def _target(span_: otel_trace.Span | None) -> otel_trace.Span:
    return span_ if span_ is not None else otel_trace.get_current_span()


def record_quality_score(name: str, score: float | None = None, *, label: str | None = None,
                         passed: bool | None = None, explanation: str | None = None,
                         span: otel_trace.Span | None = None) -> None:
    """Records an evaluation result on `span` (the current span by default) as `pyflare.quality.NAME.*`.

    The server reads it into its evaluations (`GET /api/v1/evaluations`): a score, a label
    (`pass`/`fail`/…), a verdict and an explanation, any of them.
    """
    if not name or any(c.isspace() for c in name):
        raise ValueError(f"quality score name must be a non-empty word, got {name!r}")
    target = _target(span)
    if not target.is_recording():
        return
    prefix = semconv.QUALITY_PREFIX + name
    if score is not None:
        target.set_attribute(prefix + ".score", float(score))
    if label is not None:
        target.set_attribute(prefix + ".label", str(label))
    if passed is not None:
        target.set_attribute(prefix + ".passed", bool(passed))
    if explanation is not None:
        target.set_attribute(prefix + ".explanation", preview(explanation))


def _document(doc: Any, index: int) -> dict[str, Any]:
    if isinstance(doc, str):
        return {"id": str(index), "content": doc}
    if isinstance(doc, Mapping):
        content = doc.get("content", doc.get("text", doc.get("page_content", "")))
        out: dict[str, Any] = {"id": str(doc.get("id", index)), "content": str(content)}
        if doc.get("score") is not None:
            out["score"] = float(doc["score"])
        return out
    # objects such as LangChain's Document
    content = getattr(doc, "page_content", None) or getattr(doc, "content", None) or str(doc)
    out = {"id": str(getattr(doc, "id", None) or index), "content": str(content)}
    score = getattr(doc, "score", None)
    if score is not None:
        out["score"] = float(score)
    return out


def record_retrieval(documents: Sequence[Any], query: str | None = None, *, retriever: str | None = None,
                     span: otel_trace.Span | None = None) -> None:
    """Records what a retrieval step fetched on `span` (the current span by default).

    `documents` are strings, mappings with `content` (or `text`/`page_content`) and optional `id` and
    `score`, or objects with such attributes. The server's RAG evaluator reads the query and
    documents (`gen_ai.retrieval.query.text`, `gen_ai.retrieval.documents`) and scores the answer of
    the next LLM span of the trace against them.
    """
    target = _target(span)
    if not target.is_recording():
        return
    docs = [_document(d, i) for i, d in enumerate(documents)]
    if query is not None:
        target.set_attribute(semconv.RAG_QUERY, str(query))
    target.set_attribute(semconv.RAG_DOCUMENTS, json.dumps(docs, ensure_ascii=False))
    target.set_attribute(semconv.RAG_DOCUMENT_COUNT, len(docs))
    target.set_attribute(semconv.RAG_DOCUMENT_IDS, [d["id"] for d in docs])
    scores = [d["score"] for d in docs if "score" in d]
    if scores:
        target.set_attribute(semconv.RAG_TOP_SCORE, max(scores))
    if retriever:
        target.set_attribute(semconv.RAG_RETRIEVER, retriever)


@contextmanager
def retrieval_span(query: str, name: str | None = None, retriever: str | None = None,
                   attributes: Mapping[str, Any] | None = None) -> Iterator[otel_trace.Span]:
    """A `retrieval` span (the server's RETRIEVER kind); call `record_retrieval` inside it."""
    attrs = {semconv.GEN_AI_OPERATION_NAME: semconv.OPERATION_RETRIEVAL, semconv.RAG_QUERY: query}
    if retriever:
        attrs[semconv.RAG_RETRIEVER] = retriever
    attrs.update(attributes or {})
    with span(name or f"retrieval {retriever or ''}".strip(), attributes=attrs, kind=SpanKind.CLIENT) as s:
        yield s


def record_embedding(vector: Sequence[float], model: str | None = None, span: otel_trace.Span | None = None) -> None:
    """Records an embedding on `span` as `pyflare.embedding.vector` (the server's drift detection reads it)."""
    target = _target(span)
    if not target.is_recording():
        return
    target.set_attribute(semconv.EMBEDDING_VECTOR, [float(x) for x in vector])
    target.set_attribute(semconv.EMBEDDING_DIMENSIONS, len(vector))
    if model:
        target.set_attribute(semconv.EMBEDDING_MODEL, model)
