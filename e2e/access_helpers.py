"""Helpers for the access-control tests (test_access_*.py, test_tls.py): API keys, projects,
the `pyflare keys|projects` CLI, OTLP senders that carry a key (the real OpenTelemetry
exporters, OTLP/JSON and raw protobuf over HTTP, raw gRPC), SQL counts, a `requests`
session bound to another loopback source address, and a scan of files for secrets.

The interface these helpers speak is /work/spec/access-spec.md (issue 23):
keys `pfk_<id8><secret>` sent as `Authorization: Bearer` or `x-api-key`, the project chosen by
the key or by `X-PyFlare-Project`, 401 `unauthenticated` / 403 `forbidden` (OTLP: google.rpc.Status
16 / 7; gRPC UNAUTHENTICATED / PERMISSION_DENIED).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterable

import grpc
import requests
from google.rpc import status_pb2
from requests.adapters import HTTPAdapter

from harness import JSON, PROTOBUF, STORE_CONFIG, auth_headers, merge_config, post_otlp
from otlp_helpers import ExportTraceServiceRequest, make_request, make_span, to_json_bytes
from store_helpers import wait_until

KEY_RE = re.compile(r"pfk_[A-Za-z0-9]{40}")
KEY_LINE_RE = re.compile(r"^[ \t]*(pfk_[A-Za-z0-9]{40})[ \t]*\r?$", re.M)
ANY_KEY_RE = re.compile(r"pfk_[A-Za-z0-9]{8,}")

UNAUTHENTICATED = 16  # google.rpc.Code
PERMISSION_DENIED = 7

TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
LOGS_EXPORT = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
METRICS_EXPORT = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"


def auth_config(extra: dict | None = None, enabled=True) -> dict:
    """The durable store with `auth.enabled` (True by default) and more overrides."""
    return merge_config(merge_config(STORE_CONFIG, {"auth": {"enabled": enabled}}), extra)


def fake_key(seed: str = "") -> str:
    """A well-formed key that was never issued (right format, unknown id and secret)."""
    digest = hashlib.sha256(f"pyflare-e2e-fake-{seed}-{time.time_ns()}-{os.urandom(8).hex()}".encode()).hexdigest()
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    n = int(digest, 16)
    chars = []
    for _ in range(40):
        n, r = divmod(n, 62)
        chars.append(alphabet[r])
    return "pfk_" + "".join(chars)


def key_parts(key: str) -> dict:
    """The parts of a key the spec names: prefix `pfk_<id8>`, id, secret."""
    assert KEY_RE.fullmatch(key), f"not a key of the form pfk_[A-Za-z0-9]{{40}}: {key!r}"
    return {"prefix": key[:12], "id": key[4:12], "secret": key[12:]}


def wait_bootstrap_key(srv, mark: int = 0, timeout: float = 10.0) -> str:
    """The one key line (`pfk_...` alone on its line) the server printed to stdout after `mark`."""
    def found():
        return KEY_LINE_RE.findall(srv.stdout_since(mark))
    try:
        keys = wait_until(found, timeout=timeout, what="the bootstrap admin key on stdout")
    except AssertionError as e:
        raise AssertionError(f"{e}\nstdout since start:\n{srv.stdout_since(mark)[-3000:]}") from None
    assert len(keys) == 1, f"more than one key line on stdout: {keys}"
    return keys[0]


# --------------------------------------------------------------------------
# REST
# --------------------------------------------------------------------------


class SourceAddressAdapter(HTTPAdapter):
    """Connections from a chosen local address (any 127.0.0.0/8 address works on Linux)."""

    def __init__(self, source_ip: str, **kwargs):
        self.source_ip = source_ip
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.source_ip, 0)
        return super().init_poolmanager(*args, **kwargs)


def session_from(source_ip: str) -> requests.Session:
    s = requests.Session()
    adapter = SourceAddressAdapter(source_ip)
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    return s


class AddressPool:
    """Fresh loopback source addresses 127.1.x.y (so that failed attempts of one request never
    throttle another)."""

    def __init__(self, second_octet: int = 1):
        self.octet = second_octet
        self.n = 0

    def next(self) -> str:
        self.n += 1
        return f"127.{self.octet}.{self.n // 250}.{self.n % 250 + 1}"

    def session(self) -> requests.Session:
        return session_from(self.next())


class Client:
    """REST calls to one server with one key (or none), optionally naming a project."""

    def __init__(self, srv, key: str | None = None, project: str | None = None, style: str = "bearer",
                 session: requests.Session | None = None):
        self.srv = srv
        self.key = key
        self.project = project
        self.style = style
        self.session = session

    def with_project(self, project: str | None) -> "Client":
        return Client(self.srv, self.key, project, self.style, self.session)

    def headers(self, extra: dict | None = None) -> dict:
        h = auth_headers(self.key, self.style, self.project)
        h.update(extra or {})
        return h

    def request(self, method: str, path: str, headers: dict | None = None, timeout: float = 30.0, **kwargs) -> requests.Response:
        kw = dict(self.srv.http_kwargs)
        kw["headers"] = dict(kw.get("headers") or {}, **self.headers(headers))
        kw.update(kwargs)
        url = f"{self.srv.api_base}{path}"
        if self.session is not None:
            return self.session.request(method, url, timeout=timeout, **kw)
        return requests.request(method, url, timeout=timeout, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def ok(self, method: str, path: str, expect: int = 200, **kw) -> dict:
        r = self.request(method, path, **kw)
        assert r.status_code == expect, f"{method} {path} (key {describe_key(self.key)}, project {self.project}) -> " \
                                        f"{r.status_code}, expected {expect}: {r.text[:800]}"
        return r.json() if r.content else {}

    def sql(self, statement: str, *params, **kw) -> requests.Response:
        return self.post("/api/v1/sql", json={"sql": statement, "params": list(params)}, **kw)

    def rows(self, statement: str, *params) -> list:
        r = self.sql(statement, *params)
        assert r.status_code == 200, f"SQL {statement!r} {params} (key {describe_key(self.key)}, project {self.project}) " \
                                     f"-> {r.status_code}: {r.text[:800]}"
        return r.json()["rows"]

    def count(self, table: str = "spans", where: str = "", *params) -> int:
        return self.rows(f"SELECT count(*) FROM {table} {where}", *params)[0][0]

    # keys and projects (global admin)
    def create_key(self, scope: str, project: str | None = None, name: str | None = None) -> dict:
        body = {"scope": scope, "project": project}
        if name is not None:
            body["name"] = name
        made = self.ok("POST", "/api/v1/keys", expect=201, json=body)
        assert KEY_RE.fullmatch(made.get("key", "")), made
        return made

    def create_project(self, name: str) -> dict:
        return self.ok("POST", "/api/v1/projects", expect=201, json={"name": name})


def poll_until(predicate, timeout: float = 5.0, interval: float = 0.25, what: str = "condition"):
    """Like store_helpers.wait_until, slower: for polls whose failed tries count as failed key
    attempts (the throttle allows 10 at once, then one a second)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)


