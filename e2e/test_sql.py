"""Ad-hoc SQL: POST /api/v1/sql and `pyflare sql` against spans sent by the real OpenTelemetry
SDK and exporter, some sealed into segments and some still in the WAL. Answers are compared
with numbers computed from what was sent; writes and runaway statements are refused."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import time

import pytest
import requests

from harness import STORE_CONFIG, merge_config
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode
from store_helpers import wait_until

MODELS = ["gpt-4o", "gpt-4o-mini", None]
FEATURES = ["chat", "search"]
SEC = 1_000_000_000


def send_spans(srv, service: str, count: int, offset: int = 0) -> list[dict]:
    """Sends `count` LLM spans through the SDK's HTTP exporter in one request (so a 300 ms
    seal age cannot split them over two segments on a slow machine); returns what was sent."""
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=srv.traces_url),
                                                   schedule_delay_millis=600_000, max_export_batch_size=count))
    tracer = provider.get_tracer("pyflare.e2e.sql")
    sent = []
    for i in range(offset, offset + count):
        model = MODELS[i % 3]
        feature = FEATURES[i % 2]
        error = i % 5 == 0
        attributes = {"app.feature": feature, "user.id": f"user-{i % 4}", "session.id": f"sess-{i % 6}"}
        if model:
            attributes.update({"gen_ai.request.model": model, "gen_ai.provider.name": "openai",
                               "gen_ai.operation.name": "chat",
                               "gen_ai.usage.input_tokens": 100 + i, "gen_ai.usage.output_tokens": 10 + i % 7})
        start = 1_767_000_000 * SEC + i * SEC
        span = tracer.start_span(f"call {i}", attributes=attributes, start_time=start)
        if error:
            span.set_status(Status(StatusCode.ERROR, "boom"))
        span.end(end_time=start + (i % 10 + 1) * 1_000_000)
        ctx = span.get_span_context()
        sent.append({"trace_id": f"{ctx.trace_id:032x}", "span_id": f"{ctx.span_id:016x}", "service": service,
                     "model": model, "feature": feature, "error": error, "start": start,
                     "input": 100 + i if model else None, "output": 10 + i % 7 if model else None,
                     "user": f"user-{i % 4}"})
    provider.shutdown()
    return sent


def sql(srv, statement: str, params: list | None = None, **extra) -> requests.Response:
    body = {"sql": statement, **extra}
    if params is not None:
        body["params"] = params
    return requests.post(f"{srv.api_base}/api/v1/sql", json=body, timeout=60)


def rows(srv, statement: str, params: list | None = None) -> list[list]:
    r = sql(srv, statement, params)
    assert r.status_code == 200, r.text
    return r.json()["rows"]


@pytest.fixture
def loaded(start_server):
    """A server with 3 sealed segments' worth of spans and one batch still unsealed."""
    # no merges: the retention job, which runs at start, would otherwise merge the small segments
    # while they are being counted
    config = merge_config(STORE_CONFIG, {"segments": {"max_age_ms": 300}, "sql": {"timeout_ms": 2000, "max_rows": 500},
                                         "compaction": {"small_segment_bytes": 0}})
    srv = start_server(config, name="sql")
    sent = []
    for part, service in enumerate(["svc-a", "svc-b", "svc-a"]):
        sent += send_spans(srv, service, 60, offset=part * 60)
        wait_until(lambda: rows(srv, "SELECT count(*) FROM segments WHERE kind = 'spans'")[0][0] == part + 1,
                   timeout=15, what=f"segment {part + 1} sealed")
    srv.stop_ok()
    srv.config = merge_config(srv.config, {"segments": {"max_age_ms": 600_000}})
    srv.start()
    sent += send_spans(srv, "svc-c", 40, offset=180)  # stays in the WAL: the seal age is now 10 minutes
    return srv, sent


def test_answers_match_what_was_sent(loaded):
    srv, sent = loaded
    assert rows(srv, "SELECT count(*) FROM spans") == [[len(sent)]]
    assert rows(srv, "SELECT count(*) FROM segments WHERE kind = 'spans'") == [[3]]

    got = rows(srv, "SELECT model, count(*), sum(input_tokens), sum(output_tokens) FROM spans GROUP BY model")
    expected = []
    for model in sorted(MODELS, key=lambda m: (m is not None, m or "")):
        mine = [s for s in sent if s["model"] == model]
        expected.append([model, len(mine), sum(s["input"] for s in mine) if model else None,
                         sum(s["output"] for s in mine) if model else None])
    assert got == expected

    got = rows(srv, "SELECT service, count(*) FROM spans WHERE status = 'error' GROUP BY service ORDER BY service")
    services = sorted({s["service"] for s in sent})
    assert got == [[svc, sum(1 for s in sent if s["service"] == svc and s["error"])] for svc in services]

    got = rows(srv, "SELECT feature, round(avg(status = 'error'), 4) FROM spans GROUP BY feature ORDER BY feature")
    assert got == [[f, round(sum(s["error"] for s in sent if s["feature"] == f) / sum(1 for s in sent if s["feature"] == f), 4)]
                   for f in FEATURES]

    # cost per model per day is priced by the server; it is there for priced models only
    got = rows(srv, "SELECT model, substr(start_time, 1, 10), sum(cost_micros) FROM spans "
                    "WHERE model IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2")
    assert [r[0] for r in got] == ["gpt-4o", "gpt-4o-mini"] and all(r[2] and r[2] > 0 for r in got)

    # one trace, from the unsealed WAL records and from a segment
    for s in (sent[-1], sent[0]):
        got = rows(srv, "SELECT span_id, service, model, attr(attributes, 'user.id') FROM spans WHERE trace_id = ?", [s["trace_id"]])
        assert got == [[s["span_id"], s["service"], s["model"], s["user"]]]

    # the traces index joins spans on the trace id
    got = rows(srv, "SELECT count(*), sum(t.span_count) FROM traces t JOIN spans s ON s.trace_id = t.trace_id")
    assert got == [[180, 180]]


