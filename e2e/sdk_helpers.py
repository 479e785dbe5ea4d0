"""Helpers shared by the Python SDK tests (test_sdk*.py): ids, trace lookups, the SDK's setup."""

from __future__ import annotations

import time
import uuid

import requests

from harness import STORE_CONFIG, merge_config

# A store server that never seals during a test: every span is read back from the WAL right after its 200.
SDK_SERVER_CONFIG = merge_config(STORE_CONFIG, {"segments": {"max_age_ms": 600000}, "scheduler": {"enabled": False}})

PYFLARE_ENV = ("PYFLARE_ENDPOINT", "PYFLARE_API_KEY", "PYFLARE_ENVIRONMENT", "PYFLARE_ENABLED", "PYFLARE_SAMPLE_RATE",
               "PYFLARE_CAPTURE_CONTENT", "PYFLARE_SERVICE_NAME", "PYFLARE_USE_HTTP", "PYFLARE_PROJECT")


def clean_env(monkeypatch) -> None:
    """No PYFLARE_* variable of the machine running the tests reaches the SDK under test."""
    for name in PYFLARE_ENV:
        monkeypatch.delenv(name, raising=False)


def service_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def trace_hex(span) -> str:
    return format(span.get_span_context().trace_id, "032x")


def span_hex(span) -> str:
    return format(span.get_span_context().span_id, "016x")


def spans_by_name(srv, trace_id: str) -> dict[str, dict]:
    """The spans of a trace by name (names are unique within each test's trace)."""
    spans = srv.get_trace(trace_id)["spans"]
    by_name: dict[str, dict] = {}
    for s in spans:
        assert s["name"] not in by_name, f"two spans named {s['name']!r} in trace {trace_id}"
        by_name[s["name"]] = s
    return by_name


def trace_status(srv, trace_id: str) -> int:
    return srv.api_get(f"/api/v1/traces/{trace_id}").status_code


def metric_points(srv, name: str, service: str, timeout: float = 10.0, want=lambda points: bool(points), **attrs) -> list[dict]:
    """The points of metric `name` from `service` (attribute filters as attr.KEY=VALUE), polling
    until `want(points)` holds: the SDK's metric reader exports on flush, the server stores at once."""
    params = {"service": service, **{f"attr.{k}": v for k, v in attrs.items()}}
    deadline = time.monotonic() + timeout
    last = None
    while True:
        r = requests.get(f"{srv.api_base}/api/v1/metrics/{name}/series", params=params, timeout=10)
        if r.status_code == 200:
            points = [p for series in r.json()["series"] for p in series["points"]]
            if want(points):
                return points
            last = points
        else:
            last = f"{r.status_code} {r.text[:200]}"
        if time.monotonic() > deadline:
            raise AssertionError(f"metric {name} of {service} {attrs}: not as expected after {timeout}s: {last}")
        time.sleep(0.1)


def sdk_init(srv, service: str, **overrides):
    """pyflare.init against `srv` over OTLP/HTTP, exporting each span as it ends (so a span is on the
    server when its `with` block is left) and metrics and logs on flush."""
    import pyflare

    kwargs = dict(endpoint=srv.otlp_base, use_http=True, batch_export=False, environment="e2e", version="1.2.3",
                  project="proj-e2e", export_interval_ms=60000, metric_interval_ms=60000)
    kwargs.update(overrides)
    return pyflare.init(service, **kwargs)