def describe_key(key: str | None) -> str:
    return "none" if key is None else (key[:12] + "…" if KEY_RE.fullmatch(key) else repr(key[:16]))


def error_code(r: requests.Response):
    try:
        return r.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


def assert_unauthenticated(r: requests.Response, what: str) -> None:
    assert r.status_code == 401, f"{what}: expected 401, got {r.status_code}: {r.text[:500]}"
    assert r.headers.get("WWW-Authenticate", "").lower().startswith("bearer"), \
        f"{what}: 401 without `WWW-Authenticate: Bearer` (headers {dict(r.headers)})"
    assert error_code(r) == "unauthenticated", f"{what}: body {r.text[:500]}"
    assert isinstance(r.json()["error"].get("message"), str)


def assert_forbidden(r: requests.Response, what: str) -> None:
    assert r.status_code == 403, f"{what}: expected 403, got {r.status_code}: {r.text[:500]}"
    assert error_code(r) == "forbidden", f"{what}: body {r.text[:500]}"


# --------------------------------------------------------------------------
# OTLP senders
# --------------------------------------------------------------------------


def otlp_status(r: requests.Response, encoding: str) -> status_pb2.Status:
    """The google.rpc.Status of an OTLP/HTTP error answer, decoded in the request's encoding."""
    if encoding == "json":
        try:
            body = r.json()
        except ValueError:
            raise AssertionError(f"OTLP/JSON error body is not JSON ({r.status_code}): {r.content[:300]!r}") from None
        st = status_pb2.Status(code=int(body.get("code", -1)), message=str(body.get("message", "")))
        return st
    try:
        st = status_pb2.Status.FromString(r.content)
    except Exception as e:  # noqa: BLE001 - any decode error is the finding
        raise AssertionError(f"OTLP/protobuf error body is not a google.rpc.Status ({r.status_code}): "
                             f"{r.content[:300]!r} ({e})") from None
    return st


def spans_request(n: int, service: str, traces: int = 1, start: int | None = None) -> ExportTraceServiceRequest:
    """n spans over `traces` traces (round robin), for raw posts."""
    start = start or time.time_ns() - 600 * 10**9
    trace_ids = [os.urandom(16) for _ in range(traces)]
    spans = [make_span(trace_id=trace_ids[i % traces], name=f"raw {i}", start=start + i * 1000) for i in range(n)]
    return make_request(spans, service=service)


