"""Access control (issue 23), the keys: the bootstrap admin key printed once, keys made through
the REST API and the `pyflare keys` CLI, only their SHA-256 on disk and never a key in a log,
revocation (the next request through the API, within seconds through the CLI), 401 for a
missing or unknown key and 403 for the wrong scope (REST, OTLP/HTTP protobuf and JSON with their
google.rpc.Status, gRPC) with nothing written, the brute-force throttle per client address, and
the modes: `auth.enabled: false` with a public listener refused unless `--insecure`, `auto`
turning auth on for a public listener and leaving a loopback-only server open.

Contract: /work/spec/access-spec.md. Failing requests are sent from fresh loopback source
addresses (127.1.x.y) wherever a test is not about the throttle, so that ten failures of one
test never turn the next answer into a 429.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import grpc
import pytest
import requests

from access_helpers import (
    KEY_LINE_RE,
    KEY_RE,
    PERMISSION_DENIED,
    TRACE_EXPORT,
    UNAUTHENTICATED,
    AddressPool,
    Client,
    assert_forbidden,
    assert_unauthenticated,
    auth_config,
    cli,
    cli_create_key,
    cli_ok,
    emit_spans,
    error_code,
    fake_key,
    poll_until,
    files_containing,
    grpc_channel,
    grpc_export,
    grpc_metadata,
    grpc_span_exporter,
    http_span_exporter,
    key_parts,
    otlp_status,
    post_spans,
    secret_needles,
    session_from,
    sha256_forms,
    spans_request,
    sqlite_values,
    wait_bootstrap_key,
)
from harness import DEFAULT_CONFIG, JSON, PROTOBUF, STORE_CONFIG, free_ports, merge_config, to_yaml
from store_helpers import wait_until

AUTH = auth_config()
KEY_FIELDS = {"id", "prefix", "name", "scope", "project", "created_at", "last_used_at"}
CREATED_FIELDS = {"key", "id", "prefix", "name", "scope", "project", "created_at"}


def no_key_line_appears(srv, mark: int, settle_s: float = 1.0) -> None:
    """After a start: no key line on stdout (watched a little while, the print could lag)."""
    deadline = time.monotonic() + settle_s
    while time.monotonic() < deadline:
        found = KEY_LINE_RE.findall(srv.stdout_since(mark))
        assert not found, f"a key was printed on this start: {[k[:12] for k in found]}"
        time.sleep(0.1)


POLL = AddressPool(3)  # polls that may fail a few times: each try from its own address


def works(client: Client, path: str = "/api/v1/traces") -> bool:
    """One request with the client's key from a fresh source address: 200?"""
    return Client(client.srv, client.key, client.project, client.style, POLL.session()).get(path).status_code == 200


# --------------------------------------------------------------------------
# bootstrap
# --------------------------------------------------------------------------


def test_bootstrap_admin_key_is_printed_once_on_the_first_start(start_server):
    srv = start_server(AUTH, name="bootstrap")
    key = wait_bootstrap_key(srv)
    parts = key_parts(key)
    out = srv.stdout_text()
    assert out.count(key) == 1, "the bootstrap key must be printed exactly once"
    assert key not in srv.stderr_text(), "the bootstrap key must not be logged to stderr"
    rest = out.replace(key, "")
    assert re.search(r"keys", rest, re.I), f"no sentence saying how to make more keys next to the key:\n{rest[-1500:]}"

    admin = Client(srv, key)
    listed = admin.ok("GET", "/api/v1/keys")["keys"]
    assert len(listed) == 1, listed
    entry = listed[0]
    assert KEY_FIELDS <= set(entry), entry
    assert (entry["id"], entry["prefix"], entry["scope"], entry["project"]) == (parts["id"], parts["prefix"], "admin", None), entry
    assert parts["secret"] not in json.dumps(listed) and not (sha256_forms(key) & set(map(str, entry.values())))
    projects = admin.ok("GET", "/api/v1/projects")["projects"]
    assert "default" in [p["name"] for p in projects], projects
    assert_unauthenticated(Client(srv).get("/api/v1/traces"), "GET /api/v1/traces without a key")

    # the second start prints nothing and the key still works
    mark = srv.stdout_mark()
    srv.restart()
    assert works(admin), "the bootstrap key stopped working after a restart"
    no_key_line_appears(srv, mark)
    assert len(admin.ok("GET", "/api/v1/keys")["keys"]) == 1, "the second start made another key"
    assert srv.stdout_text().count(key) == 1 and key not in srv.stderr_text()


