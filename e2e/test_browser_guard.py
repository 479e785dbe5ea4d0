"""What a hostile web page can make a browser send to the API is refused, with auth off:
a foreign Host header (DNS rebinding), a cross-origin request that changes data, and a
body a page can send without a CORS preflight (text/plain, form-encoded)."""

from __future__ import annotations

import http.client

import requests

from harness import STORE_CONFIG


def _request(srv, method: str, path: str, headers: dict, body: bytes | None = None) -> tuple[int, dict]:
    # http.client, so the Host header is exactly the one given.
    connection = http.client.HTTPConnection("127.0.0.1", srv.api_port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        text = response.read()
        return response.status, (requests.models.complexjson.loads(text) if text else {})
    finally:
        connection.close()


def test_foreign_host_headers_are_misdirected_and_own_names_answer(start_server):
    srv = start_server(dict(STORE_CONFIG, api={"allowed_hosts": ["pyflare.internal.example"]}), name="browser-host")
    for host in ("attacker.example", "attacker.example:%d" % srv.api_port, "127.0.0.1.attacker.example"):
        status, body = _request(srv, "GET", "/api/v1/traces", {"Host": host})
        assert status == 421 and body["error"]["code"] == "misdirected", (host, status, body)
    for host in (f"127.0.0.1:{srv.api_port}", f"localhost:{srv.api_port}", "LOCALHOST", "pyflare.internal.example:443"):
        status, body = _request(srv, "GET", "/api/v1/traces", {"Host": host})
        assert status == 200, (host, status, body)


def test_cross_origin_and_preflight_free_mutations_are_refused(start_server):
    srv = start_server(STORE_CONFIG, name="browser-origin")
    host = {"Host": f"127.0.0.1:{srv.api_port}"}
    # What the issue reproduced: both answered 200 before.
    status, body = _request(srv, "POST", "/api/v1/retention/compact",
                            dict(host, Origin="http://evil.example", **{"Content-Type": "text/plain"}), b"{}")
    assert status == 403 and body["error"]["code"] == "cross_origin", (status, body)
    status, body = _request(srv, "POST", "/api/v1/jobs/rollup_1m/run",
                            dict(host, **{"Content-Type": "application/x-www-form-urlencoded"}), b"a=b")
    assert status == 415, (status, body)
    status, _ = _request(srv, "POST", "/api/v1/sql", dict(host, **{"Content-Type": "text/plain"}), b'{"sql": "SELECT 1"}')
    assert status == 415
    status, _ = _request(srv, "DELETE", "/api/v1/costs/budgets/1", dict(host, Origin="null"))
    assert status == 403
    # The same requests from the same origin, or from a client that is not a browser, go through.
    status, body = _request(srv, "POST", "/api/v1/jobs/rollup_1m/run", dict(host, Origin=f"http://127.0.0.1:{srv.api_port}"))
    assert status == 202, (status, body)
    status, body = _request(srv, "POST", "/api/v1/sql", dict(host, **{"Content-Type": "application/json; charset=utf-8"}),
                            b'{"sql": "SELECT 1"}')
    assert status == 200 and body["rows"] == [[1]], (status, body)
    # Reads from another origin are not refused (a browser does not let the page see them).
    status, _ = _request(srv, "GET", "/api/v1/traces", dict(host, Origin="http://evil.example"))
    assert status == 200