def post_spans(srv, req: ExportTraceServiceRequest, key: str | None, encoding: str = "protobuf", style: str = "bearer",
               project: str | None = None, session: requests.Session | None = None) -> requests.Response:
    body = req.SerializeToString() if encoding == "protobuf" else to_json_bytes(req)
    ctype = PROTOBUF if encoding == "protobuf" else JSON
    headers = {"Content-Type": ctype, **auth_headers(key, style, project)}
    kw = dict(srv.http_kwargs)
    kw.pop("headers", None)
    if session is not None:
        return session.post(srv.traces_url, data=body, headers=headers, timeout=30, **kw)
    return requests.post(srv.traces_url, data=body, headers=headers, timeout=30, **kw)


def grpc_metadata(key: str | None, style: str = "bearer", project: str | None = None) -> list[tuple[str, str]]:
    return [(k.lower(), v) for k, v in auth_headers(key, style, project).items()]


def grpc_channel(srv, credentials: grpc.ChannelCredentials | None = None) -> grpc.Channel:
    target = f"127.0.0.1:{srv.grpc_port}"
    if credentials is None:
        return grpc.insecure_channel(target)
    return grpc.secure_channel(target, credentials)


def grpc_export(channel: grpc.Channel, method: str, request_bytes: bytes, metadata, timeout: float = 15.0):
    """One raw unary Export call; returns (StatusCode, details)."""
    stub = channel.unary_unary(method, request_serializer=lambda b: b, response_deserializer=lambda b: b)
    try:
        _, call = stub.with_call(request_bytes, metadata=metadata, timeout=timeout)
        return call.code(), call.details() or ""
    except grpc.RpcError as e:
        return e.code(), e.details() or ""


# The real OpenTelemetry exporters, remembering what export() returned ------


def recording(cls):
    """A subclass of an OTel exporter class that records each export() result."""
    class Recording(cls):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.results = []

        def export(self, batch, *args, **kwargs):
            result = super().export(batch, *args, **kwargs)
            self.results.append(result)
            return result

        def all_ok(self) -> bool:
            return bool(self.results) and all(r.name == "SUCCESS" for r in self.results)
    Recording.__name__ = f"Recording{cls.__name__}"
    return Recording


def http_span_exporter(srv, key: str | None, style: str = "bearer", project: str | None = None, **tls):
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    return recording(OTLPSpanExporter)(endpoint=srv.traces_url, headers=auth_headers(key, style, project), timeout=15, **tls)


def grpc_span_exporter(srv, key: str | None, style: str = "bearer", project: str | None = None, credentials=None):
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    if credentials is None:
        return recording(OTLPSpanExporter)(endpoint=f"127.0.0.1:{srv.grpc_port}", insecure=True,
                                           headers=dict(grpc_metadata(key, style, project)), timeout=15)
    return recording(OTLPSpanExporter)(endpoint=f"127.0.0.1:{srv.grpc_port}", insecure=False, credentials=credentials,
                                       headers=dict(grpc_metadata(key, style, project)), timeout=15)


def emit_spans(exporter, service: str, traces: int, spans_per_trace: int, attributes: dict | None = None,
               error: Exception | None = None, start_ns: int | None = None) -> list[str]:
    """`traces` traces of `spans_per_trace` spans each through the SDK (SimpleSpanProcessor, so
    one export per span); the children carry `attributes` and, if given, record `error`.
    Returns the trace ids (hex). The exporter is shut down."""
    from opentelemetry import trace as api
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.trace import Status, StatusCode

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("pyflare.e2e.access")
    start = start_ns or time.time_ns() - 600 * 10**9  # ten minutes ago: inside every closed rollup window
    ids = []
    for t in range(traces):
        t0 = start + t * 10**9
        root = tracer.start_span(f"{service} request {t}", start_time=t0)
        ids.append(format(root.get_span_context().trace_id, "032x"))
        with api.use_span(root, end_on_exit=False):
            for c in range(spans_per_trace - 1):
                child = tracer.start_span(f"{service} step {c}", start_time=t0 + 1000, attributes=attributes or {})
                if error is not None:
                    try:
                        raise error
                    except Exception as exc:  # noqa: BLE001 - recorded as the SDK records it
                        child.record_exception(exc)
                        child.set_status(Status(StatusCode.ERROR, str(exc)))
                child.end(end_time=t0 + 2_000_000)
        root.end(end_time=t0 + 3_000_000)
    provider.shutdown()
    return ids