def test_no_bootstrap_key_when_the_cli_made_one_before_the_first_start(start_server, pyflare_binary, tmp_path):
    data_dir = tmp_path / "precreated" / "data"  # where start_server(name="precreated") puts its data
    data_dir.mkdir(parents=True)
    key = cli_create_key(pyflare_binary, data_dir, "admin", name="ops")
    assert (data_dir / "access.db").is_file(), "the CLI must create access.db"
    srv = start_server(AUTH, name="precreated")
    assert srv.data_dir == data_dir
    no_key_line_appears(srv, 0)
    admin = Client(srv, key)
    listed = admin.ok("GET", "/api/v1/keys")["keys"]
    assert [(k["id"], k["name"], k["scope"], k["project"]) for k in listed] == [(key[4:12], "ops", "admin", None)], listed


# --------------------------------------------------------------------------
# keys through REST and CLI: hashes only, never logged
# --------------------------------------------------------------------------


def test_keys_made_through_rest_and_cli_are_stored_hashed_and_never_logged(start_server, pyflare_binary):
    srv = start_server(auth_config({"segments": {"max_age_ms": 200}}), name="hashed", extra_args=["--log-level", "debug"])
    pool = AddressPool(1)
    boot = wait_bootstrap_key(srv)
    admin = Client(srv, boot)
    admin.create_project("p1")

    made = {}
    for scope, project in [("ingest", "p1"), ("read", "p1"), ("admin", "p1"), ("admin", None), ("read", "default")]:
        name = f"rest-{scope}-{project or 'all'}"
        body = admin.create_key(scope, project, name)
        assert CREATED_FIELDS <= set(body), body
        parts = key_parts(body["key"])
        assert (body["id"], body["prefix"], body["name"], body["scope"], body["project"]) == (
            parts["id"], parts["prefix"], name, scope, project), body
        assert isinstance(body["created_at"], str) and body["created_at"]
        made[name] = body["key"]
    assert len(set(made.values())) == len(made) and len({k[4:12] for k in made.values()}) == len(made)

    # the CLI while the server runs: the new keys answer within a few seconds
    for scope, project in [("ingest", "p1"), ("read", "p1"), ("admin", None)]:
        name = f"cli-{scope}-{project or 'all'}"
        made[name] = cli_create_key(pyflare_binary, srv.data_dir, scope, project, name)
    wait_until(lambda: works(Client(srv, made["cli-read-p1"])), timeout=5, what="the CLI read key to be accepted")
    wait_until(lambda: works(Client(srv, made["cli-admin-all"]), "/api/v1/keys"), timeout=5,
               what="the CLI admin key to be accepted")

    # use them all: ingest (HTTP protobuf + gRPC + JSON), read, a key whose id is right and secret wrong
    sent = 0
    for name, style in [("rest-ingest-p1", "bearer"), ("cli-ingest-p1", "x-api-key")]:
        ex = http_span_exporter(srv, made[name], style)
        emit_spans(ex, "hashed", 1, 2)
        gx = grpc_span_exporter(srv, made[name], style)
        emit_spans(gx, "hashed", 1, 2)
        assert ex.all_ok() and gx.all_ok(), (name, ex.results, gx.results)
        r = post_spans(srv, spans_request(3, "hashed"), made[name], "json", style)
        assert r.status_code == 200, r.text
        sent += 7
    reader = Client(srv, made["rest-read-p1"])
    wait_until(lambda: reader.count() == sent, timeout=10, what=f"{sent} spans in p1")
    assert Client(srv, made["cli-read-p1"], style="x-api-key").count() == sent
    assert Client(srv, made["rest-read-default"]).count() == 0

    fakes = []
    for name, k in made.items():
        near = k[:12] + fake_key()[12:]  # a real id with a wrong secret
        fakes.append(near)
        r = Client(srv, near, session=pool.session()).get("/api/v1/traces")
        assert_unauthenticated(r, f"the id of {name} with a wrong secret")
        assert near not in r.text and near[12:] not in r.text and k[12:] not in r.text, r.text

    # the listings show neither secret nor hash; last_used_at follows use
    listed = admin.ok("GET", "/api/v1/keys")["keys"]
    by_id = {k["id"]: k for k in listed}
    for name, k in made.items():
        assert k[4:12] in by_id, f"{name} missing from GET /api/v1/keys"
        assert KEY_FIELDS <= set(by_id[k[4:12]]), by_id[k[4:12]]
        assert not ({"key", "secret", "hash", "key_hash"} & set(by_id[k[4:12]])), by_id[k[4:12]]
    text = json.dumps(listed)
    for k in list(made.values()) + [boot]:
        assert key_parts(k)["secret"] not in text and not any(h in text for h in sha256_forms(k)), \
            "GET /api/v1/keys shows a secret or a hash"
    unused = admin.create_key("read", "p1", "never-used")
    wait_until(lambda: {k["id"]: k for k in admin.ok("GET", "/api/v1/keys")["keys"]}[made["rest-read-p1"][4:12]]["last_used_at"],
               timeout=5, what="last_used_at of a used key")
    after = {k["id"]: k for k in admin.ok("GET", "/api/v1/keys")["keys"]}
    assert after[unused["id"]]["last_used_at"] is None, after[unused["id"]]
    made["never-used"] = unused["key"]

    p = cli_ok(pyflare_binary, "keys", "list", "--json", "--data-dir", srv.data_dir)
    array = json.loads(p.stdout)
    assert isinstance(array, list) and {e["id"] for e in array} >= {k[4:12] for k in made.values()} | {boot[4:12]}, p.stdout
    table = cli_ok(pyflare_binary, "keys", "list", "--data-dir", srv.data_dir).stdout
    for k in list(made.values()) + [boot]:
        parts = key_parts(k)
        assert parts["prefix"] in table or parts["id"] in table, f"{parts['prefix']} missing from `pyflare keys list`"
        for shown in (p.stdout, table):
            assert parts["secret"] not in shown and not any(h in shown for h in sha256_forms(k)), \
                "`pyflare keys list` shows a secret or a hash"

    metrics = srv.metrics(headers={"Authorization": f"Bearer {made['rest-read-p1']}"}).text
    rows = json.dumps(admin.with_project("p1").rows("SELECT * FROM spans"))
    for k in list(made.values()) + [boot] + fakes:
        assert key_parts(k)["secret"] not in metrics, "a key in /metrics"
        assert key_parts(k)["secret"] not in rows, "a key in the stored spans"

    srv.stop_ok()  # everything flushed
    everything = list(made.values()) + [boot] + fakes
    hits = files_containing(srv.data_dir, secret_needles(everything))
    assert not hits, f"key material on disk: {hits}"
    access_db = srv.data_dir / "access.db"
    assert access_db.is_file(), sorted(p.name for p in srv.data_dir.iterdir())
    cells = {str(v) for _, _, v in sqlite_values(access_db) if v is not None}
    for name, k in list(made.items()) + [("bootstrap", boot)]:
        assert sha256_forms(k) & cells, f"no SHA-256 hex of {name} ({k[:12]}…) in access.db"
    # logs: the bootstrap key once on stdout, nothing else anywhere
    out, err = srv.stdout_text(), srv.stderr_text()
    assert out.count(boot) == 1 and boot not in err
    for k in list(made.values()) + fakes:
        assert key_parts(k)["secret"] not in out + err, f"{k[:12]}… appears in the server's stdout/stderr"


