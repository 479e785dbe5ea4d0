"""PyFlare's Python SDK: OpenTelemetry tracing, metrics, logs and cost for AI/LLM applications.

    import pyflare
    pyflare.init("my-app")                 # OTLP to a local PyFlare server
    @pyflare.trace
    def answer(question): ...

Everything goes through the OpenTelemetry SDK (a TracerProvider, a MeterProvider and a
LoggerProvider with OTLP exporters); PyFlare adds the configuration, the GenAI conventions the
server reads, user/session/feature propagation, a cost calculator on the server's own prices and
auto-instrumentation of the OpenAI and Anthropic clients (`pyflare.integrations`).
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Mapping, Sequence

from opentelemetry import trace as _otel_trace

from . import _client, cost, integrations, semconv
from ._client import PyFlare
from ._config import ConfigError, Settings, resolve as _resolve
from ._tracing import (
    PREVIEW_MAX_CHARS,
    Scope,
    bind_context,
    get_user,
    llm_span,
    record_embedding,
    record_quality_score,
    record_retrieval,
    retrieval_span,
    set_feature,
    set_session,
    set_user,
    span,
    trace,
)
from ._version import __version__
from .cost import calculate_cost

__all__ = [
    "PyFlare", "ConfigError", "Settings", "Scope", "init", "shutdown", "force_flush", "get_client", "get_tracer",
    "is_enabled", "trace", "span", "llm_span", "retrieval_span", "set_user", "set_session", "set_feature",
    "get_user", "bind_context", "record_quality_score", "record_retrieval", "record_embedding", "calculate_cost",
    "cost", "semconv", "integrations", "PREVIEW_MAX_CHARS", "__version__",
]

log = logging.getLogger("pyflare")
_init_lock = threading.Lock()


def init(service_name: str | None = None, *, endpoint: str | None = None, api_key: str | None = None,
         environment: str | None = None, version: str | None = None, project: str | None = None,
         sample_rate: float | None = None, use_http: bool | None = None, batch_export: bool = True,
         headers: Mapping[str, str] | None = None, resource_attributes: Mapping[str, Any] | None = None,
         capture_content: bool | None = None, enabled: bool | None = None, export_interval_ms: int = 1000,
         metric_interval_ms: int = 10000,
         metrics: bool = True, logs: bool = True, capture_logs: bool = False, set_global: bool = True,
         span_exporter: Any = None, metric_readers: Sequence[Any] | None = None) -> PyFlare | None:
    """Configures the SDK and returns the client (None when disabled).

    * `service_name` — `service.name` of everything sent (or `PYFLARE_SERVICE_NAME`).
    * `endpoint` — the PyFlare server's OTLP address: `http://localhost:4317` (gRPC) by default,
      `http://localhost:4318` with `use_http=True` (`/v1/traces`, `/v1/metrics`, `/v1/logs` are added).
    * `api_key` — sent as `Authorization: Bearer …`; `headers` — more headers for every export.
    * `environment`, `version`, `project` — `deployment.environment.name`, `service.version`,
      `pyflare.project` resource attributes; `resource_attributes` adds any others.
    * `sample_rate` — share of traces kept (0..1, decided per trace, children follow their parent).
    * `batch_export` — export in the background in batches (default) or each span as it ends.
    * `capture_content` — record prompts, completions and function arguments/results (off by default).
    * `enabled=False` — do nothing at all: no provider, no thread, no patching; decorators call through.
    * `export_interval_ms` — how often batched spans and logs are sent; `metric_interval_ms` — metrics.
    * `capture_logs` — also send the records of Python's root logger (INFO and above) as OTLP logs.
    * `set_global` — make PyFlare OpenTelemetry's global tracer (and meter and logger) provider, so
      other OpenTelemetry instrumentations report to it too.
    * `span_exporter` / `metric_readers` — replace the OTLP span exporter / add metric readers (tests).

    `PYFLARE_ENDPOINT`, `PYFLARE_API_KEY`, `PYFLARE_ENVIRONMENT`, `PYFLARE_ENABLED`,
    `PYFLARE_SAMPLE_RATE`, `PYFLARE_CAPTURE_CONTENT` (and `PYFLARE_SERVICE_NAME`, `PYFLARE_USE_HTTP`,
    `PYFLARE_PROJECT`) override the arguments. A bad value raises `ConfigError` naming it.

    Calling `init` again while a client is active shuts that one down (flushing it) and replaces it.
    """
    settings = _resolve(service_name, endpoint, api_key, environment, version, project, sample_rate, use_http,
                        batch_export, headers, resource_attributes, capture_content, enabled, export_interval_ms,
                        metrics, logs, metric_interval_ms=metric_interval_ms)
    with _init_lock:
        previous = _client.current()
        if previous is not None:
            _client.set_current(None)
            previous.shutdown()
        _client.set_disabled(not settings.enabled)
        if not settings.enabled:
            return None
        client = PyFlare(settings, span_exporter=span_exporter, metric_readers=metric_readers)
        _client.set_current(client)
        if set_global:
            _client.install_globals(client)
        if capture_logs:
            client.capture_logs()
        return client


def shutdown() -> None:
    """Flushes everything buffered and stops the exporters. Safe to call twice, or without `init`."""
    with _init_lock:
        client = _client.current()
        _client.set_current(None)
    if client is not None:
        client.shutdown()


def force_flush(timeout_millis: int = 30000) -> bool:
    """Exports everything buffered now, without shutting down."""
    client = _client.current()
    return client.force_flush(timeout_millis) if client is not None else True


def get_client() -> PyFlare | None:
    return _client.current()


def is_enabled() -> bool:
    return _client.current() is not None


def get_tracer(name: str = "pyflare.app", version: str | None = None) -> _otel_trace.Tracer:
    """An OpenTelemetry tracer that reports to PyFlare (a no-op one when the SDK is not initialized)."""
    client = _client.current()
    if client is None:
        return _otel_trace.NoOpTracer()
    return client.tracer_provider.get_tracer(name, version)
