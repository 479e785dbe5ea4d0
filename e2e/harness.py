"""Process, HTTP, sink and metrics helpers for the PyFlare end-to-end tests.

Nothing here knows about pytest fixtures; conftest.py wires it up.
"""

from __future__ import annotations

import base64
import collections
import gzip
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BIN = REPO_ROOT / ".build" / "debug" / "pyflare"

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
SINK_TIMEOUT_S = 10.0
HTTP_TIMEOUT_S = 15.0

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


def pyflare_bin() -> Path:
    raw = os.environ.get("PYFLARE_BIN")
    path = Path(raw) if raw else DEFAULT_BIN
    if not path.is_absolute():
        path = REPO_ROOT / path
    return path


# --------------------------------------------------------------------------
# config
# --------------------------------------------------------------------------

DEFAULT_CONFIG: dict = {
    "batcher": {
        "max_batch_spans": 8192,
        "flush_interval_ms": 0,  # the server default: an idle worker writes at once
        "max_queued_spans": 200000,
        "workers": 2,
    },
    "otlp": {"http": {"max_body_bytes": 16 * 1024 * 1024}},
    "sink": {
        # the older tests read the JSON-lines file sink; store tests set kind: store (STORE_CONFIG)
        "kind": "file",
        "file": {"directory": "exports", "max_file_bytes": 64 * 1024 * 1024, "max_files": 10},
    },
    "sampler": {"strategy": "always_on"},
    # the fixtures' spans are stamped in 2025, older than the default 30 days: kept here, so that
    # the retention job (which runs at start) leaves them; test_retention.py sets its own ages
    "retention": {"spans": "0", "logs": "0", "metric_points": "0"},
}


# Overrides for a server with the durable store (the server's default sink).
STORE_CONFIG: dict = {"sink": {"kind": "store"}}