# --------------------------------------------------------------------------
# revocation
# --------------------------------------------------------------------------


def test_revocation_through_the_api_applies_to_the_next_request_and_through_the_cli_within_seconds(start_server, pyflare_binary):
    srv = start_server(AUTH, name="revoke")
    admin = Client(srv, wait_bootstrap_key(srv))
    r1 = admin.create_key("read", "default", "r1")
    i1 = admin.create_key("ingest", "default", "i1")
    g1 = admin.create_key("ingest", "default", "g1")
    reader = Client(srv, r1["key"])
    assert works(reader)
    assert post_spans(srv, spans_request(1, "revoke"), i1["key"]).status_code == 200
    with grpc_channel(srv) as ch:
        assert grpc_export(ch, TRACE_EXPORT, b"", grpc_metadata(g1["key"]))[0] == grpc.StatusCode.OK

        for made in (r1, i1, g1):
            assert admin.ok("DELETE", f"/api/v1/keys/{made['id']}") == {"revoked": made["id"]}
        assert_unauthenticated(reader.get("/api/v1/traces"), "the request after DELETE /api/v1/keys/{id}")
        r = post_spans(srv, spans_request(1, "revoke"), i1["key"])
        assert r.status_code == 401 and otlp_status(r, "protobuf").code == UNAUTHENTICATED, (r.status_code, r.content)
        assert grpc_export(ch, TRACE_EXPORT, b"", grpc_metadata(g1["key"]))[0] == grpc.StatusCode.UNAUTHENTICATED
    assert admin.delete("/api/v1/keys/zzzzzzzz").status_code == 404
    assert admin.delete("/api/v1/keys/00000000").status_code == 404

    # the CLI, server running
    r2 = cli_create_key(pyflare_binary, srv.data_dir, "read", "default", "r2")
    i2 = cli_create_key(pyflare_binary, srv.data_dir, "ingest", "default", "i2")
    reader2 = Client(srv, r2)
    wait_until(lambda: works(reader2), timeout=5, what="the CLI key to be accepted")
    with grpc_channel(srv) as ch:
        poll_until(lambda: grpc_export(ch, TRACE_EXPORT, b"", grpc_metadata(i2))[0] == grpc.StatusCode.OK, timeout=5,
                   interval=0.5, what="the CLI ingest key to be accepted over gRPC")
        cli_ok(pyflare_binary, "keys", "revoke", r2[4:12], "--data-dir", srv.data_dir)
        cli_ok(pyflare_binary, "keys", "revoke", i2[4:12], "--data-dir", srv.data_dir)
        wait_until(lambda: reader2.get("/api/v1/traces").status_code == 401, timeout=5,
                   what="the key revoked through the CLI to be refused (REST)")
        poll_until(lambda: grpc_export(ch, TRACE_EXPORT, b"", grpc_metadata(i2))[0] == grpc.StatusCode.UNAUTHENTICATED,
                   timeout=5, what="the key revoked through the CLI to be refused (gRPC)")
    assert_unauthenticated(reader2.get("/api/v1/traces"), "a key revoked through the CLI")
    bad = cli(pyflare_binary, "keys", "revoke", "qqqqqqqq", "--data-dir", srv.data_dir)
    assert bad.returncode != 0, f"revoking an unknown id must fail: {bad.stdout} {bad.stderr}"
    assert works(admin, "/api/v1/keys")  # the other keys are untouched
    assert srv.stdout_text().count(r2) == 0 and r2[12:] not in srv.stderr_text()


