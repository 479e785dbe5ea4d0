"""Access control (issue 23), the whole matrix: every route that GET /api/v1/routes lists, called
with no key, an unknown key, the ingest, read and admin keys of project team-a, keys of project
team-b (its admin key naming team-a, and its read key in its own project) and a global admin
key. What each may do comes from the route's scope in the table below (written from the spec,
not from the server): a route missing from the table, or a table route the server does not
serve, fails the test by name; so does a route whose listed `scope` differs from the table.

unauthorized (no key, unknown key) -> 401 + `WWW-Authenticate: Bearer` + code `unauthenticated`;
insufficient (wrong scope or project) -> 403 + code `forbidden`; allowed -> anything but 401/403
(placeholders are plausible values, so 400/404 are fine). The OTLP/HTTP paths and the gRPC
services get the same treatment with scope `ingest`.

Every request comes from its own loopback source address (127.6.x.y), so the unknown-key
requests never trip the brute-force throttle of the others.
"""

from __future__ import annotations

import re

import grpc
import pytest

from access_helpers import (
    LOGS_EXPORT,
    METRICS_EXPORT,
    PERMISSION_DENIED,
    TRACE_EXPORT,
    UNAUTHENTICATED,
    AddressPool,
    Client,
    auth_config,
    error_code,
    fake_key,
    grpc_channel,
    grpc_export,
    grpc_metadata,
    otlp_status,
    wait_bootstrap_key,
)
from harness import PROTOBUF

A, B = "team-a", "team-b"

