"""The SDK's settings: arguments of `pyflare.init`, then `PYFLARE_*` environment variables over them."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Mapping

DEFAULT_GRPC_ENDPOINT = "http://localhost:4317"
DEFAULT_HTTP_ENDPOINT = "http://localhost:4318"

# Environment variables override the arguments: a deployment can redirect or switch off the SDK
# without a code change (the same reason OTEL_* variables exist).
ENV_ENDPOINT = "PYFLARE_ENDPOINT"
ENV_API_KEY = "PYFLARE_API_KEY"
ENV_ENVIRONMENT = "PYFLARE_ENVIRONMENT"
ENV_ENABLED = "PYFLARE_ENABLED"
ENV_SAMPLE_RATE = "PYFLARE_SAMPLE_RATE"
ENV_CAPTURE_CONTENT = "PYFLARE_CAPTURE_CONTENT"
ENV_SERVICE_NAME = "PYFLARE_SERVICE_NAME"
ENV_USE_HTTP = "PYFLARE_USE_HTTP"
ENV_PROJECT = "PYFLARE_PROJECT"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class ConfigError(ValueError):
    """A setting has a value the SDK cannot use; the message names the setting and the value."""


def parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name}: expected true or false (1/0, yes/no, on/off), got {raw!r}")


def parse_rate(name: str, raw: object) -> float:
    try:
        rate = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: expected a number between 0 and 1, got {raw!r}") from None
    if not 0.0 <= rate <= 1.0:
        raise ConfigError(f"{name}: expected a number between 0 and 1, got {raw!r}")
    return rate


@dataclass
class Settings:
    service_name: str
    endpoint: str
    api_key: str | None
    environment: str | None
    version: str | None
    project: str | None
    sample_rate: float
    use_http: bool
    batch_export: bool
    headers: dict[str, str] = field(default_factory=dict)
    resource_attributes: dict[str, object] = field(default_factory=dict)
    capture_content: bool = False
    enabled: bool = True
    export_interval_ms: int = 1000
    metric_interval_ms: int = 10000
    metrics: bool = True
    logs: bool = True

    def signal_endpoint(self, signal: str) -> str:
        """The URL an exporter posts `signal` ("traces", "metrics", "logs") to."""
        base = self.endpoint.rstrip("/")
        if not self.use_http:
            return base
        return f"{base}/v1/{signal}"

    def export_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.api_key:
            headers.setdefault("authorization", f"Bearer {self.api_key}")
        return headers


def resolve(service_name: str | None, endpoint: str | None, api_key: str | None, environment: str | None,
            version: str | None, project: str | None, sample_rate: float | None, use_http: bool | None,
            batch_export: bool, headers: Mapping[str, str] | None, resource_attributes: Mapping[str, object] | None,
            capture_content: bool | None, enabled: bool | None, export_interval_ms: int,
            metrics: bool, logs: bool, env: Mapping[str, str] | None = None,
            metric_interval_ms: int = 10000) -> Settings:
    env = os.environ if env is None else env

    def from_env(name: str) -> str | None:
        raw = env.get(name)
        return raw if raw not in (None, "") else None

    if (raw := from_env(ENV_ENABLED)) is not None:
        enabled = parse_bool(ENV_ENABLED, raw)
    if (raw := from_env(ENV_USE_HTTP)) is not None:
        use_http = parse_bool(ENV_USE_HTTP, raw)
    if (raw := from_env(ENV_CAPTURE_CONTENT)) is not None:
        capture_content = parse_bool(ENV_CAPTURE_CONTENT, raw)
    if (raw := from_env(ENV_SAMPLE_RATE)) is not None:
        sample_rate = parse_rate(ENV_SAMPLE_RATE, raw)
    elif sample_rate is not None:
        sample_rate = parse_rate("sample_rate", sample_rate)
    service_name = from_env(ENV_SERVICE_NAME) or service_name
    endpoint_source = ENV_ENDPOINT if from_env(ENV_ENDPOINT) else "endpoint"
    endpoint = from_env(ENV_ENDPOINT) or endpoint
    api_key = from_env(ENV_API_KEY) or api_key
    environment = from_env(ENV_ENVIRONMENT) or environment
    project = from_env(ENV_PROJECT) or project

    if not service_name:
        raise ConfigError("service_name: required (pass it to pyflare.init or set PYFLARE_SERVICE_NAME)")
    use_http = bool(use_http)
    endpoint = endpoint or (DEFAULT_HTTP_ENDPOINT if use_http else DEFAULT_GRPC_ENDPOINT)
    if not endpoint.startswith(("http://", "https://")):
        raise ConfigError(f"{endpoint_source}: expected an http:// or https:// URL, got {endpoint!r}")
    for name, value in (("export_interval_ms", export_interval_ms), ("metric_interval_ms", metric_interval_ms)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ConfigError(f"{name}: expected a positive number of milliseconds, got {value!r}")
    return Settings(
        service_name=service_name, endpoint=endpoint, api_key=api_key, environment=environment, version=version,
        project=project, sample_rate=1.0 if sample_rate is None else sample_rate, use_http=use_http,
        batch_export=batch_export, headers={str(k).lower(): str(v) for k, v in (headers or {}).items()},
        resource_attributes=dict(resource_attributes or {}), capture_content=bool(capture_content),
        enabled=True if enabled is None else bool(enabled), export_interval_ms=int(export_interval_ms),
        metric_interval_ms=int(metric_interval_ms), metrics=metrics, logs=logs,
    )