# --------------------------------------------------------------------------
# 401 / 403 everywhere, nothing written
# --------------------------------------------------------------------------


def test_missing_unknown_and_insufficient_keys_are_refused_without_writing(start_server):
    srv = start_server(AUTH, name="refusals")
    pool = AddressPool(2)
    admin = Client(srv, wait_bootstrap_key(srv))
    admin.create_project("p1")
    ingest = admin.create_key("ingest", "p1")["key"]
    read = admin.create_key("read", "p1")["key"]
    p1 = admin.with_project("p1")

    def fresh(key=None, style="bearer"):
        return Client(srv, key, style=style, session=pool.session())

    # REST
    assert_unauthenticated(fresh().get("/api/v1/traces"), "no key")
    wrong = fake_key()
    r = fresh(wrong).get("/api/v1/traces")
    assert_unauthenticated(r, "an unknown key")
    assert wrong not in r.text and wrong[12:] not in r.text
    assert_unauthenticated(fresh(wrong, "x-api-key").get("/api/v1/traces"), "an unknown x-api-key")
    for raw in ("Bearer", "Bearer ", "Basic dXNlcjpwYXNz", f"Bearer {wrong[:20]}", f"Token {read}", f"Bearer {read}x"):
        r = pool.session().get(f"{srv.api_base}/api/v1/traces", headers={"Authorization": raw}, timeout=10)
        assert_unauthenticated(r, f"Authorization: {raw[:30]!r}")
    assert_forbidden(fresh(ingest).get("/api/v1/traces"), "an ingest key reading")
    assert_forbidden(fresh(ingest).post("/api/v1/sql", json={"sql": "SELECT 1"}), "an ingest key running SQL")
    assert_forbidden(fresh(read).post("/api/v1/telemetry/metrics", json={"name": "x", "value": 1, "type": "counter"}),
                     "a read key writing a telemetry metric")
    assert_forbidden(fresh(read).post("/api/v1/jobs/rollup_1m/run", json={}), "a read key running a job")
    assert_forbidden(fresh(read).get("/api/v1/keys"), "a read key listing keys")
    assert fresh(read).get("/api/v1/traces").status_code == 200
    assert fresh(read, "x-api-key").get("/api/v1/traces").status_code == 200

    # OTLP/HTTP: google.rpc.Status 16 / 7 in the request's encoding, for every signal
    for encoding in ("protobuf", "json"):
        ctype = PROTOBUF if encoding == "protobuf" else JSON
        for key, status, code in [(None, 401, UNAUTHENTICATED), (fake_key(), 401, UNAUTHENTICATED), (read, 403, PERMISSION_DENIED)]:
            what = f"OTLP/HTTP {encoding} traces with key {key and key[:12]}"
            r = post_spans(srv, spans_request(4, "refused"), key, encoding, session=pool.session())
            assert r.status_code == status, f"{what}: {r.status_code} {r.content[:300]!r}"
            assert r.headers.get("Content-Type", "").startswith(ctype), f"{what}: Content-Type {r.headers.get('Content-Type')}"
            st = otlp_status(r, encoding)
            assert st.code == code, f"{what}: google.rpc.Status code {st.code} ({st.message!r}), expected {code}"
            if key:
                assert key[12:] not in st.message
            if status == 401:
                assert r.headers.get("WWW-Authenticate", "").lower().startswith("bearer"), what
            for path in ("/v1/logs", "/v1/metrics"):
                body = b"" if encoding == "protobuf" else b"{}"
                h = {"Content-Type": ctype}
                if key:
                    h["Authorization"] = f"Bearer {key}"
                r = pool.session().post(f"{srv.otlp_base}{path}", data=body, headers=h, timeout=10)
                assert r.status_code == status, f"{path} {encoding} key {key and key[:12]}: {r.status_code} {r.content[:200]!r}"
                assert otlp_status(r, encoding).code == code, (path, encoding, r.content[:200])

    # gRPC
    request = spans_request(5, "refused-grpc").SerializeToString()
    with grpc_channel(srv) as ch:
        assert grpc_export(ch, TRACE_EXPORT, request, [])[0] == grpc.StatusCode.UNAUTHENTICATED
        assert grpc_export(ch, TRACE_EXPORT, request, grpc_metadata(fake_key(), "x-api-key"))[0] == grpc.StatusCode.UNAUTHENTICATED
        assert grpc_export(ch, TRACE_EXPORT, request, grpc_metadata(read))[0] == grpc.StatusCode.PERMISSION_DENIED
    ex = grpc_span_exporter(srv, read)
    emit_spans(ex, "refused-sdk", 1, 2)
    hx = http_span_exporter(srv, None)
    emit_spans(hx, "refused-sdk", 1, 2)
    assert ex.results and not any(r.name == "SUCCESS" for r in ex.results + hx.results), (ex.results, hx.results)

    # nothing of it was written, anywhere; then the right key writes exactly what it sends
    assert p1.count() == 0 and admin.count() == 0, "a refused request wrote spans"
    assert p1.count("logs") == 0 and p1.count("metric_points") == 0 and admin.count("metric_points") == 0
    assert post_spans(srv, spans_request(3, "allowed"), ingest).status_code == 200
    assert post_spans(srv, spans_request(2, "allowed"), ingest, "json", "x-api-key").status_code == 200
    with grpc_channel(srv) as ch:
        assert grpc_export(ch, TRACE_EXPORT, spans_request(4, "allowed").SerializeToString(), grpc_metadata(ingest))[0] == \
            grpc.StatusCode.OK
    wait_until(lambda: p1.count() == 9, timeout=10, what="the 9 allowed spans")
    assert Client(srv, read).count() == 9 and admin.count() == 0


