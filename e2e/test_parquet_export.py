"""Parquet export (issue 27): sealed segments of spans, logs and metric points, sent through the
real OpenTelemetry exporters, become Parquet files that three independent readers — pyarrow,
DuckDB and chDB (ClickHouse's engine) — read back exactly as `pyflare sql` shows the same rows;
the scheduled job exports each sealed segment once, also across a compaction."""

from __future__ import annotations

import logging
import math
import subprocess
import time
from pathlib import Path

import chdb
import duckdb
import pyarrow.parquet as pq
import pytest
import requests
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from harness import STORE_CONFIG, merge_config, pyflare_bin
from store_helpers import wait_until
from test_jobs_costs import run_job, send, workload

SEC = 10**9
CONFIG = merge_config(STORE_CONFIG, {"scheduler": {"enabled": False}, "export": {"parquet": {"dir": "parquet"}}})
# The columns each kind's rows are told apart by, to line the SQL rows and the Parquet rows up.
ORDER = {"spans": ["span_id"], "logs": ["time_ns", "body"], "metric_points": ["metric_name", "time_ns", "attributes", "value"]}


def sql(srv, statement: str, *parameters) -> tuple[list[str], list[list]]:
    r = requests.post(f"{srv.api_base}/api/v1/sql", json={"sql": statement, "params": list(parameters), "limit": 100_000}, timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    assert not body.get("truncated"), "raise the row limit"
    return body["columns"], body["rows"]


def send_logs_and_metrics(srv, service: str, count: int) -> None:
    """`count` log records through the logging bridge, and a counter and a histogram flushed twice."""
    resource = Resource.create({"service.name": service})
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{srv.otlp_base}/v1/logs")))
    logger = logging.getLogger(f"e2e.parquet.{service}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    handler = LoggingHandler(level=logging.INFO, logger_provider=logger_provider)
    logger.addHandler(handler)
    for index in range(count):
        logger.warning("job %d of %s took %.1f ms", index, service, index * 1.5, extra={"attempt": index % 3, "ok": index % 2 == 0})
    logger.removeHandler(handler)
    logger_provider.shutdown()
    reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=f"{srv.otlp_base}/v1/metrics"), export_interval_millis=3_600_000)
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    meter = meter_provider.get_meter("e2e.parquet")
    requests_total = meter.create_counter("app.requests", unit="1")
    latency = meter.create_histogram("app.latency", unit="ms")
    for flush in range(2):
        for index in range(10):
            requests_total.add(index + 1, {"route": f"/r{index % 3}"})
            latency.record(index * 12.5 + flush, {"route": f"/r{index % 3}"})
        reader.force_flush()
    meter_provider.shutdown()


