"""Fixtures for the PyFlare end-to-end tests.

* `server`: one shared `pyflare serve` for the whole session (default config).
* `start_server(config, name=...)`: a function-scoped server for tests that need
  a different config; stopped (and required to exit 0) after the test unless the
  test stopped it itself.
* On any failure the stdout/stderr of the servers involved are attached to the
  pytest report.

The binary is $PYFLARE_BIN, or .build/debug/pyflare relative to the repo root.
If it is missing every test fails (never skips) with a message saying so.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import PyflareServer, ServerError, pyflare_bin  # noqa: E402

# servers whose logs belong in a failing test's report: (owner nodeid or "session", server)
_SERVERS: list[tuple[str, PyflareServer]] = []


@pytest.fixture(scope="session")
def pyflare_binary() -> Path:
    path = pyflare_bin()
    if not path.is_file():
        pytest.fail(
            f"pyflare binary not found at {path}. Build it first (`swift build` or `make e2e`), "
            "or set PYFLARE_BIN to its path.",
            pytrace=False,
        )
    return path


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:80]


def launch(binary: Path, workdir: Path, config: dict | None, name: str, owner: str,
           extra_args: list[str] | None = None, http_kwargs: dict | None = None, env: dict | None = None) -> PyflareServer:
    srv = PyflareServer(binary, workdir, config, name=name, extra_args=extra_args, http_kwargs=http_kwargs, env=env)
    _SERVERS.append((owner, srv))
    try:
        srv.start()
    except ServerError as e:
        pytest.fail(str(e), pytrace=False)
    return srv


@pytest.fixture(scope="session")
def server(pyflare_binary, tmp_path_factory) -> PyflareServer:
    """The shared server: default config, file sink."""
    srv = launch(pyflare_binary, tmp_path_factory.mktemp("shared-server"), None, "shared", "session")
    yield srv
    if srv.running:
        srv.stop_ok()


@pytest.fixture
def start_server(pyflare_binary, tmp_path, request):
    """Factory for servers with their own config, owned by the current test."""
    started: list[PyflareServer] = []

    def _start(config: dict | None = None, name: str = "server", extra_args: list[str] | None = None,
               http_kwargs: dict | None = None, env: dict | None = None) -> PyflareServer:
        srv = launch(pyflare_binary, tmp_path / _safe(name), config, name, request.node.nodeid, extra_args, http_kwargs, env)
        started.append(srv)
        return srv

    yield _start
    problems = []
    for srv in started:
        if srv.running:
            try:
                srv.stop_ok()
            except ServerError as e:
                problems.append(str(e))
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture(scope="module")
def module_server_factory(pyflare_binary, tmp_path_factory, request):
    """Like start_server, for a server shared by the tests of one module."""
    started: list[PyflareServer] = []

    def _start(config: dict | None = None, name: str = "module-server", extra_args: list[str] | None = None,
               http_kwargs: dict | None = None) -> PyflareServer:
        owner = f"module:{request.module.__name__}"
        srv = launch(pyflare_binary, tmp_path_factory.mktemp(_safe(name)), config, name, owner, extra_args, http_kwargs)
        started.append(srv)
        return srv

    yield _start
    for srv in started:
        if srv.running:
            srv.stop_ok()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        module_owner = f"module:{item.module.__name__}" if item.module else None
        for owner, srv in _SERVERS:
            mine = owner in (item.nodeid, module_owner) or (owner == "session" and "server" in item.fixturenames)
            if mine and srv.proc is not None:
                report.sections.append((f"{srv.name} server logs ({report.when})", srv.logs()))
    return report