def test_keys_api_validation(start_server):
    srv = start_server(AUTH, name="keys-api")
    admin = Client(srv, wait_bootstrap_key(srv))
    admin.create_project("p1")
    for body in ({"scope": "ingest"}, {"scope": "read", "project": None}, {"scope": "root", "project": "p1"},
                 {"project": "p1"}, {"scope": "read", "project": "p1", "name": 7}, {"scope": 1}):
        r = admin.post("/api/v1/keys", json=body)
        assert r.status_code == 400, (body, r.status_code, r.text)
    r = admin.post("/api/v1/keys", json={"scope": "read", "project": "nope"})
    assert r.status_code in (400, 404) and r.status_code != 201, r.text
    all_projects = admin.create_key("admin", None, "second-global")
    assert all_projects["project"] is None
    assert Client(srv, all_projects["key"]).get("/api/v1/keys").status_code == 200
    project_admin = admin.create_key("admin", "p1", "p1-admin")["key"]
    assert_forbidden(Client(srv, project_admin).post("/api/v1/keys", json={"scope": "read", "project": "p1"}),
                     "a project admin making keys")
    assert_forbidden(Client(srv, project_admin).get("/api/v1/projects"), "a project admin listing projects")
    assert admin.delete("/api/v1/keys/abcdefgh").status_code == 404