def test_a_time_bound_reads_only_its_blocks(loaded):
    srv, sent = loaded
    everything = sql(srv, "SELECT sum(input_tokens) FROM spans").json()
    lo, hi = sent[60]["start"], sent[70]["start"]
    r = sql(srv, "SELECT count(*), sum(input_tokens) FROM spans WHERE start_time_ns >= ? AND start_time_ns < ?", [lo, hi])
    assert r.status_code == 200, r.text
    body = r.json()
    mine = [s for s in sent if lo <= s["start"] < hi]
    assert body["rows"] == [[len(mine), sum(s["input"] or 0 for s in mine)]]
    assert body["scan"]["segments"] == 1
    assert 0 < body["scan"]["blocks_read"] < everything["scan"]["blocks_read"]
    assert set(body) >= {"columns", "rows", "row_count", "elapsed_ms", "truncated"}


@pytest.mark.parametrize("statement", [
    "DELETE FROM traces",
    "INSERT INTO store_state VALUES ('x', 1)",
    "DROP TABLE segments",
    "ATTACH DATABASE '/tmp/x.db' AS x",
    "PRAGMA writable_schema = 1",
    "SELECT load_extension('libevil')",
    "WITH x AS (SELECT 1) UPDATE segments SET state = 'missing'",
    "CREATE TEMP TRIGGER t AFTER INSERT ON traces BEGIN SELECT 1; END",
])
def test_writes_are_refused(loaded, statement):
    srv, sent = loaded
    r = sql(srv, statement)
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "read_only"
    assert rows(srv, "SELECT count(*) FROM spans") == [[len(sent)]]


def test_limits_and_errors(loaded):
    srv, sent = loaded
    r = sql(srv, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n")
    assert r.status_code == 422 and r.json()["error"]["code"] == "timeout", r.text
    r = sql(srv, "SELECT count(*) FROM spans a, spans b, spans c")
    assert r.status_code == 422 and r.json()["error"]["code"] == "timeout", r.text
    r = sql(srv, "SELECT span_id FROM spans")  # 220 rows, max_rows 500: fine
    assert r.status_code == 200 and r.json()["row_count"] == len(sent)
    r = sql(srv, "SELECT a.span_id FROM spans a, (SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3) b")
    assert r.status_code == 422 and r.json()["error"]["code"] == "row_limit", r.text
    r = sql(srv, "SELECT span_id FROM spans", limit=5)
    assert r.status_code == 200 and r.json()["row_count"] == 5 and r.json()["truncated"] is True
    r = sql(srv, "SELECT nope FROM spans")
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_sql" and "no such column: nope" in r.json()["error"]["message"]
    assert r.json()["error"]["position"] == 7
    r = requests.post(f"{srv.api_base}/api/v1/sql", data="not json", headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 400
    r = sql(srv, "SELECT ?, ?", [1, "two"])
    assert r.json()["rows"] == [[1, "two"]]


def test_the_command_line_reads_the_data_directory(loaded, pyflare_binary):
    srv, sent = loaded
    base = [str(pyflare_binary), "sql", "--data-dir", str(srv.data_dir)]

    def run(*args):
        return subprocess.run(base + list(args), capture_output=True, text=True, timeout=60)

    # while the server runs (its unsealed spans come from the WAL files)
    out = run("SELECT count(*) AS n FROM spans", "--format", "json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["rows"] == [[len(sent)]]
    out = run("SELECT service, count(*) AS n FROM spans GROUP BY service ORDER BY service", "--format", "csv")
    assert out.returncode == 0, out.stderr
    table = list(csv.reader(io.StringIO(out.stdout)))
    assert table[0] == ["service", "n"]
    assert table[1:] == [[svc, str(sum(1 for s in sent if s["service"] == svc))] for svc in sorted({s["service"] for s in sent})]
    out = run("SELECT service, count(*) AS n FROM spans WHERE service = ? GROUP BY service", "--param", "svc-c")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split("|")[0].strip() == "service" and "svc-c" in lines[2] and lines[-1] == "(1 row)"
    out = run("DELETE FROM traces")
    assert out.returncode == 1 and "read-only" in out.stderr

    # and after it stopped, from the same files
    srv.stop_ok()
    out = run("SELECT count(*) FROM spans", "--format", "json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["rows"] == [[len(sent)]]
    out = run("SELECT oops(", "--format", "json")
    assert out.returncode == 1 and "invalid" in out.stderr
