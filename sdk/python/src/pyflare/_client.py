"""The PyFlare client: OpenTelemetry tracer, meter and logger providers with OTLP exporters."""

from __future__ import annotations

import logging
import threading
from typing import Any, Iterator, Mapping, Sequence

from opentelemetry import baggage, context as otel_context, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.util._decorator import _agnosticcontextmanager

from . import semconv
from ._config import Settings
from ._version import __version__

log = logging.getLogger("pyflare")

# Baggage entries that become span attributes of every span started below them. Baggage (rather
# than a private context key) also carries them to downstream services over W3C `baggage`.
PROPAGATED = (semconv.USER, semconv.SESSION, semconv.APP_FEATURE)


class AttributePropagator(SpanProcessor):
    """Copies the user, session and feature of the context a span starts in onto the span."""

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        entries = baggage.get_all(parent_context)
        if not entries:
            return
        own = span.attributes or {}
        for key in PROPAGATED:
            value = entries.get(key)
            if value is not None and key not in own:  # a value the span was started with wins
                span.set_attribute(key, str(value))

    def on_end(self, span: ReadableSpan) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class PyFlare:
    """One configured SDK: the providers, their exporters and the GenAI metric instruments.

    Built by `pyflare.init()`; use that (it keeps the instance `pyflare.trace` and the
    integrations report to) rather than this class, unless you need two side by side.
    """

    def __init__(self, settings: Settings, span_exporter: SpanExporter | None = None,
                 metric_readers: Sequence[Any] | None = None) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._shut_down = False
        self._genai_instruments: Any = None
        self._log_handler: logging.Handler | None = None
        self._log_target: logging.Logger | None = None

        attributes: dict[str, Any] = {semconv.SERVICE_NAME: settings.service_name,
                                      "telemetry.distro.name": "pyflare", "telemetry.distro.version": __version__}
        if settings.version:
            attributes[semconv.SERVICE_VERSION] = settings.version
        if settings.environment:
            attributes[semconv.DEPLOYMENT_ENVIRONMENT] = settings.environment
        if settings.project:
            attributes[semconv.PROJECT] = settings.project
        attributes.update(settings.resource_attributes)
        self.resource = Resource.create(attributes)

        sampler = ParentBased(TraceIdRatioBased(settings.sample_rate))
        self.tracer_provider = TracerProvider(resource=self.resource, sampler=sampler)
        self.tracer_provider.add_span_processor(AttributePropagator())
        exporter = span_exporter or self._span_exporter()
        if settings.batch_export:
            processor: SpanProcessor = BatchSpanProcessor(exporter, schedule_delay_millis=settings.export_interval_ms)
        else:
            processor = SimpleSpanProcessor(exporter)
        self.tracer_provider.add_span_processor(processor)
        self.tracer = self.tracer_provider.get_tracer("pyflare", __version__)

        self.meter_provider: Any = None
        if settings.metrics or metric_readers:
            from opentelemetry.sdk.metrics import MeterProvider
            from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

            readers = list(metric_readers or [])
            if settings.metrics:
                readers.append(PeriodicExportingMetricReader(self._metric_exporter(),
                                                             export_interval_millis=settings.metric_interval_ms))
            self.meter_provider = MeterProvider(resource=self.resource, metric_readers=readers)

        self.logger_provider: Any = None
        if settings.logs:
            from opentelemetry.sdk._logs import LoggerProvider
            from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

            self.logger_provider = LoggerProvider(resource=self.resource)
            self.logger_provider.add_log_record_processor(
                BatchLogRecordProcessor(self._log_exporter(), schedule_delay_millis=settings.export_interval_ms))

    @classmethod
    def create(cls, service_name: str | None = None, **options: Any) -> "PyFlare":
        """A client configured like `pyflare.init(...)` (same arguments, same `PYFLARE_*` overrides)
        that is not made the current one: for a second destination beside the one of `init`.
        Its `tracer` and `meter_provider` are used directly; `@pyflare.trace` keeps reporting to `init`'s."""
        from ._config import resolve

        exporter = options.pop("span_exporter", None)
        readers = options.pop("metric_readers", None)
        settings = resolve(
            service_name, endpoint=options.pop("endpoint", None), api_key=options.pop("api_key", None),
            environment=options.pop("environment", None), version=options.pop("version", None),
            project=options.pop("project", None), sample_rate=options.pop("sample_rate", None),
            use_http=options.pop("use_http", None), batch_export=options.pop("batch_export", True),
            headers=options.pop("headers", None), resource_attributes=options.pop("resource_attributes", None),
            capture_content=options.pop("capture_content", None), enabled=options.pop("enabled", None),
            export_interval_ms=options.pop("export_interval_ms", 1000), metrics=options.pop("metrics", True),
            logs=options.pop("logs", True), metric_interval_ms=options.pop("metric_interval_ms", 10000))
        if options:
            raise TypeError(f"PyFlare.create() got unexpected arguments: {', '.join(sorted(options))}")
        return cls(settings, span_exporter=exporter, metric_readers=readers)

    # -- exporters ------------------------------------------------------------------------------
    def _span_exporter(self) -> SpanExporter:
        s = self.settings
        if s.use_http:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HTTPSpanExporter

            return HTTPSpanExporter(endpoint=s.signal_endpoint("traces"), headers=s.export_headers())
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GRPCSpanExporter

        return GRPCSpanExporter(endpoint=s.signal_endpoint("traces"), headers=s.export_headers(),
                                insecure=s.endpoint.startswith("http://"))

    def _metric_exporter(self) -> Any:
        s = self.settings
        if s.use_http:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

            return OTLPMetricExporter(endpoint=s.signal_endpoint("metrics"), headers=s.export_headers())
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GRPCMetricExporter

        return GRPCMetricExporter(endpoint=s.signal_endpoint("metrics"), headers=s.export_headers(),
                                  insecure=s.endpoint.startswith("http://"))

    def _log_exporter(self) -> Any:
        s = self.settings
        if s.use_http:
            from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

            return OTLPLogExporter(endpoint=s.signal_endpoint("logs"), headers=s.export_headers())
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GRPCLogExporter

        return GRPCLogExporter(endpoint=s.signal_endpoint("logs"), headers=s.export_headers(),
                               insecure=s.endpoint.startswith("http://"))

    # -- use --------------------------------------------------------------------------------------
    @property
    def genai_instruments(self) -> Any:
        """The GenAI client metric instruments on this client's meter provider (made once)."""
        if self._genai_instruments is None and self.meter_provider is not None:
            from .integrations._genai import GenAIInstruments

            with self._lock:
                if self._genai_instruments is None:
                    self._genai_instruments = GenAIInstruments(self.meter_provider.get_meter("pyflare", __version__))
        return self._genai_instruments

    def logging_handler(self, level: int = logging.NOTSET) -> logging.Handler:
        """A `logging` handler that sends records to PyFlare as OTLP logs, linked to the current span."""
        if self.logger_provider is None:
            raise RuntimeError("this PyFlare client was built with logs=False")
        try:
            # where OpenTelemetry keeps the handler now (the SDK's own copy is deprecated)
            from opentelemetry.instrumentation.logging.handler import LoggingHandler
        except ImportError:
            from opentelemetry.sdk._logs import LoggingHandler  # type: ignore[no-redef,assignment]

        return LoggingHandler(level=level, logger_provider=self.logger_provider)

    def capture_logs(self, level: int = logging.INFO, logger: logging.Logger | None = None) -> None:
        """Sends the records of `logger` (the root logger by default) at `level` and above to PyFlare."""
        with self._lock:
            if self._log_handler is None:
                self._log_handler = self.logging_handler(level)
                self._log_target = logger or logging.getLogger()
                self._log_target.addHandler(self._log_handler)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Exports everything buffered now; True when every provider finished in time."""
        ok = self.tracer_provider.force_flush(timeout_millis)
        if self.meter_provider is not None:
            ok = self.meter_provider.force_flush(timeout_millis) and ok
        if self.logger_provider is not None:
            ok = bool(self.logger_provider.force_flush(timeout_millis)) and ok
        return ok

    def shutdown(self) -> None:
        """Flushes and stops the exporters. Later calls do nothing."""
        with self._lock:
            if self._shut_down:
                return
            self._shut_down = True
            handler, self._log_handler = self._log_handler, None
        if handler is not None and self._log_target is not None:
            self._log_target.removeHandler(handler)
        self.tracer_provider.shutdown()
        if self.meter_provider is not None:
            self.meter_provider.shutdown()
        if self.logger_provider is not None:
            self.logger_provider.shutdown()

    @property
    def is_shut_down(self) -> bool:
        return self._shut_down


# -- the process-wide client ------------------------------------------------------------------

_client: PyFlare | None = None
# True after an init(enabled=False): the integrations then patch nothing either
_disabled = False


def current() -> PyFlare | None:
    """The client of the last `pyflare.init()` that is not shut down, else None."""
    return _client


def set_current(client: PyFlare | None) -> None:
    global _client
    _client = client


def set_disabled(value: bool) -> None:
    global _disabled
    _disabled = value


def disabled() -> bool:
    """Whether the last `pyflare.init()` was told `enabled=False` (or `PYFLARE_ENABLED=false`)."""
    return _disabled


class _SwitchingTracer(trace.Tracer):
    """A tracer that creates its spans with whichever PyFlare client is current at that moment.

    OpenTelemetry lets the global tracer provider be set once per process; pointing it at this
    provider lets `pyflare.init()` be called again after `shutdown()` (tests, notebooks, forks)
    without leaving other libraries' tracers bound to a shut-down provider.
    """

    def __init__(self, args: tuple, kwargs: dict) -> None:
        self._args = args
        self._kwargs = kwargs
        self._bound: tuple[PyFlare, trace.Tracer] | None = None

    def _tracer(self) -> trace.Tracer:
        client = _client
        if client is None:
            return trace.NoOpTracer()
        bound = self._bound
        if bound is None or bound[0] is not client:
            bound = (client, client.tracer_provider.get_tracer(*self._args, **self._kwargs))
            self._bound = bound
        return bound[1]

    def start_span(self, *args: Any, **kwargs: Any) -> trace.Span:  # type: ignore[override]
        return self._tracer().start_span(*args, **kwargs)

    @_agnosticcontextmanager  # type: ignore[arg-type]
    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Iterator[trace.Span]:  # type: ignore[override]
        with self._tracer().start_as_current_span(*args, **kwargs) as span:
            yield span


class SwitchingTracerProvider(trace.TracerProvider):
    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:  # type: ignore[override]
        return _SwitchingTracer(args, kwargs)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        client = _client
        return client.force_flush(timeout_millis) if client is not None else True


_globals_installed = False


def install_globals(client: PyFlare) -> None:
    """Points OpenTelemetry's global providers at PyFlare, once per process.

    Traces go through `SwitchingTracerProvider`, so they follow later re-inits; the global meter
    and logger providers can only be set once, so they stay with the first client.
    """
    global _globals_installed
    if _globals_installed:
        return
    _globals_installed = True
    current_provider = trace.get_tracer_provider()
    if isinstance(current_provider, trace.ProxyTracerProvider):
        trace.set_tracer_provider(SwitchingTracerProvider())
    else:
        log.warning("pyflare: a global OpenTelemetry tracer provider is already set (%s); PyFlare's spans go "
                    "through its own provider and the global one is left as it is", type(current_provider).__name__)
    if client.meter_provider is not None:
        from opentelemetry import metrics
        from opentelemetry.metrics import _internal as metrics_internal

        if isinstance(metrics.get_meter_provider(), metrics_internal._ProxyMeterProvider):
            metrics.set_meter_provider(client.meter_provider)
    if client.logger_provider is not None:
        from opentelemetry import _logs
        from opentelemetry._logs import _internal as logs_internal

        if isinstance(_logs.get_logger_provider(), logs_internal.ProxyLoggerProvider):
            _logs.set_logger_provider(client.logger_provider)


def attributes_of(mapping: Mapping[str, Any] | None) -> dict[str, Any]:
    """Attribute values OpenTelemetry accepts: primitives and lists of one primitive type kept,
    anything else as its string form (a dict or an object would otherwise be dropped with a warning)."""
    out: dict[str, Any] = {}
    for key, value in (mapping or {}).items():
        if value is None:
            continue
        if isinstance(value, (str, bool, int, float)):
            out[key] = value
        elif isinstance(value, (list, tuple)) and value and all(isinstance(v, (str, bool, int, float)) for v in value) \
                and len({type(v) for v in value}) == 1:
            out[key] = list(value)
        else:
            out[key] = str(value)
    return out