# --------------------------------------------------------------------------
# brute force
# --------------------------------------------------------------------------


def test_failed_attempts_are_throttled_per_client_address(start_server):
    srv = start_server(AUTH, name="throttle")
    admin = Client(srv, wait_bootstrap_key(srv))
    good = admin.create_key("read", "default", "good")["key"]
    url = f"{srv.api_base}/api/v1/traces"
    fakes = []

    def bad_attempt(session=requests):
        k = fake_key()
        fakes.append(k)
        return session.get(url, headers={"Authorization": f"Bearer {k}"}, timeout=10)

    statuses = []
    last = None
    for _ in range(60):
        last = bad_attempt()
        statuses.append(last.status_code)
        if last.status_code == 429:
            break
    assert statuses[:10] == [401] * 10, f"the first 10 failures must be checked (401): {statuses}"
    assert statuses[-1] == 429, f"no 429 after {len(statuses)} failed attempts from 127.0.0.1: {statuses}"
    assert set(statuses[:-1]) == {401}, statuses
    assert error_code(last) == "too_many_failures", last.text
    retry_after = last.headers.get("Retry-After")
    assert retry_after and retry_after.isdigit() and int(retry_after) >= 1, f"Retry-After {retry_after!r}"

    # throttled: even the right key is not checked from this address
    saw = None
    for _ in range(10):
        if bad_attempt().status_code != 429:
            continue
        r = requests.get(url, headers={"Authorization": f"Bearer {good}"}, timeout=10)
        if r.status_code == 429:
            saw = r
            break
    assert saw is not None, "a valid key from a throttled address was checked (never a 429)"
    assert error_code(saw) == "too_many_failures" and saw.headers.get("Retry-After"), saw.text

    # another address is not affected
    other = session_from("127.0.0.2")
    r = other.get(url, headers={"Authorization": f"Bearer {good}"}, timeout=10)
    assert r.status_code == 200, f"127.0.0.2 with a valid key while 127.0.0.1 is throttled: {r.status_code} {r.text[:300]}"
    assert bad_attempt(other).status_code == 401
    # and the throttled one recovers (one attempt a second)
    poll_until(lambda: requests.get(url, headers={"Authorization": f"Bearer {good}"}, timeout=10).status_code == 200,
               timeout=15, interval=0.5, what="127.0.0.1 to be let through again")
    err, out = srv.stderr_text(), srv.stdout_text()
    for k in fakes + [good]:
        assert k[12:] not in err and k[12:] not in out, "a key that was tried appears in the logs"