def export(srv, out: Path, *args: str) -> list[dict]:
    done = subprocess.run([str(pyflare_bin()), "export", "parquet", "--data-dir", str(srv.data_dir), "--out", str(out), "--json", *args],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    import json
    return [json.loads(line) for line in done.stdout.splitlines()]


def same(sql_value, parquet_value) -> bool:
    if isinstance(sql_value, float) or isinstance(parquet_value, float):
        return sql_value is not None and parquet_value is not None and math.isclose(sql_value, parquet_value, rel_tol=1e-12)
    return sql_value == parquet_value


def assert_rows_equal(kind: str, columns: list[str], sql_rows: list[list], table) -> None:
    """Every row and every column of the SQL answer, as pyarrow reads the files."""
    names = ["span_kind" if kind == "spans" and c == "kind" else c for c in columns]
    assert [f for f in table.schema.names if f not in ("kind", "date") or kind == "spans" and f == "kind"][:len(names)] == names
    parquet_rows = [[row[n] for n in names] for row in table.select(names).to_pylist()]
    key = [columns.index(c) for c in ORDER[kind]]

    def ordered(rows):
        return sorted(rows, key=lambda r: tuple("" if r[i] is None else r[i] for i in key))
    assert len(parquet_rows) == len(sql_rows)
    for got, want in zip(ordered(parquet_rows), ordered(sql_rows)):
        for name, g, w in zip(columns, got, want):
            assert same(w, g), (kind, name, w, g)


@pytest.fixture(scope="module")
def stored(module_server_factory):
    """Two seals of each kind: a first batch, a restart, a second batch, a restart."""
    srv = module_server_factory(CONFIG, name="parquet")
    now = time.time_ns()
    first = workload(seed=11, count=120, start_ns=now - 3 * 3600 * SEC, step_ns=30 * SEC)
    send(srv, first)
    send_logs_and_metrics(srv, "svc-a", 40)
    srv.restart()
    second = workload(seed=12, count=80, start_ns=now - 3600 * SEC, step_ns=20 * SEC)
    send(srv, second)
    send_logs_and_metrics(srv, "svc-b", 25)
    srv.restart()
    return {"srv": srv, "middle": now - 2 * 3600 * SEC}


def test_the_export_reads_back_exactly_in_pyarrow_duckdb_and_chdb(stored, tmp_path):
    srv = stored["srv"]
    out = tmp_path / "all"
    files = export(srv, out)
    for kind in ORDER:
        columns, rows = sql(srv, f"SELECT * FROM {kind}")
        assert rows, kind
        assert sum(f["rows"] for f in files if f["kind"] == kind) == len(rows)
        assert len({f["segment"] for f in files if f["kind"] == kind}) >= 2, "one file per segment"
        # pyarrow: every value of every row
        assert_rows_equal(kind, columns, rows, pq.read_table(out / f"kind={kind}"))
    for f in files:
        assert f["path"].startswith(f"kind={f['kind']}/date=") and f["path"].endswith(".parquet")
        metadata = pq.ParquetFile(out / f["path"]).metadata
        assert metadata.num_rows == f["rows"] and metadata.metadata[b"pyflare.kind"] == f["kind"].encode()
        column = metadata.row_group(0).column(0)
        assert column.compression == "ZSTD" and column.statistics.has_min_max and column.statistics.null_count is not None
    # dictionary encoding where values repeat: the service of every span chunk
    service = pq.ParquetFile(out / next(f["path"] for f in files if f["kind"] == "spans")).metadata.row_group(0).column(12)
    assert service.path_in_schema == "service" and "RLE_DICTIONARY" in service.encodings

    # DuckDB and chDB: counts and the sums of tokens and cost, by partition and in all
    _, [[count, input_tokens, output_tokens, cost]] = sql(
        srv, "SELECT count(*), sum(input_tokens), sum(output_tokens), sum(cost_usd) FROM spans")
    glob = str(out / "kind=spans" / "*" / "*.parquet")
    got = duckdb.sql(f"SELECT count(*), sum(input_tokens), sum(output_tokens), sum(cost_usd) "
                     f"FROM read_parquet('{glob}', hive_partitioning = true)").fetchall()[0]
    assert got[:3] == (count, input_tokens, output_tokens) and math.isclose(got[3], cost, rel_tol=1e-9)
    partitions = duckdb.sql(f"SELECT kind, count(*) FROM read_parquet('{out}/**/*.parquet', hive_partitioning = true, union_by_name = true) "
                            "GROUP BY kind ORDER BY kind").fetchall()
    assert partitions == [(kind, sql(srv, f"SELECT count(*) FROM {kind}")[1][0][0]) for kind in sorted(ORDER)]
    result = chdb.query(f"SELECT count(), sum(input_tokens), sum(output_tokens), sum(cost_usd) FROM file('{glob}', Parquet)", "CSV")
    fields = str(result).strip().split(",")
    assert [int(v) for v in fields[:3]] == [count, input_tokens, output_tokens] and math.isclose(float(fields[3]), cost, rel_tol=1e-9)
    _, [[log_count, attempts]] = sql(srv, "SELECT count(*), sum(json_extract(attributes, '$.attempt')) FROM logs")
    logs = str(chdb.query(f"SELECT count(), sum(JSONExtractInt(attributes, 'attempt')) FROM file('{out}/kind=logs/*/*.parquet', Parquet)",
                          "CSV")).strip().split(",")
    assert [int(v) for v in logs] == [log_count, attempts]
    _, [[points, total]] = sql(srv, "SELECT count(*), sum(value) FROM metric_points WHERE metric_name = 'app.requests'")
    got = duckdb.sql(f"SELECT count(*), sum(value) FROM read_parquet('{out}/kind=metric_points/*/*.parquet') "
                     "WHERE metric_name = 'app.requests'").fetchall()[0]
    assert got[0] == points and math.isclose(got[1], total)


def test_a_range_exports_only_its_rows(stored, tmp_path):
    srv, middle = stored["srv"], stored["middle"]
    out = tmp_path / "range"
    files = export(srv, out, "--since", str(middle), "--kinds", "spans")
    assert {f["kind"] for f in files} == {"spans"}
    columns, rows = sql(srv, "SELECT * FROM spans WHERE start_time_ns >= ?", middle)
    assert 0 < len(rows) < sql(srv, "SELECT count(*) FROM spans")[1][0][0]
    assert_rows_equal("spans", columns, rows, pq.read_table(out / "kind=spans"))
    # bad arguments are refused with the option named
    done = subprocess.run([str(pyflare_bin()), "export", "parquet", "--data-dir", str(srv.data_dir), "--out", str(out),
                           "--since", "yesterday"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--since must be RFC 3339" in done.stderr


def parquet_rows(directory: Path, kind: str) -> list[dict]:
    files = sorted((directory / f"kind={kind}").glob("*/*.parquet"))
    return [row for f in files for row in pq.read_table(f).to_pylist()]


def test_the_job_exports_each_sealed_segment_once_also_across_a_compaction(start_server):
    srv = start_server(CONFIG, name="parquet-job")
    now = time.time_ns()
    send(srv, workload(seed=21, count=60, start_ns=now - 600 * SEC, step_ns=5 * SEC))
    srv.restart()
    exports = srv.data_dir / "parquet"
    run = run_job(srv, "parquet_export")
    assert run["rows"] == sql(srv, "SELECT count(*) FROM spans")[1][0][0] == 60 * 2, run
    assert len(parquet_rows(exports, "spans")) == 120
    assert run_job(srv, "parquet_export")["rows"] == 0, "nothing sealed since: nothing exported"

    # a second seal, then a compaction merging both small segments: the export catches up
    # first, and the merged segment (holding the seal id of what it merged) is not exported again
    send(srv, workload(seed=22, count=40, start_ns=now - 300 * SEC, step_ns=5 * SEC))
    srv.restart()
    total = sql(srv, "SELECT count(*) FROM spans")[1][0][0]
    r = requests.post(f"{srv.api_base}/api/v1/retention/compact", timeout=120)
    assert r.status_code == 200, r.text
    assert r.json()["segments_merged"] >= 2, r.json()
    assert run_job(srv, "parquet_export")["rows"] == 0
    rows = parquet_rows(exports, "spans")
    assert len(rows) == total == 200 and len({r["span_id"] for r in rows}) == 200

    # an export that cannot be written fails the job, and the compaction with it: nothing is merged
    send(srv, workload(seed=23, count=10, start_ns=now - 100 * SEC, step_ns=5 * SEC))
    srv.restart()
    aside = srv.data_dir / "parquet-aside"
    exports.rename(aside)
    exports.write_text("not a directory")
    try:
        r = requests.post(f"{srv.api_base}/api/v1/jobs/parquet_export/run", timeout=10)
        assert r.status_code == 202
        wait_until(lambda: requests.get(f"{srv.api_base}/api/v1/jobs/parquet_export/runs", timeout=10).json()["runs"][0]["status"]
                   == "error", timeout=30, what="the failed export")
        error = requests.get(f"{srv.api_base}/api/v1/jobs/parquet_export/runs", timeout=10).json()["runs"][0]["error"]
        assert "cannot create directory (kind=spans)" in error and str(srv.data_dir) not in error, error
        stored_segments = segment_count(srv)
        r = requests.post(f"{srv.api_base}/api/v1/retention/compact", timeout=120)
        assert r.status_code >= 500, r.text
        assert str(srv.data_dir) not in r.text
        assert segment_count(srv) == stored_segments, "nothing merged while the export is behind"
    finally:
        exports.unlink()
        aside.rename(exports)
    assert run_job(srv, "parquet_export")["rows"] == 20
    rows = parquet_rows(exports, "spans")
    assert len(rows) == sql(srv, "SELECT count(*) FROM spans")[1][0][0] == 220 and len({r["span_id"] for r in rows}) == 220


def segment_count(srv) -> int:
    storage = requests.get(f"{srv.api_base}/api/v1/retention", timeout=10).json()["storage"]
    return storage["spans"]["segments"]