# (method, path) -> scope, from /work/spec/access-spec.md: reads are `read` (every GET, SQL,
# /metrics, /api/v1/routes), OTLP-like writes `ingest`, other changes `admin`, keys and
# projects `global_admin`; /health and /ready are public.
EXPECTED: dict[tuple[str, str], str] = {
    ("GET", "/health"): "public",
    ("GET", "/ready"): "public",
    ("GET", "/metrics"): "read",
    ("GET", "/api/v1/routes"): "read",
    ("GET", "/api/v1/keys"): "global_admin",
    ("POST", "/api/v1/keys"): "global_admin",
    ("DELETE", "/api/v1/keys/{id}"): "global_admin",
    ("GET", "/api/v1/projects"): "global_admin",
    ("POST", "/api/v1/projects"): "global_admin",
    ("DELETE", "/api/v1/projects/{name}"): "global_admin",
    ("GET", "/api/v1/jobs"): "read",
    ("GET", "/api/v1/jobs/{name}/runs"): "read",
    ("POST", "/api/v1/jobs/{name}/run"): "admin",
    ("GET", "/api/v1/retention"): "read",
    ("PUT", "/api/v1/retention"): "admin",
    ("DELETE", "/api/v1/retention"): "admin",
    ("POST", "/api/v1/retention/compact"): "admin",
    ("GET", "/api/v1/retention/runs"): "read",
    ("GET", "/api/v1/costs/summary"): "read",
    ("GET", "/api/v1/costs/budgets"): "read",
    ("POST", "/api/v1/costs/budgets"): "admin",
    ("GET", "/api/v1/costs/budgets/{id}"): "read",
    ("PUT", "/api/v1/costs/budgets/{id}"): "admin",
    ("DELETE", "/api/v1/costs/budgets/{id}"): "admin",
    ("GET", "/api/v1/costs/budgets/{id}/alerts"): "read",
    ("GET", "/api/v1/alerts/rules"): "read",
    ("POST", "/api/v1/alerts/rules"): "admin",
    ("GET", "/api/v1/alerts/rules/{id}"): "read",
    ("PUT", "/api/v1/alerts/rules/{id}"): "admin",
    ("DELETE", "/api/v1/alerts/rules/{id}"): "admin",
    ("POST", "/api/v1/alerts/rules/{id}/silence"): "admin",
    ("DELETE", "/api/v1/alerts/rules/{id}/silence"): "admin",
    ("GET", "/api/v1/alerts/events"): "read",
    ("GET", "/api/v1/overview"): "read",
    ("GET", "/api/v1/operations"): "read",
    ("GET", "/api/v1/rca/clusters"): "read",
    ("GET", "/api/v1/rca/clusters/{id}"): "read",
    ("GET", "/api/v1/rca/slices"): "read",
    ("GET", "/api/v1/rca/patterns"): "read",
    ("GET", "/api/v1/pricing"): "read",
    ("PUT", "/api/v1/pricing/{model}"): "admin",
    ("GET", "/api/v1/evaluations"): "read",
    ("GET", "/api/v1/evaluations/summary"): "read",
    ("POST", "/api/v1/evaluations"): "admin",
    ("POST", "/v1/span_annotations"): "ingest",
    ("GET", "/api/v1/drift/alerts"): "read",
    ("GET", "/api/v1/drift/heatmap"): "read",
    ("GET", "/api/v1/drift/references"): "read",
    ("PUT", "/api/v1/drift/references/{scope}"): "admin",
    ("DELETE", "/api/v1/drift/references/{scope}"): "admin",
    ("GET", "/api/v1/traces"): "read",
    ("GET", "/api/v1/traces/{trace_id}"): "read",
    ("GET", "/api/v1/sessions"): "read",
    ("GET", "/api/v1/sessions/{session_id}"): "read",
    ("GET", "/api/v1/users"): "read",
    ("GET", "/api/v1/users/{user_id}"): "read",
    ("GET", "/api/v1/logs"): "read",
    ("GET", "/api/v1/traces/{trace_id}/logs"): "read",
    ("GET", "/api/v1/metrics"): "read",
    ("GET", "/api/v1/metrics/{name}/series"): "read",
    ("POST", "/api/v1/sql"): "read",
    ("POST", "/api/v1/telemetry/metrics"): "ingest",
    ("GET", "/api/v1/telemetry/metrics"): "read",
    ("POST", "/api/v1/telemetry/traces/spans"): "ingest",
    ("POST", "/api/v1/telemetry/traces/spans/{span_id}/tags"): "ingest",
    ("POST", "/api/v1/telemetry/traces/spans/{span_id}/logs"): "ingest",
    ("POST", "/api/v1/telemetry/traces/spans/{span_id}/finish"): "ingest",
    ("GET", "/api/v1/telemetry/traces"): "read",
}

# not in the route list (static files), public all the same
UI_ROUTES = [("GET", "/"), ("GET", "/ui/app.js"), ("GET", "/ui/style.css")]

CALLERS = ["no key", "unknown key", "ingest a", "read a", "admin a", "admin b naming a", "read b", "global admin"]
UNAUTHORIZED = {"no key", "unknown key"}
ALLOWED = {
    "public": set(CALLERS),
    "read": {"read a", "admin a", "read b", "global admin"},
    "ingest": {"ingest a", "admin a", "global admin"},
    "admin": {"admin a", "global admin"},
    "global_admin": {"global admin"},
}
# a key of project b in its own project: allowed by scope as a read key (it reads b)
READ_B_ALLOWED = {"public", "read"}

PARAM = re.compile(r"\{([a-z_]+)\}")
# the routes that destroy something go last (and get a throwaway object)
LAST = [("DELETE", "/api/v1/keys/{id}"), ("DELETE", "/api/v1/projects/{name}")]