def test_failed_grpc_attempts_are_throttled_too(start_server):
    """Over gRPC a throttled call is UNAUTHENTICATED; it shows when the right key is refused."""
    srv = start_server(AUTH, name="throttle-grpc")
    admin = Client(srv, wait_bootstrap_key(srv))
    good = admin.create_key("ingest", "default", "good")["key"]
    with grpc_channel(srv) as ch:
        assert grpc_export(ch, TRACE_EXPORT, b"", grpc_metadata(good))[0] == grpc.StatusCode.OK
        for _ in range(12):
            assert grpc_export(ch, TRACE_EXPORT, b"", grpc_metadata(fake_key()))[0] == grpc.StatusCode.UNAUTHENTICATED
        refused = False
        for _ in range(10):
            grpc_export(ch, TRACE_EXPORT, b"", grpc_metadata(fake_key()))
            code, details = grpc_export(ch, TRACE_EXPORT, b"", grpc_metadata(good))
            if code == grpc.StatusCode.UNAUTHENTICATED:
                refused = True
                break
            assert code == grpc.StatusCode.OK, (code, details)
        assert refused, "after 20+ failed gRPC attempts from 127.0.0.1 the right key was still checked (never throttled)"
        # another address is not affected (REST from 127.0.0.2; the throttle is per address)
        r = Client(srv, admin.key, session=session_from("127.0.0.2")).get("/api/v1/keys")
        assert r.status_code == 200, r.text
        poll_until(lambda: grpc_export(ch, TRACE_EXPORT, b"", grpc_metadata(good))[0] == grpc.StatusCode.OK,
                   timeout=15, interval=0.5, what="gRPC from 127.0.0.1 to be let through again")


# --------------------------------------------------------------------------
# modes
# --------------------------------------------------------------------------


HOSTS = {
    "api": {"api": {"host": "0.0.0.0"}},
    "otlp_http": {"otlp": {"http": {"host": "0.0.0.0"}}},
    "otlp_grpc": {"otlp": {"grpc": {"host": "0.0.0.0"}}},
}


