"""Access control (issue 23), the projects: two projects fed with their own ingest keys through
the real OpenTelemetry exporters (OTLP/HTTP protobuf, OTLP/gRPC, an exporter configured only by
OTEL_EXPORTER_OTLP_* in a subprocess), OTLP/JSON posts, logs and metrics; then each project's
read key sees exactly its own data through SQL, the trace list, a trace by id, logs, metrics,
the cost summary and RCA, and a trace id of the other project is a 404; crafted SQL cannot reach
the other project; an ingest key cannot write into another project; a global admin key picks the
project with `X-PyFlare-Project` (and so does anyone with auth off); deleting a project needs
confirm=true, removes its directory and revokes its keys; the `pyflare projects` CLI.

Contract: /work/spec/access-spec.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field

import grpc
import pytest

from access_helpers import (
    LOGS_EXPORT,
    METRICS_EXPORT,
    PERMISSION_DENIED,
    TRACE_EXPORT,
    AddressPool,
    Client,
    assert_forbidden,
    assert_unauthenticated,
    auth_config,
    cli,
    cli_create_key,
    cli_ok,
    emit_counter,
    emit_logs,
    emit_spans,
    error_code,
    grpc_channel,
    grpc_export,
    grpc_log_exporter,
    grpc_metadata,
    grpc_metric_exporter,
    grpc_span_exporter,
    http_log_exporter,
    http_metric_exporter,
    http_span_exporter,
    otlp_status,
    poll_until,
    post_spans,
    spans_request,
    wait_bootstrap_key,
)
from harness import JSON, PROTOBUF, STORE_CONFIG, merge_config
from store_helpers import wait_until

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CONFIG = auth_config({"scheduler": {"enabled": False}, "segments": {"max_age_ms": 300}})
A, B = "team-a", "team-b"
COST_JOBS = ["rollup_1m", "rollup_1h", "rollup_1d", "cost_attribution_1h", "cost_by_dimension_1h", "cost_by_dimension_1d"]


class AlphaFailure(Exception):
    pass


class BetaFailure(Exception):
    pass


# what each project sends: different numbers everywhere, so that a leak shows in a count
PLAN = {
    A: {"http": (3, 2), "llm": (2, 2), "errors": (1, 2), "grpc": (2, 3), "json": 4, "env": 2,
        "http_logs": 5, "grpc_logs": 2, "http_series": 2, "grpc_series": 3,
        "model": "gpt-4o", "failure": AlphaFailure("alpha pipeline broke at stage 3")},
    B: {"http": (2, 2), "llm": (3, 2), "errors": (2, 2), "grpc": (1, 2), "json": 7, "env": 2,
        "http_logs": 3, "grpc_logs": 1, "http_series": 1, "grpc_series": 4,
        "model": "claude-3-5-sonnet-20241022", "failure": BetaFailure("beta queue overflowed on shard 9")},
}


@dataclass
class Project:
    name: str
    ingest: str
    read: str
    admin: str
    service: str
    spans: int = 0
    traces: dict = field(default_factory=dict)  # trace id -> span count
    llm_requests: int = 0
    failures: int = 0
    failure_type: str = ""
    logs: list = field(default_factory=list)
    metric_points: dict = field(default_factory=dict)  # metric name -> points

    def markers(self) -> list[str]:
        """Strings that only this project's data contains."""
        return [self.service, *self.traces, *self.logs, *self.metric_points, self.failure_type.rsplit(".", 1)[-1]]


ENV_SENDER = r"""
import sys
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

class Recording(OTLPSpanExporter):
    results = []
    def export(self, spans):
        r = super().export(spans)
        self.results.append(r.name)
        return r

exporter = Recording()  # endpoint and headers from OTEL_EXPORTER_OTLP_ENDPOINT / _HEADERS only
provider = TracerProvider(resource=Resource.create({"service.name": sys.argv[1]}))
provider.add_span_processor(SimpleSpanProcessor(exporter))
tracer = provider.get_tracer("e2e.env")
with tracer.start_as_current_span("env root") as root:
    with tracer.start_as_current_span("env child"):
        pass
provider.shutdown()
print(format(root.get_span_context().trace_id, "032x"), ",".join(exporter.results))
"""