@pytest.fixture(scope="module")
def matrix(module_server_factory):
    srv = module_server_factory(auth_config({"scheduler": {"enabled": False}}), name="matrix")
    glob = Client(srv, wait_bootstrap_key(srv))
    for p in (A, B):
        glob.create_project(p)
    keys = {
        "ingest a": glob.create_key("ingest", A)["key"],
        "read a": glob.create_key("read", A)["key"],
        "admin a": glob.create_key("admin", A)["key"],
        "admin b naming a": glob.create_key("admin", B)["key"],
        "read b": glob.create_key("read", B)["key"],
        "global admin": glob.key,
    }
    throwaway_key = glob.create_key("read", A, "throwaway")
    glob.create_project("throwaway")
    values = {
        "trace_id": "5b8efff798038103d269b633813fc60c", "span_id": "eee19b7ec3c1b174", "model": "e2e-model",
        "scope": "e2e-model", "id": "1", "session_id": "e2e-session", "user_id": "e2e-user",
    }
    specific = {
        ("DELETE", "/api/v1/keys/{id}"): {"id": throwaway_key["id"]},
        ("DELETE", "/api/v1/projects/{name}"): {"name": "throwaway"},
        ("GET", "/api/v1/jobs/{name}/runs"): {"name": "rollup_1m"},
        ("POST", "/api/v1/jobs/{name}/run"): {"name": "rollup_1m"},
        ("GET", "/api/v1/metrics/{name}/series"): {"name": "e2e.matrix.metric"},
    }
    return srv, glob, keys, values, specific, throwaway_key["key"]


def request_as(srv, pool: AddressPool, keys: dict, caller: str, method: str, path: str):
    key, project = None, None
    if caller == "unknown key":
        key = fake_key()
    elif caller == "admin b naming a":
        key, project = keys[caller], A
    elif caller != "no key":
        key = keys[caller]
    client = Client(srv, key, project=project, session=pool.session())
    kwargs = {"json": {}} if method in ("POST", "PUT") else {}
    return client.request(method, path, **kwargs)


def check(caller: str, scope: str, r, problems: list, where: str) -> None:
    allowed = caller in ALLOWED[scope] if caller != "read b" else scope in READ_B_ALLOWED
    got = f"{r.status_code} {r.text[:160]!r}"
    if allowed:
        if r.status_code in (401, 403):
            problems.append(f"{where}: {caller} must be allowed ({scope}), got {got}")
        elif r.status_code >= 500:
            problems.append(f"{where}: {caller}: server error {got}")
    elif caller in UNAUTHORIZED:
        if r.status_code != 401:
            problems.append(f"{where}: {caller} must get 401 ({scope}), got {got}")
        elif not r.headers.get("WWW-Authenticate", "").lower().startswith("bearer"):
            problems.append(f"{where}: {caller}: 401 without WWW-Authenticate: Bearer")
        elif error_code(r) != "unauthenticated" and r.request.method != "HEAD":
            problems.append(f"{where}: {caller}: 401 body code {error_code(r)!r}, expected 'unauthenticated'")
    else:
        if r.status_code != 403:
            problems.append(f"{where}: {caller} must get 403 ({scope}), got {got}")
        elif error_code(r) != "forbidden" and r.request.method != "HEAD":
            problems.append(f"{where}: {caller}: 403 body code {error_code(r)!r}, expected 'forbidden'")