@pytest.mark.parametrize("listener", sorted(HOSTS))
def test_auth_off_with_a_public_listener_refuses_to_start(pyflare_binary, tmp_path, listener):
    config = merge_config(auth_config(enabled=False), HOSTS[listener])
    cfg = tmp_path / "pyflare.yaml"
    cfg.write_text(to_yaml(merge_config(DEFAULT_CONFIG, config)))
    http, grpc_port, api = free_ports(3)
    cmd = [str(pyflare_binary), "serve", "--data-dir", str(tmp_path / "data"), "--otlp-http-port", str(http),
           "--otlp-grpc-port", str(grpc_port), "--api-port", str(api), "--config", str(cfg)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        pytest.fail(f"the server started with auth.enabled: false and {listener} on 0.0.0.0 (no --insecure)\n{err[-2000:]}")
    assert proc.returncode == 2, f"exit code {proc.returncode}, expected 2\nstdout: {out}\nstderr: {err}"
    assert "--insecure" in err, f"stderr must name --insecure:\n{err}"
    assert not KEY_RE.search(out + err)


def test_insecure_flag_starts_an_open_public_server(start_server):
    config = merge_config(auth_config(enabled=False), HOSTS["api"])
    srv = start_server(config, name="insecure", extra_args=["--insecure"])
    assert Client(srv).get("/api/v1/traces").status_code == 200
    assert post_spans(srv, spans_request(2, "insecure"), None).status_code == 200
    wait_until(lambda: Client(srv).count() == 2, timeout=10, what="2 spans")
    no_key_line_appears(srv, 0)


@pytest.mark.parametrize("listener,auth", [("otlp_http", None), ("api", "auto")])
def test_auto_mode_turns_auth_on_for_a_public_listener(start_server, listener, auth):
    config = merge_config(STORE_CONFIG, HOSTS[listener])
    if auth is not None:
        config = merge_config(config, {"auth": {"enabled": auth}})
    srv = start_server(config, name=f"auto-{listener}")
    anonymous = Client(srv)
    assert_unauthenticated(anonymous.get("/api/v1/traces"), f"auto mode with {listener} on 0.0.0.0")
    r = post_spans(srv, spans_request(1, "auto"), None)
    assert r.status_code == 401 and otlp_status(r, "protobuf").code == UNAUTHENTICATED
    for public in ("/health", "/ready", "/"):
        assert anonymous.get(public).status_code == 200, public
    admin = Client(srv, wait_bootstrap_key(srv))
    assert admin.count() == 0


def _listening(port: int) -> list[str]:
    """Local addresses (hex, as in /proc/net/tcp{,6}) listening on `port`."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state = fields[1], fields[3]
            addr, hexport = local.rsplit(":", 1)
            if state == "0A" and int(hexport, 16) == port:
                found.append(addr)
    return found


def _loopback(hexaddr: str) -> bool:
    if len(hexaddr) == 8:  # IPv4, little-endian
        return bytes.fromhex(hexaddr)[::-1][0] == 127
    if hexaddr.upper().startswith("0000000000000000FFFF0000"):  # ::ffff:a.b.c.d
        return _loopback(hexaddr[24:])
    return hexaddr == "00000000000000000000000001000000"  # ::1


def test_auto_mode_on_loopback_is_open_and_the_receivers_bind_loopback(start_server):
    srv = start_server(STORE_CONFIG, name="auto-loopback")
    assert Client(srv).get("/api/v1/traces").status_code == 200
    assert Client(srv).get("/api/v1/projects").status_code == 200  # auth off: everything answers
    for port, what in [(srv.http_port, "OTLP/HTTP"), (srv.grpc_port, "OTLP/gRPC"), (srv.api_port, "API")]:
        addrs = _listening(port)
        assert addrs, f"nothing listens on the {what} port {port}"
        assert all(_loopback(a) for a in addrs), f"the {what} listener binds a non-loopback address by default: {addrs}"
    no_key_line_appears(srv, 0)