def send_with_env(srv, key: str, service: str) -> str:
    env = dict(os.environ, OTEL_EXPORTER_OTLP_ENDPOINT=srv.otlp_base, OTEL_EXPORTER_OTLP_HEADERS=f"x-api-key={key}",
               OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf")
    p = subprocess.run([sys.executable, "-c", ENV_SENDER, service], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    trace_id, results = p.stdout.split()
    assert results == "SUCCESS,SUCCESS", f"the env-configured exporter got {results}\n{p.stderr[-2000:]}"
    return trace_id


def feed(srv, project: Project) -> None:
    plan = PLAN[project.name]
    svc = project.service

    def add(ids, per_trace):
        for t in ids:
            project.traces[t] = per_trace
        project.spans += len(ids) * per_trace

    ex = http_span_exporter(srv, project.ingest)
    add(emit_spans(ex, svc, *plan["http"]), plan["http"][1])
    llm_attrs = {"gen_ai.request.model": plan["model"], "gen_ai.provider.name": "acme", "gen_ai.operation.name": "chat",
                 "gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 10}
    ex2 = http_span_exporter(srv, project.ingest)
    add(emit_spans(ex2, svc, plan["llm"][0], plan["llm"][1], attributes=llm_attrs), plan["llm"][1])
    project.llm_requests = plan["llm"][0] * (plan["llm"][1] - 1)
    gx = grpc_span_exporter(srv, project.ingest, "x-api-key")
    add(emit_spans(gx, svc, *plan["errors"], error=plan["failure"]), plan["errors"][1])
    project.failures = plan["errors"][0] * (plan["errors"][1] - 1)
    failure = type(plan["failure"])
    project.failure_type = f"{failure.__module__}.{failure.__qualname__}"
    gx2 = grpc_span_exporter(srv, project.ingest)
    add(emit_spans(gx2, svc, *plan["grpc"]), plan["grpc"][1])
    for e in (ex, ex2, gx, gx2):
        assert e.all_ok(), (project.name, type(e).__name__, e.results)

    req = spans_request(plan["json"], svc, traces=1)
    r = post_spans(srv, req, project.ingest, "json", "x-api-key")
    assert r.status_code == 200, r.text
    add([req.resource_spans[0].scope_spans[0].spans[0].trace_id.hex()], plan["json"])
    add([send_with_env(srv, project.ingest, svc)], plan["env"])

    messages = [f"{project.name} log line {i} {os.urandom(4).hex()}" for i in range(plan["http_logs"] + plan["grpc_logs"])]
    lx = http_log_exporter(srv, project.ingest)
    emit_logs(lx, svc, messages[:plan["http_logs"]])
    lg = grpc_log_exporter(srv, project.ingest, "x-api-key")
    emit_logs(lg, svc, messages[plan["http_logs"]:])
    assert lx.all_ok() and lg.all_ok(), (lx.results, lg.results)
    project.logs = messages

    for transport, make in (("http", http_metric_exporter), ("grpc", grpc_metric_exporter)):
        name = f"e2e.{project.name}.{transport}.requests"
        mx = make(srv, project.ingest)
        emit_counter(mx, svc, name, plan[f"{transport}_series"])
        assert mx.all_ok(), (name, mx.results)
        project.metric_points[name] = plan[f"{transport}_series"]


@pytest.fixture(scope="module")
def world(module_server_factory):
    srv = module_server_factory(CONFIG, name="projects")
    glob = Client(srv, wait_bootstrap_key(srv))
    projects = {}
    for name in (A, B):
        made = glob.create_project(name)
        assert made["name"] == name and made["created_at"], made
        keys = {scope: glob.create_key(scope, name, f"{name}-{scope}")["key"] for scope in ("ingest", "read", "admin")}
        projects[name] = Project(name, keys["ingest"], keys["read"], keys["admin"], service=f"svc-{name}")
    for p in projects.values():
        feed(srv, p)
    for p in projects.values():
        reader = Client(srv, p.read)
        wait_until(lambda: reader.count() == p.spans and reader.count("logs") == len(p.logs)
                   and reader.count("metric_points") == sum(p.metric_points.values()),
                   timeout=20, what=f"everything {p.name} sent to be readable")
    return srv, glob, projects


@pytest.fixture(scope="module")
def sealed(world):
    srv, glob, projects = world
    for p in projects.values():
        reader = Client(srv, p.read)
        wait_until(lambda: reader.rows("SELECT coalesce(sum(rows), 0) FROM segments WHERE kind = 'spans'")[0][0] >= p.spans,
                   timeout=60, what=f"{p.name}'s spans sealed")
    return world


def run_job(client: Client, name: str) -> dict:
    before = client.ok("GET", f"/api/v1/jobs/{name}/runs")["runs"]
    last = before[0]["id"] if before else 0
    client.ok("POST", f"/api/v1/jobs/{name}/run", expect=202)

    def finished():
        runs = client.ok("GET", f"/api/v1/jobs/{name}/runs")["runs"]
        return runs and runs[0]["id"] > last and runs[0]["status"] != "running" and runs[0]
    run = wait_until(finished, timeout=60, what=f"a run of {name} in {client.project or 'the key project'}")
    assert run["status"] == "ok", run
    return run


def other(projects, p: Project) -> Project:
    return next(q for q in projects.values() if q.name != p.name)


def all_pages(client: Client, path: str, item: str, **params) -> list:
    out, cursor = [], None
    for _ in range(200):
        q = dict(params)
        if cursor:
            q["cursor"] = cursor
        page = client.ok("GET", path, params=q)
        out.extend(page[item])
        cursor = page.get("next_cursor")
        if not cursor:
            return out
    raise AssertionError(f"{path}: next_cursor never ends")


# --------------------------------------------------------------------------
# reads: each project sees exactly its own data
# --------------------------------------------------------------------------


def test_each_project_counts_exactly_what_it_was_sent(world):
    srv, glob, projects = world
    for p in projects.values():
        q = other(projects, p)
        for who, client in [("read key", Client(srv, p.read)), ("admin key", Client(srv, p.admin, style="x-api-key")),
                            ("global admin + header", glob.with_project(p.name)),
                            ("read key + own header", Client(srv, p.read, project=p.name))]:
            got = (client.count(), client.count("logs"), client.count("metric_points"))
            assert got == (p.spans, len(p.logs), sum(p.metric_points.values())), f"{p.name} {who}: spans/logs/points {got}"
            assert client.rows("SELECT DISTINCT service FROM spans") == [[p.service]], who
            names = {r[0] for r in client.rows("SELECT DISTINCT metric_name FROM metric_points")}
            assert names == set(p.metric_points), (who, names)
        assert_forbidden(Client(srv, p.read, project=q.name).get("/api/v1/traces"), f"{p.name}'s read key naming {q.name}")
        assert_forbidden(Client(srv, p.admin, project=q.name).post("/api/v1/sql", json={"sql": "SELECT 1"}),
                         f"{p.name}'s admin key naming {q.name}")
    assert glob.count() == 0 and glob.count("logs") == 0, "the default project received data"
    assert glob.with_project("default").count() == 0
    r = glob.with_project("no-such-project").get("/api/v1/traces")
    assert r.status_code == 404 and error_code(r) == "unknown_project", r.text


def test_the_trace_api_shows_only_the_projects_own_traces(sealed):
    srv, glob, projects = sealed
    for p in projects.values():
        q = other(projects, p)
        reader = Client(srv, p.read)

        def listed():
            ids = {t["trace_id"] for t in all_pages(reader, "/api/v1/traces", "traces", limit=500)}
            return ids if set(p.traces) <= ids else None
        ids = wait_until(listed, timeout=30, what=f"{p.name}'s traces in its trace list")
        assert ids == set(p.traces), f"{p.name}'s trace list has other traces: {sorted(ids - set(p.traces))}"
        for trace_id, n in p.traces.items():
            doc = reader.ok("GET", f"/api/v1/traces/{trace_id}")
            assert len(doc["spans"]) == n and {s["resource"]["attributes"]["service.name"] for s in doc["spans"]} == {p.service}
        for trace_id in q.traces:
            r = reader.get(f"/api/v1/traces/{trace_id}")
            assert r.status_code == 404, f"{p.name} reading {q.name}'s trace {trace_id}: {r.status_code} {r.text[:300]}"
            r = reader.get(f"/api/v1/traces/{trace_id}/logs")
            assert r.status_code in (200, 404), r.text
            assert not any(m in r.text for m in q.markers() if m != trace_id), r.text[:500]
            if r.status_code == 200:
                assert r.json()["logs"] == []
        # the global admin reaches each project's trace only with its header
        some = next(iter(p.traces))
        assert glob.get(f"/api/v1/traces/{some}").status_code == 404
        assert glob.with_project(p.name).get(f"/api/v1/traces/{some}").status_code == 200


def test_logs_and_metrics_show_only_the_projects_own(world):
    srv, _, projects = world
    for p in projects.values():
        q = other(projects, p)
        reader = Client(srv, p.read)
        logs = all_pages(reader, "/api/v1/logs", "logs", limit=100)
        assert sorted(r["body"] for r in logs) == sorted(p.logs), f"{p.name}: {[r['body'] for r in logs]}"
        assert {r["service"] for r in logs} == {p.service}, logs[:2]
        listed = {m["name"] for m in reader.ok("GET", "/api/v1/metrics")["metrics"]}
        assert {n for n in listed if n.startswith("e2e.")} == set(p.metric_points), listed
        for name, points in p.metric_points.items():
            series = reader.ok("GET", f"/api/v1/metrics/{name}/series")["series"]
            assert sum(len(s["points"]) for s in series) == points, (name, series)
        for name in q.metric_points:
            r = reader.get(f"/api/v1/metrics/{name}/series")
            assert r.status_code == 404, f"{p.name} reading {q.name}'s metric {name}: {r.status_code} {r.text[:300]}"
        for path in ("/api/v1/telemetry/metrics", "/api/v1/telemetry/traces", "/api/v1/evaluations", "/api/v1/drift/heatmap"):
            r = reader.get(path)
            assert r.status_code not in (401, 403, 500), (path, r.status_code, r.text[:300])
            assert not any(m in r.text for m in q.markers()), f"{path} of {p.name} shows {q.name}'s data: {r.text[:500]}"


def test_costs_and_rca_show_only_the_projects_own(sealed):
    srv, _, projects = sealed
    for p in projects.values():
        admin = Client(srv, p.admin)
        for job in COST_JOBS + ["failure_clusters", "rca_slices", "rca_patterns"]:
            run_job(admin, job)
    for p in projects.values():
        q = other(projects, p)
        reader = Client(srv, p.read)
        summary = reader.ok("GET", "/api/v1/costs/summary", params={"group_by": "model"})
        groups = {g["key"]: g["requests"] for g in summary["groups"]}
        assert groups == {PLAN[p.name]["model"]: p.llm_requests}, f"{p.name}'s cost summary: {summary}"
        assert summary["total"]["requests"] == p.llm_requests
        clusters = reader.ok("GET", "/api/v1/rca/clusters", params={"limit": 50})
        types = {e["name"] for c in clusters["clusters"] for e in c["error_types"]}
        assert types == {p.failure_type}, f"{p.name}'s failure clusters: {types}"
        assert sum(c["size"] for c in clusters["clusters"]) == p.failures
        for c in clusters["clusters"]:
            detail = reader.ok("GET", f"/api/v1/rca/clusters/{c['id']}")
            assert not any(m in json.dumps(detail) for m in q.markers())
        for path in ("/api/v1/rca/slices", "/api/v1/rca/patterns", "/api/v1/costs/budgets"):
            r = reader.get(path)
            assert r.status_code == 200, (path, r.status_code, r.text[:300])
            text = r.text
            assert not any(m in text for m in q.markers()), f"{path} of {p.name} shows {q.name}'s data: {text[:500]}"


# --------------------------------------------------------------------------
# SQL that tries to leave the project
# --------------------------------------------------------------------------


def test_crafted_sql_cannot_reach_the_other_project(world, tmp_path):
    srv, glob, projects = world
    for p in projects.values():
        q = other(projects, p)
        qdir = srv.data_dir / "projects" / q.name
        assert (qdir).is_dir(), f"{q.name}'s data should live in {qdir}"
        q_ids = sorted(q.traces)
        marks = ",".join("?" for _ in q_ids)
        statements = [
            ("SELECT count(*) FROM spans WHERE service = ?", [q.service], [[0]]),
            (f"SELECT count(*) FROM spans WHERE trace_id IN ({marks})", q_ids, [[0]]),
            (f"SELECT count(*) FROM logs WHERE trace_id IN ({marks})", q_ids, [[0]]),
            ("SELECT count(*) FROM metric_points WHERE metric_name LIKE ?", [f"e2e.{q.name}.%"], [[0]]),
            ("SELECT count(*) FROM spans", [], [[p.spans]]),
            ("SELECT * FROM spans", [], None),
            ("SELECT * FROM logs", [], None),
            ("SELECT * FROM metric_points", [], None),
            ("SELECT * FROM segments", [], None),
            ("SELECT * FROM pragma_database_list", [], "any"),
            ("SELECT name, sql FROM sqlite_master", [], "any"),
            (f"ATTACH DATABASE '{qdir / 'index.db'}' AS other", [], "refused"),
            (f"ATTACH DATABASE 'file:{qdir / 'index.db'}?mode=ro' AS other", [], "refused"),
            (f"ATTACH DATABASE '{srv.data_dir / 'access.db'}' AS catalog", [], "refused"),
            (f"SELECT * FROM \"{q.name}\".spans", [], "any"),  # no leak is what counts: a rewrite to the own table is fine
            (f"SELECT * FROM '{qdir}/index.db'.segments", [], "any"),
            (f"VACUUM INTO '{tmp_path / 'copy.db'}'", [], "refused"),
            ("SELECT load_extension('mod_spatialite')", [], "refused"),
            ("SELECT * FROM spans WHERE 1 = 1 OR service != ''", [], None),
            ("WITH everything AS (SELECT * FROM spans UNION ALL SELECT * FROM main.spans) SELECT * FROM everything", [], "any"),
            ("SELECT * FROM temp.sqlite_master", [], "any"),
        ]
        for client_name, client in [("read", Client(srv, p.read)), ("admin", Client(srv, p.admin))]:
            for sql, params, expect in statements:
                r = client.sql(sql, *params)
                what = f"{p.name} {client_name} key: {sql[:90]} -> {r.status_code}"
                leaked = [m for m in q.markers() if m in r.text]
                assert not leaked, f"{what} shows {q.name}'s data {leaked[:3]}: {r.text[:400]}"
                assert f"/projects/{q.name}/" not in r.text or sql.startswith(("ATTACH", "SELECT * FROM '")), f"{what}: {r.text[:400]}"
                assert r.status_code not in (401, 500), f"{what}: {r.text[:400]}"
                if expect == "any":
                    pass
                elif expect == "refused":
                    assert r.status_code != 200, f"{what}: {r.text[:400]}"
                elif expect is not None:
                    assert r.status_code == 200 and r.json()["rows"] == expect, f"{what}: {r.text[:400]}"
                else:
                    assert r.status_code == 200, f"{what}: {r.text[:400]}"
        assert not (tmp_path / "copy.db").exists()


# --------------------------------------------------------------------------
# writes: only into the key's project
# --------------------------------------------------------------------------


def test_an_ingest_key_cannot_write_into_another_project(world):
    srv, glob, projects = world
    pool = AddressPool(4)
    before = {n: (Client(srv, p.read).count(), Client(srv, p.read).count("logs"), Client(srv, p.read).count("metric_points"))
              for n, p in projects.items()}
    for p in projects.values():
        q = other(projects, p)
        for key, scope in ((p.ingest, "ingest"), (p.admin, "admin")):
            for encoding in ("protobuf", "json"):
                r = post_spans(srv, spans_request(3, "intruder"), key, encoding, project=q.name, session=pool.session())
                what = f"{p.name}'s {scope} key writing {encoding} spans into {q.name}"
                assert r.status_code == 403, f"{what}: {r.status_code} {r.content[:300]!r}"
                assert otlp_status(r, encoding).code == PERMISSION_DENIED, what
            for path in ("/v1/logs", "/v1/metrics"):
                h = {"Content-Type": PROTOBUF, "Authorization": f"Bearer {key}", "X-PyFlare-Project": q.name}
                r = pool.session().post(f"{srv.otlp_base}{path}", data=b"", headers=h, timeout=10)
                assert r.status_code == 403 and otlp_status(r, "protobuf").code == PERMISSION_DENIED, (path, r.status_code)
            with grpc_channel(srv) as ch:
                for method in (TRACE_EXPORT, LOGS_EXPORT, METRICS_EXPORT):
                    body = spans_request(2, "intruder").SerializeToString() if method == TRACE_EXPORT else b""
                    code, _ = grpc_export(ch, method, body, grpc_metadata(key, project=q.name))
                    assert code == grpc.StatusCode.PERMISSION_DENIED, (p.name, scope, method, code)
            r = Client(srv, key, project=q.name, session=pool.session()).post(
                "/api/v1/telemetry/metrics", json={"name": "e2e.intruder", "value": 1, "type": "counter"})
            assert_forbidden(r, f"{p.name}'s {scope} key posting a telemetry metric into {q.name}")
        ex = http_span_exporter(srv, p.ingest, project=q.name)
        emit_spans(ex, "intruder", 1, 2)
        gx = grpc_span_exporter(srv, p.ingest, project=q.name)
        emit_spans(gx, "intruder", 1, 2)
        assert not any(r.name == "SUCCESS" for r in ex.results + gx.results), (ex.results, gx.results)
    after = {n: (Client(srv, p.read).count(), Client(srv, p.read).count("logs"), Client(srv, p.read).count("metric_points"))
             for n, p in projects.items()}
    assert after == before, f"a refused write landed: {before} -> {after}"
    assert glob.count() == 0


def test_the_global_admin_picks_the_project_with_the_header(world):
    srv, glob, _ = world
    glob.create_project("team-c")
    ex = http_span_exporter(srv, glob.key, project="team-c")
    emit_spans(ex, "svc-team-c", 2, 2)
    gx = grpc_span_exporter(srv, glob.key, "x-api-key", project="team-c")
    emit_spans(gx, "svc-team-c", 1, 3)
    assert ex.all_ok() and gx.all_ok(), (ex.results, gx.results)
    r = post_spans(srv, spans_request(5, "svc-team-c"), glob.key, "json", project="team-c")
    assert r.status_code == 200, r.text
    c = glob.with_project("team-c")
    wait_until(lambda: c.count() == 12, timeout=10, what="12 spans in team-c")
    assert glob.count() == 0 and c.rows("SELECT DISTINCT service FROM spans") == [["svc-team-c"]]
    r = post_spans(srv, spans_request(1, "nowhere"), glob.key, project="no-such-project")
    assert r.status_code == 404, (r.status_code, r.content[:300])
    r = glob.with_project("no-such-project").post("/api/v1/sql", json={"sql": "SELECT 1"})
    assert r.status_code == 404 and error_code(r) == "unknown_project", r.text
    ingest_c = glob.create_key("ingest", "team-c")["key"]
    assert post_spans(srv, spans_request(2, "svc-team-c"), ingest_c, project="team-c").status_code == 200  # its own name
    wait_until(lambda: c.count() == 14, timeout=10, what="14 spans in team-c")


def test_without_auth_the_header_picks_the_project(start_server):
    srv = start_server(STORE_CONFIG, name="noauth-projects")
    anon = Client(srv)
    assert anon.post("/api/v1/projects", json={"name": "side"}).status_code == 201
    assert post_spans(srv, spans_request(3, "side"), None, project="side").status_code == 200
    assert post_spans(srv, spans_request(2, "main"), None).status_code == 200
    ex = grpc_span_exporter(srv, None, project="side")
    emit_spans(ex, "side", 1, 2)
    assert ex.all_ok()
    wait_until(lambda: anon.with_project("side").count() == 5 and anon.count() == 2, timeout=10, what="5 + 2 spans")
    r = post_spans(srv, spans_request(1, "x"), None, project="nope")
    assert r.status_code == 404
    assert anon.with_project("nope").get("/api/v1/traces").status_code == 404
    assert (srv.data_dir / "projects" / "side").is_dir()


# --------------------------------------------------------------------------
# project lifecycle
# --------------------------------------------------------------------------


def test_deleting_a_project_needs_confirmation_removes_its_data_and_revokes_its_keys(world):
    srv, glob, projects = world
    pool = AddressPool(5)
    glob.create_project("doomed")
    ingest = glob.create_key("ingest", "doomed")["key"]
    read = glob.create_key("read", "doomed")["key"]
    assert post_spans(srv, spans_request(3, "doomed"), ingest).status_code == 200
    reader = Client(srv, read)
    wait_until(lambda: reader.count() == 3, timeout=10, what="3 spans in doomed")
    pdir = srv.data_dir / "projects" / "doomed"
    assert pdir.is_dir(), sorted(p.name for p in (srv.data_dir / "projects").iterdir())

    for query in ("", "?confirm=false", "?confirm=0"):
        r = glob.delete(f"/api/v1/projects/doomed{query}")
        assert r.status_code == 400 and error_code(r) == "confirmation_required", (query, r.status_code, r.text)
    assert pdir.is_dir() and reader.count() == 3
    assert_forbidden(Client(srv, projects[A].admin).delete("/api/v1/projects/doomed?confirm=true"), "a project admin deleting")
    r = glob.delete("/api/v1/projects/default?confirm=true")
    assert r.status_code == 400, r.text
    assert glob.delete("/api/v1/projects/never-existed?confirm=true").status_code == 404

    assert glob.delete("/api/v1/projects/doomed?confirm=true").status_code == 200
    assert_unauthenticated(Client(srv, read, session=pool.session()).get("/api/v1/traces"), "a key of a deleted project")
    r = post_spans(srv, spans_request(1, "doomed"), ingest, session=pool.session())
    assert r.status_code == 401, r.status_code
    poll_until(lambda: not pdir.exists(), timeout=5, what=f"{pdir} to be removed")
    names = [p["name"] for p in glob.ok("GET", "/api/v1/projects")["projects"]]
    assert "doomed" not in names and {"default", A, B} <= set(names), names
    r = glob.with_project("doomed").get("/api/v1/traces")
    assert r.status_code == 404 and error_code(r) == "unknown_project", r.text
    # the name can be used again, and starts empty
    glob.create_project("doomed")
    assert glob.with_project("doomed").count() == 0
    assert_unauthenticated(Client(srv, read, session=pool.session()).get("/api/v1/traces"), "an old key of a re-created project")
    assert glob.delete("/api/v1/projects/doomed?confirm=true").status_code == 200
    # the others are untouched
    for p in projects.values():
        assert Client(srv, p.read).count() == p.spans


def test_projects_api_validation(world):
    srv, glob, _ = world
    listed = glob.ok("GET", "/api/v1/projects")["projects"]
    by_name = {p["name"]: p for p in listed}
    assert {"default", A, B} <= set(by_name) and all(p["created_at"] for p in listed), listed
    r = glob.post("/api/v1/projects", json={"name": A})
    assert r.status_code == 409, r.text
    for bad in ("Team", "-a", "_a", "a/b", "..", "../evil", "a" * 64, "", "ä", "a.b", "a b", "a\n", 7, None):
        r = glob.post("/api/v1/projects", json={"name": bad})
        assert r.status_code == 400, (bad, r.status_code, r.text)
    r = glob.post("/api/v1/projects", json={})
    assert r.status_code == 400
    longest = "z" + "9" * 62
    glob.create_project(longest)
    glob.create_project("0-_x")
    assert glob.delete(f"/api/v1/projects/{longest}?confirm=true").status_code == 200
    assert glob.delete("/api/v1/projects/0-_x?confirm=true").status_code == 200
    assert not (srv.data_dir / "evil").exists() and not (srv.data_dir.parent / "evil").exists()


def test_projects_cli(start_server, pyflare_binary, tmp_path):
    data_dir = tmp_path / "cli-projects" / "data"  # start_server(name="cli-projects") uses it
    data_dir.mkdir(parents=True)
    cli_ok(pyflare_binary, "projects", "create", "cli-a", "--data-dir", data_dir)
    for bad in (["projects", "create", "cli-a"], ["projects", "create", "Bad_Name"], ["projects", "create", "../x"]):
        p = cli(pyflare_binary, *bad, "--data-dir", data_dir)
        assert p.returncode != 0, (bad, p.stdout, p.stderr)
    listing = cli_ok(pyflare_binary, "projects", "list", "--data-dir", data_dir).stdout
    assert "default" in listing and "cli-a" in listing, listing
    p = cli(pyflare_binary, "keys", "create", "--scope", "read", "--project", "nope", "--data-dir", data_dir)
    assert p.returncode != 0, "a key for an unknown project"
    p = cli(pyflare_binary, "keys", "create", "--scope", "ingest", "--data-dir", data_dir)
    assert p.returncode != 0, "an ingest key must name a project"
    admin = cli_create_key(pyflare_binary, data_dir, "admin")
    ingest = cli_create_key(pyflare_binary, data_dir, "ingest", "cli-a")
    read = cli_create_key(pyflare_binary, data_dir, "read", "cli-a")

    srv = start_server(CONFIG, name="cli-projects")
    assert srv.data_dir == data_dir
    assert post_spans(srv, spans_request(4, "cli-a"), ingest).status_code == 200
    reader = Client(srv, read)
    wait_until(lambda: reader.count() == 4, timeout=10, what="4 spans in cli-a")
    assert Client(srv, admin).count() == 0
    # while the server runs: delete refuses, create works and is seen within seconds
    p = cli(pyflare_binary, "projects", "delete", "cli-a", "--yes", "--data-dir", data_dir)
    assert p.returncode != 0, f"`projects delete` while the server runs must refuse: {p.stdout} {p.stderr}"
    assert (data_dir / "projects" / "cli-a").is_dir() and reader.count() == 4
    cli_ok(pyflare_binary, "projects", "create", "cli-b", "--data-dir", data_dir)
    ingest_b = cli_create_key(pyflare_binary, data_dir, "ingest", "cli-b")
    poll_until(lambda: post_spans(srv, spans_request(2, "cli-b"), ingest_b).status_code == 200, timeout=5, interval=0.5,
               what="the CLI-made project and key to be accepted")
    wait_until(lambda: Client(srv, admin, project="cli-b").count() == 2, timeout=10, what="2 spans in cli-b")
    names = [p["name"] for p in Client(srv, admin).ok("GET", "/api/v1/projects")["projects"]]
    assert {"default", "cli-a", "cli-b"} <= set(names), names
    srv.stop_ok()

    p = cli(pyflare_binary, "projects", "delete", "cli-a", "--data-dir", data_dir)
    assert p.returncode != 0 and (data_dir / "projects" / "cli-a").is_dir(), "delete without --yes must refuse"
    cli_ok(pyflare_binary, "projects", "delete", "cli-a", "--yes", "--data-dir", data_dir)
    assert not (data_dir / "projects" / "cli-a").exists()
    p = cli(pyflare_binary, "projects", "delete", "default", "--yes", "--data-dir", data_dir)
    assert p.returncode != 0, "default cannot be deleted"
    listing = cli_ok(pyflare_binary, "projects", "list", "--data-dir", data_dir).stdout
    assert "cli-a" not in listing and "cli-b" in listing and "default" in listing, listing
    srv.start()
    assert_unauthenticated(Client(srv, read).get("/api/v1/traces"), "a key of a project deleted through the CLI")
    assert Client(srv, admin, project="cli-b").count() == 2