def test_every_listed_route_answers_each_key_as_its_scope_says(matrix):
    srv, glob, keys, values, specific, throwaway = matrix
    listed = glob.ok("GET", "/api/v1/routes")["routes"]
    routes = [(r["method"], r["path"]) for r in listed]
    assert len(routes) == len(set(routes)), "GET /api/v1/routes lists a route twice"
    missing_from_table = sorted(set(routes) - set(EXPECTED))
    assert not missing_from_table, (
        f"routes served but missing from EXPECTED in {__file__} (add each with its scope): {missing_from_table}")
    not_served = sorted(set(EXPECTED) - set(routes))
    assert not not_served, f"routes of the spec's table that GET /api/v1/routes does not list: {not_served}"
    scope_mismatch = [(r["method"], r["path"], r.get("scope"), EXPECTED[(r["method"], r["path"])])
                      for r in listed if r.get("scope") != EXPECTED[(r["method"], r["path"])]]
    assert not scope_mismatch, f"(method, path, server scope, table scope): {scope_mismatch}"

    pool = AddressPool(6)
    problems: list[str] = []
    ordered = [r for r in routes if r not in LAST] + [r for r in LAST if r in routes]
    for method, template in ordered + UI_ROUTES:
        scope = EXPECTED.get((method, template), "public")
        vals = dict(values, **specific.get((method, template), {}))
        path = PARAM.sub(lambda m: vals[m.group(1)], template)
        for caller in CALLERS:
            r = request_as(srv, pool, keys, caller, method, path)
            check(caller, scope, r, problems, f"{method} {path}")
    # HEAD is a read too
    for path in ("/api/v1/traces", "/metrics"):
        for caller in CALLERS:
            check(caller, "read", request_as(srv, pool, keys, caller, "HEAD", path), problems, f"HEAD {path}")
    assert not problems, f"{len(problems)} wrong answer(s):\n  " + "\n  ".join(problems[:80])
    # the global admin's DELETE really revoked the throwaway key; the matrix's own keys still work
    assert Client(srv, throwaway, session=pool.session()).get("/api/v1/routes").status_code == 401
    for caller, key in keys.items():
        if caller != "ingest a":
            assert Client(srv, key, session=pool.session()).get("/api/v1/routes").status_code == 200, caller


def test_otlp_http_and_grpc_answer_each_key_as_ingest(matrix):
    srv, glob, keys, _, _, _ = matrix
    pool = AddressPool(7)
    problems: list[str] = []
    for path in ("/v1/traces", "/v1/logs", "/v1/metrics"):
        for caller in CALLERS:
            key, project = None, None
            if caller == "unknown key":
                key = fake_key()
            elif caller != "no key":
                key = keys[caller]
                project = A if caller == "admin b naming a" else None
            h = {"Content-Type": PROTOBUF}
            if key:
                h["Authorization"] = f"Bearer {key}"
            if project:
                h["X-PyFlare-Project"] = project
            r = pool.session().post(f"{srv.otlp_base}{path}", data=b"", headers=h, timeout=15)
            allowed = caller in ALLOWED["ingest"]
            where = f"POST {path} (OTLP/HTTP) {caller}"
            if allowed:
                if r.status_code != 200:
                    problems.append(f"{where}: expected 200, got {r.status_code} {r.content[:120]!r}")
                continue
            want, code = (401, UNAUTHENTICATED) if caller in UNAUTHORIZED else (403, PERMISSION_DENIED)
            if r.status_code != want:
                problems.append(f"{where}: expected {want}, got {r.status_code}")
                continue
            try:
                st = otlp_status(r, "protobuf")
            except AssertionError as e:
                problems.append(f"{where}: {e}")
                continue
            if st.code != code:
                problems.append(f"{where}: google.rpc.Status code {st.code}, expected {code}")
    # gRPC from 127.0.0.1 (no source address choice): 6 failed attempts, under the burst of 10
    with grpc_channel(srv) as ch:
        for method in (TRACE_EXPORT, LOGS_EXPORT, METRICS_EXPORT):
            for caller in CALLERS:
                if caller == "no key":
                    md = []
                elif caller == "unknown key":
                    md = grpc_metadata(fake_key(), "x-api-key")
                else:
                    md = grpc_metadata(keys[caller], project=A if caller == "admin b naming a" else None)
                code, details = grpc_export(ch, method, b"", md)
                if caller in ALLOWED["ingest"]:
                    want = grpc.StatusCode.OK
                elif caller in UNAUTHORIZED:
                    want = grpc.StatusCode.UNAUTHENTICATED
                else:
                    want = grpc.StatusCode.PERMISSION_DENIED
                if code != want:
                    problems.append(f"gRPC {method.rsplit('/', 2)[-2]} {caller}: expected {want.name}, got {code.name} {details!r}")
    assert not problems, f"{len(problems)} wrong answer(s):\n  " + "\n  ".join(problems)