def merge_config(base: dict, overrides: dict | None) -> dict:
    """A new dict: `base` with `overrides` merged in, sharing nothing with either (a test that
    changes its server's config must not change a module-level config other tests start from)."""
    out = json.loads(json.dumps(base))
    for key, value in (overrides or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_config(out[key], value)
        else:
            out[key] = json.loads(json.dumps(value))
    return out


def _yaml_scalar(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if v is None:
        return "null"
    if isinstance(v, (list, dict)):
        return json.dumps(v)  # JSON is YAML flow syntax
    return json.dumps(str(v))  # a JSON string is a valid YAML double-quoted scalar


def to_yaml(d: dict, indent: int = 0) -> str:
    lines = []
    for key, value in d.items():
        pad = "  " * indent
        if isinstance(value, dict):
            lines.append(f"{pad}{key}:")
            lines.append(to_yaml(value, indent + 1).rstrip("\n"))
        else:
            lines.append(f"{pad}{key}: {_yaml_scalar(value)}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# server process
# --------------------------------------------------------------------------


def free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _tail(path: Path, max_chars: int = 20000) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return "<no file>"
    text = data.decode("utf-8", "replace")
    if len(text) > max_chars:
        text = "...[truncated]...\n" + text[-max_chars:]
    return text or "<empty>"


class ServerError(AssertionError):
    pass


class PyflareServer:
    """One `pyflare serve` process with its own data dir, config and logs."""

    def __init__(self, binary: Path, workdir: Path, config: dict | None = None, name: str = "pyflare",
                 extra_args: list[str] | None = None, http_kwargs: dict | None = None, env: dict | None = None):
        self.binary = binary
        self.name = name
        # more environment variables for the process (e.g. LD_LIBRARY_PATH for a newer librdkafka)
        self.env = dict(env or {})
        # more `pyflare serve` flags (e.g. ["--insecure"]), appended to the command line
        self.extra_args = list(extra_args or [])
        # extra keyword arguments for every `requests` call the harness makes (readiness,
        # api_get, metrics): `verify` / `cert` for a TLS server, `headers` for an API key
        self.http_kwargs = dict(http_kwargs or {})
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = workdir / "data"
        self.config = merge_config(DEFAULT_CONFIG, config)
        self.config_path = workdir / "pyflare.yaml"
        self.stdout_path = workdir / "stdout.log"
        self.stderr_path = workdir / "stderr.log"
        self.proc: subprocess.Popen | None = None
        self.returncode: int | None = None
        self.http_port = self.grpc_port = self.api_port = 0

    # -- urls -------------------------------------------------------------
    @property
    def scheme(self) -> str:
        """https when the config names a certificate (tls.cert_file): every listener speaks TLS."""
        tls = self.config.get("tls") or {}
        return "https" if isinstance(tls, dict) and tls.get("cert_file") else "http"

    @property
    def otlp_base(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.http_port}"

    @property
    def traces_url(self) -> str:
        return f"{self.otlp_base}/v1/traces"

    @property
    def api_base(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.api_port}"

    @property
    def sink(self) -> "SinkReader":
        directory = self.config["sink"]["file"]["directory"]
        return SinkReader(self.data_dir / directory)

    # -- lifecycle --------------------------------------------------------
    def command(self) -> list[str]:
        return [
            str(self.binary),
            "serve",
            "--data-dir", str(self.data_dir),
            "--otlp-http-port", str(self.http_port),
            "--otlp-grpc-port", str(self.grpc_port),
            "--api-port", str(self.api_port),
            "--config", str(self.config_path),
        ] + self.extra_args

    def start(self, ready_timeout: float = READY_TIMEOUT_S) -> "PyflareServer":
        if not self.binary.is_file() or not os.access(self.binary, os.X_OK):
            raise ServerError(
                f"pyflare binary not found or not executable: {self.binary}\n"
                "Build it first (`swift build`, or `make e2e`), or point PYFLARE_BIN at it."
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(to_yaml(self.config))
        last_error = ""
        for attempt in range(3):  # a free port can be taken between probing and binding
            self.http_port, self.grpc_port, self.api_port = free_ports(3)
            with open(self.stdout_path, "ab") as out, open(self.stderr_path, "ab") as err:
                banner = f"\n===== {self.name} attempt {attempt + 1}: {' '.join(self.command())}\n".encode()
                out.write(banner)
                err.write(banner)
                out.flush()
                err.flush()
                self.proc = subprocess.Popen(
                    self.command(), stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=self.workdir,
                    env={**os.environ, **self.env} if self.env else None,
                )
            self.returncode = None
            try:
                self._wait_ready(ready_timeout)
                return self
            except ServerError as e:
                last_error = str(e)
                if self.proc.poll() is None:
                    self.kill()
                    break  # running but never healthy: not a port race
                if "in use" not in _tail(self.stderr_path).lower():
                    break
        raise ServerError(f"{self.name} did not become ready: {last_error}\n{self.logs()}")

    def _wait_ready(self, timeout: float) -> None:
        """Waits until every listener accepts: `/ready` says so by listing no listener among
        its problems. Other problems (an unwritable data directory, the disk floor) are what
        some tests provoke on purpose; the server is up for them all the same."""
        deadline = time.monotonic() + timeout
        url = f"{self.api_base}/ready"
        last = "no attempt"
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                self.returncode = rc
                raise ServerError(f"exited with code {rc} before /ready answered")
            try:
                r = requests.get(url, timeout=1.0, **self._http_kwargs())
                if r.status_code == 200:
                    return
                problems = r.json().get("problems", []) if r.status_code == 503 else []
                if r.status_code == 503 and not any("not listening" in p for p in problems):
                    return
                last = f"HTTP {r.status_code} {problems}"
            except (requests.RequestException, ValueError) as e:
                last = type(e).__name__
            time.sleep(0.1)
        raise ServerError(f"GET {url} did not report every listener up within {timeout:.0f}s (last: {last})")

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM and wait; returns the exit code. Raises (after SIGKILL) on timeout."""
        if self.proc is None:
            raise ServerError(f"{self.name} was never started")
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise ServerError(f"{self.name} did not exit within {timeout:.0f}s of SIGTERM\n{self.logs()}")
        self.returncode = self.proc.returncode
        return self.returncode

    def stop_ok(self, timeout: float = STOP_TIMEOUT_S) -> float:
        """Stop and require exit code 0; returns the seconds it took."""
        t0 = time.monotonic()
        rc = self.stop(timeout)
        took = time.monotonic() - t0
        if rc != 0:
            raise ServerError(f"{self.name} exited with code {rc} after SIGTERM (expected 0)\n{self.logs()}")
        return took

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    def restart(self, ready_timeout: float = READY_TIMEOUT_S) -> "PyflareServer":
        """SIGTERM (requiring exit 0), then start again on the same data dir (new ports)."""
        if self.running:
            self.stop_ok()
        return self.start(ready_timeout)

    def stderr_text(self) -> str:
        """Everything the server (all its runs) wrote to stderr, where it logs."""
        try:
            return self.stderr_path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_mark(self) -> int:
        """A position in the stderr log; pass it to log_since() to see what came after."""
        try:
            return self.stderr_path.stat().st_size
        except FileNotFoundError:
            return 0

    def log_since(self, mark: int) -> str:
        try:
            with open(self.stderr_path, "rb") as f:
                f.seek(mark)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def stdout_text(self) -> str:
        """Everything the server (all its runs) wrote to stdout, banners included."""
        try:
            return self.stdout_path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def stdout_mark(self) -> int:
        """A position in the stdout log; pass it to stdout_since()."""
        try:
            return self.stdout_path.stat().st_size
        except FileNotFoundError:
            return 0

    def stdout_since(self, mark: int) -> str:
        try:
            with open(self.stdout_path, "rb") as f:
                f.seek(mark)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def logs(self) -> str:
        return (
            f"----- {self.name} stdout ({self.stdout_path}) -----\n{_tail(self.stdout_path)}\n"
            f"----- {self.name} stderr ({self.stderr_path}) -----\n{_tail(self.stderr_path)}\n"
        )

    # -- http -------------------------------------------------------------
    def post_traces(self, body: bytes, content_type: str = PROTOBUF, encoding: str | None = None,
                    headers: dict | None = None, timeout: float = HTTP_TIMEOUT_S) -> requests.Response:
        return post_otlp(self.traces_url, body, content_type, encoding, headers, timeout)

    # -- trace API (sink.kind: store) ---------------------------------------
    def _http_kwargs(self, headers: dict | None = None) -> dict:
        kw = dict(self.http_kwargs)
        if headers:
            kw["headers"] = dict(kw.get("headers") or {}, **headers)
        return kw

    def api_get(self, path: str, params: dict | None = None, timeout: float = HTTP_TIMEOUT_S,
                headers: dict | None = None) -> requests.Response:
        return requests.get(f"{self.api_base}{path}", params=params, timeout=timeout, **self._http_kwargs(headers))

    def api_request(self, method: str, path: str, headers: dict | None = None, timeout: float = HTTP_TIMEOUT_S,
                    **kwargs) -> requests.Response:
        """Any API request (`json=`, `params=`, `data=` as for requests), with the server's
        http_kwargs and the given headers (e.g. auth_headers(key))."""
        return requests.request(method, f"{self.api_base}{path}", timeout=timeout, **self._http_kwargs(headers), **kwargs)

    def get_trace(self, trace_id: str) -> dict:
        """GET /api/v1/traces/{id}; requires 200 and parses ints exactly (like the sink reader)."""
        r = self.api_get(f"/api/v1/traces/{trace_id}")
        assert r.status_code == 200, f"GET /api/v1/traces/{trace_id} -> {r.status_code}: {r.text[:500]}"
        assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
        return parse_sink_line(r.text)

    def list_traces(self, **params) -> dict:
        """GET /api/v1/traces with the given query parameters; requires 200."""
        r = self.api_get("/api/v1/traces", params=params)
        assert r.status_code == 200, f"GET /api/v1/traces {params} -> {r.status_code}: {r.text[:500]}"
        return parse_sink_line(r.text)

    def list_all_traces(self, page_size: int = 1000, max_pages: int = 1000, **filters) -> list[dict]:
        """Every trace summary matching `filters`, following next_cursor page by page."""
        out: list[dict] = []
        cursor = None
        for _ in range(max_pages):
            params = dict(filters, limit=page_size)
            if cursor:
                params["cursor"] = cursor
            page = self.list_traces(**params)
            out.extend(page["traces"])
            cursor = page["next_cursor"]
            if not cursor:
                return out
        raise AssertionError(f"more than {max_pages} pages of traces for {filters}: next_cursor never ends")

    def metrics(self, headers: dict | None = None) -> "Metrics":
        r = requests.get(f"{self.api_base}/metrics", timeout=HTTP_TIMEOUT_S, **self._http_kwargs(headers))
        assert r.status_code == 200, f"GET /metrics -> {r.status_code}: {r.text[:500]}"
        return Metrics.parse(r.text, r.headers.get("Content-Type", ""))


# --------------------------------------------------------------------------
# HTTP helpers
# --------------------------------------------------------------------------


def auth_headers(key: str | None, style: str = "bearer", project: str | None = None) -> dict:
    """The headers that carry an API key (`Authorization: Bearer` or `x-api-key`) and,
    optionally, the project (`X-PyFlare-Project`)."""
    h: dict = {}
    if key is not None:
        if style == "bearer":
            h["Authorization"] = f"Bearer {key}"
        elif style == "x-api-key":
            h["x-api-key"] = key
        else:
            raise ValueError(f"unknown key style {style!r}")
    if project is not None:
        h["X-PyFlare-Project"] = project
    return h


def compress(body: bytes, encoding: str | None) -> bytes:
    if encoding in (None, "", "identity"):
        return body
    if encoding == "gzip":
        return gzip.compress(body, compresslevel=6, mtime=0)
    if encoding == "deflate":
        return zlib.compress(body)  # zlib-wrapped, as HTTP "deflate" means
    raise ValueError(f"unknown encoding {encoding}")


def post_otlp(url: str, body: bytes, content_type: str = PROTOBUF, encoding: str | None = None,
              headers: dict | None = None, timeout: float = HTTP_TIMEOUT_S) -> requests.Response:
    h = {"Content-Type": content_type}
    if encoding:
        h["Content-Encoding"] = encoding
    h.update(headers or {})
    return requests.post(url, data=compress(body, encoding), headers=h, timeout=timeout)


@dataclass
class RawResponse:
    status: int
    headers: dict
    body: bytes
    elapsed: float


def post_raw(port: int, path: str, data: bytes, headers: dict, timeout: float = HTTP_TIMEOUT_S) -> RawResponse:
    """POST with http.client, tolerating the server closing the connection while
    the body is still being sent (a server may answer 413 before reading it all)."""
    t0 = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest("POST", path)
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.putheader("Content-Length", str(len(data)))
        conn.endheaders()
        try:
            view = memoryview(data)
            for off in range(0, len(data), 256 * 1024):
                conn.send(view[off: off + 256 * 1024])
        except (BrokenPipeError, ConnectionResetError):
            pass
        resp = conn.getresponse()
        body = resp.read()
        return RawResponse(resp.status, {k.lower(): v for k, v in resp.getheaders()}, body, time.monotonic() - t0)
    finally:
        conn.close()


# --------------------------------------------------------------------------
# file sink
# --------------------------------------------------------------------------

_ROTATED = re.compile(r"^spans\.(\d+)\.jsonl$")


def _parse_int(s: str):
    # "-0" is how some encoders write the double -0.0; keep its sign.
    return -0.0 if s == "-0" else int(s)


def parse_sink_line(line: str) -> dict:
    return json.loads(line, parse_int=_parse_int)


class SinkReader:
    """Reads DATA_DIR/exports/spans*.jsonl (rotated files oldest first, then the active one)."""

    def __init__(self, directory: Path):
        self.directory = directory

    def rotated_files(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        found = []
        for p in self.directory.iterdir():
            m = _ROTATED.match(p.name)
            if m:
                found.append((int(m.group(1)), p))
        return [p for _, p in sorted(found)]

    def active_file(self) -> Path:
        return self.directory / "spans.jsonl"

    def files(self) -> list[Path]:
        files = self.rotated_files()
        if self.active_file().is_file():
            files.append(self.active_file())
        return files

    def raw_lines(self) -> list[str]:
        lines: list[str] = []
        for p in self.files():
            try:
                text = p.read_bytes().decode("utf-8")
            except FileNotFoundError:  # rotated away while listing
                continue
            parts = text.split("\n")
            # the last element is "" for a complete file, or a partially written line
            lines.extend(x for x in parts[:-1] if x.strip())
        return lines

    def records(self) -> list[dict]:
        out = []
        for line in self.raw_lines():
            try:
                out.append(parse_sink_line(line))
            except json.JSONDecodeError as e:
                raise AssertionError(f"sink line is not valid JSON ({e}): {line[:300]!r}") from e
        return out

    def snapshot(self) -> collections.Counter:
        return collections.Counter(self.raw_lines())

    def new_records(self, since: collections.Counter | None) -> list[dict]:
        lines = self.raw_lines()
        if since:
            remaining = collections.Counter(since)
            fresh = []
            for line in lines:
                if remaining[line] > 0:
                    remaining[line] -= 1
                else:
                    fresh.append(line)
            lines = fresh
        return [parse_sink_line(x) for x in lines]

    def wait_for(self, predicate: Callable[[list[dict]], bool], since=None,
                 timeout: float = SINK_TIMEOUT_S, what: str = "records") -> list[dict]:
        deadline = time.monotonic() + timeout
        while True:
            recs = self.new_records(since)
            if predicate(recs):
                return recs
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out after {timeout:.0f}s waiting for {what} in {self.directory}; "
                    f"{len(recs)} new record(s), files: {[p.name for p in self.files()]}"
                )
            time.sleep(0.1)

    def wait_for_spans(self, keys: Iterable[tuple[str, str]], since=None,
                       timeout: float = SINK_TIMEOUT_S) -> dict[tuple[str, str], list[dict]]:
        """Wait until every (trace_id_hex, span_id_hex) appears among the new records;
        returns key -> list of the new records with that key (normally one)."""
        want = set(keys)

        def have_all(recs):
            return want <= {span_key(r) for r in recs}

        try:
            recs = self.wait_for(have_all, since, timeout, what=f"{len(want)} span(s)")
        except AssertionError as e:
            seen = {span_key(r) for r in self.new_records(since)}
            missing = sorted(want - seen)
            raise AssertionError(f"{e}; missing {len(missing)}: {missing[:10]}") from None
        grouped: dict = collections.defaultdict(list)
        for r in recs:
            if span_key(r) in want:
                grouped[span_key(r)].append(r)
        return dict(grouped)


def span_key(rec: dict) -> tuple[str, str]:
    return rec.get("trace_id"), rec.get("span_id")


# --------------------------------------------------------------------------
# Prometheus text
# --------------------------------------------------------------------------

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?\s*$")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')


class Metrics:
    def __init__(self, samples: list[tuple[str, dict, float]], content_type: str, text: str):
        self.samples = samples
        self.content_type = content_type
        self.text = text

    @classmethod
    def parse(cls, text: str, content_type: str = "") -> "Metrics":
        samples = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            m = _SAMPLE.match(line)
            if not m:
                raise AssertionError(f"unparseable Prometheus sample line: {raw!r}")
            name, labels_text, value = m.groups()
            labels = {}
            if labels_text:
                for lm in _LABEL.finditer(labels_text):
                    labels[lm.group(1)] = bytes(lm.group(2), "utf-8").decode("unicode_escape")
            samples.append((name, labels, float(value)))
        return cls(samples, content_type, text)

    def names(self) -> set[str]:
        return {n for n, _, _ in self.samples}

    def series(self, name: str) -> list[tuple[dict, float]]:
        return [(lbl, v) for n, lbl, v in self.samples if n == name]

    def total(self, name: str, **match) -> float:
        """Sum of all samples of `name` whose labels include `match`."""
        return sum(v for lbl, v in self.series(name) if all(lbl.get(k) == w for k, w in match.items()))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