def emit_logs(exporter, service: str, messages: list[str]) -> None:
    """Log records through the SDK's logging bridge (one export per record)."""
    import logging
    import warnings
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.resources import Resource
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from opentelemetry.sdk._logs import LoggingHandler
        provider = LoggerProvider(resource=Resource.create({"service.name": service}))
        provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
        handler = LoggingHandler(level=logging.INFO, logger_provider=provider)
    logger = logging.getLogger(f"e2e.access.{service}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.addHandler(handler)
    try:
        for m in messages:
            logger.warning(m)
    finally:
        logger.removeHandler(handler)
        provider.shutdown()


def emit_counter(exporter, service: str, name: str, series: int) -> None:
    """One counter with `series` attribute sets, collected once (at shutdown): `series` points."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(resource=Resource.create({"service.name": service}), metric_readers=[reader])
    counter = provider.get_meter("e2e.access").create_counter(name, unit="1")
    for i in range(series):
        counter.add(i + 1, {"series": f"s{i}"})
    provider.shutdown()


def http_log_exporter(srv, key, style="bearer", project=None, **tls):
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    return recording(OTLPLogExporter)(endpoint=f"{srv.otlp_base}/v1/logs", headers=auth_headers(key, style, project),
                                      timeout=15, **tls)


def grpc_log_exporter(srv, key, style="bearer", project=None):
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    return recording(OTLPLogExporter)(endpoint=f"127.0.0.1:{srv.grpc_port}", insecure=True,
                                      headers=dict(grpc_metadata(key, style, project)), timeout=15)


def http_metric_exporter(srv, key, style="bearer", project=None, **tls):
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    return recording(OTLPMetricExporter)(endpoint=f"{srv.otlp_base}/v1/metrics", headers=auth_headers(key, style, project),
                                         timeout=15, **tls)


def grpc_metric_exporter(srv, key, style="bearer", project=None):
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    return recording(OTLPMetricExporter)(endpoint=f"127.0.0.1:{srv.grpc_port}", insecure=True,
                                         headers=dict(grpc_metadata(key, style, project)), timeout=15)


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------


def cli(binary, *args, timeout: float = 60.0, env: dict | None = None) -> subprocess.CompletedProcess:
    """`pyflare <args>`; returns the finished process (stdout/stderr as text)."""
    return subprocess.run([str(binary), *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, env=env)


def cli_ok(binary, *args, **kw) -> subprocess.CompletedProcess:
    p = cli(binary, *args, **kw)
    assert p.returncode == 0, f"pyflare {' '.join(map(str, args))} -> exit {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}"
    return p


def cli_create_key(binary, data_dir, scope: str, project: str | None = None, name: str | None = None) -> str:
    args = ["keys", "create", "--data-dir", data_dir, "--scope", scope]
    if project is not None:
        args += ["--project", project]
    if name is not None:
        args += ["--name", name]
    p = cli_ok(binary, *args)
    out = p.stdout.strip()
    assert KEY_RE.fullmatch(out), f"`pyflare {' '.join(map(str, args))}` must print the key alone on stdout, got {p.stdout!r}"
    return out


def access_feature_built(binary) -> bool:
    """Whether this binary has the `keys` subcommand (the access-control build)."""
    try:
        p = subprocess.run([str(binary), "--help"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return bool(re.search(r"^\s+keys\b", p.stdout + p.stderr, re.M))


# --------------------------------------------------------------------------
# secrets on disk and in logs
# --------------------------------------------------------------------------


def secret_needles(keys: Iterable[str]) -> dict[bytes, str]:
    """For each key: the whole key and its secret part (what must never be stored or logged)."""
    out = {}
    for k in keys:
        parts = key_parts(k)
        out[k.encode()] = f"key {parts['prefix']}…"
        out[parts["secret"].encode()] = f"secret of {parts['prefix']}…"
    return out


def files_containing(root: Path, needles: dict[bytes, str]) -> list[str]:
    """`path: what` for every file under root holding one of the needles (raw bytes, and
    UTF-16 for the odd encoder)."""
    hits = []
    for path in sorted(Path(root).rglob("*")):
        if not path.is_file():
            continue
        try:
            data = path.read_bytes()
        except OSError:
            continue
        for needle, what in needles.items():
            if needle in data or needle.decode().encode("utf-16-le") in data:
                hits.append(f"{path.relative_to(root)}: {what}")
    return hits


def sqlite_values(db: Path) -> list[tuple[str, str, object]]:
    """(table, column, value) of every cell of every table of a SQLite file (read only)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        out = []
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for t in tables:
            cur = con.execute(f'SELECT * FROM "{t}"')
            cols = [d[0] for d in cur.description]
            for row in cur:
                for c, v in zip(cols, row):
                    out.append((t, c, v))
        return out
    finally:
        con.close()


def sha256_forms(key: str) -> set[str]:
    """The SHA-256 hex forms a catalog may store for a key (of the whole key or of its secret)."""
    forms = set()
    for s in (key, key_parts(key)["secret"]):
        h = hashlib.sha256(s.encode()).hexdigest()
        forms |= {h, h.upper()}
    return forms


def dump_json(x) -> str:
    return json.dumps(x, indent=1, sort_keys=True)[:3000]


def python_exe() -> str:
    return sys.executable
