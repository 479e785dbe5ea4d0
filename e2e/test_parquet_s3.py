"""Parquet export to object storage (issue 27): with `export.parquet.s3` set, the parquet_export
job uploads each file it writes to a real S3-compatible server (SeaweedFS, started here), checks
the stored bytes (ETag against MD5), and only then removes the local copy; pyarrow's S3
filesystem and chDB's `s3()` read the bucket back as `pyflare sql` shows the rows. A bucket that
refuses the upload (a wrong secret) fails the job, keeps the files local and the position where
it was, and names the reason without the secret."""

from __future__ import annotations

import subprocess
import time

import chdb
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pytest
import requests

from harness import STORE_CONFIG, merge_config, pyflare_bin, to_yaml
from s3_helpers import S3_ACCESS_KEY, S3_SECRET_KEY, SeaweedFS
from test_jobs_costs import failed_run, run_job, send, workload

SEC = 10**9
BUCKET = "pyflare-exports"


@pytest.fixture(scope="module")
def seaweedfs(tmp_path_factory):
    s3 = SeaweedFS(tmp_path_factory.mktemp("seaweedfs"), buckets=[BUCKET]).start()
    yield s3
    s3.stop()


def config(s3: SeaweedFS, prefix: str, secret: str = S3_SECRET_KEY) -> dict:
    return merge_config(STORE_CONFIG, {"scheduler": {"enabled": False}, "export": {"parquet": {
        "dir": "parquet",
        "s3": {"endpoint": s3.endpoint, "bucket": BUCKET, "prefix": prefix, "access_key_id": S3_ACCESS_KEY, "secret_access_key": secret},
    }}})


def bucket_fs(s3: SeaweedFS) -> pafs.S3FileSystem:
    return pafs.S3FileSystem(access_key=S3_ACCESS_KEY, secret_key=S3_SECRET_KEY, endpoint_override=f"127.0.0.1:{s3.s3_port}",
                             scheme="http", region="us-east-1")


def sql_rows(srv, statement: str) -> list:
    r = requests.post(f"{srv.api_base}/api/v1/sql", json={"sql": statement}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()["rows"]


def local_parquet(srv) -> list:
    return sorted((srv.data_dir / "parquet").rglob("*.parquet"))


def test_the_export_lands_in_the_bucket_and_reads_back_in_pyarrow_and_chdb(seaweedfs, start_server):
    srv = start_server(config(seaweedfs, "fleet/node-a"), name="parquet-s3")
    send(srv, workload(seed=31, count=80, start_ns=time.time_ns() - 600 * SEC, step_ns=5 * SEC))
    srv.restart()  # sealed at close
    run = run_job(srv, "parquet_export")
    total, tokens = sql_rows(srv, "SELECT count(*), sum(input_tokens) FROM spans")[0]
    assert run["rows"] == total == 160
    assert local_parquet(srv) == [], "uploaded files are removed locally"

    fs = bucket_fs(seaweedfs)
    keys = [f.path for f in fs.get_file_info(pafs.FileSelector(f"{BUCKET}/fleet/node-a", recursive=True)) if f.path.endswith(".parquet")]
    assert keys and all("/kind=spans/date=" in k for k in keys), keys
    table = ds.dataset(f"{BUCKET}/fleet/node-a/kind=spans", filesystem=fs, format="parquet", partitioning="hive").to_table()
    assert table.num_rows == total
    assert sum(v for v in table.column("input_tokens").to_pylist() if v is not None) == tokens
    assert sorted(table.column("span_id").to_pylist()) == sorted(r[0] for r in sql_rows(srv, "SELECT span_id FROM spans"))

    url = f"{seaweedfs.endpoint}/{BUCKET}/fleet/node-a/kind=spans/*/*.parquet"
    answer = chdb.query(f"SELECT count(), sum(input_tokens) FROM s3('{url}', '{S3_ACCESS_KEY}', '{S3_SECRET_KEY}', 'Parquet')", "CSV")
    assert answer.bytes().decode().strip() == f"{total},{tokens}"

    assert run_job(srv, "parquet_export")["rows"] == 0, "nothing sealed since: nothing uploaded again"


def test_a_bucket_that_refuses_the_upload_keeps_the_files_local_and_says_why(seaweedfs, start_server):
    wrong = "not-the-secret-of-this-bucket"
    srv = start_server(config(seaweedfs, "refused", secret=wrong), name="parquet-s3-refused")
    send(srv, workload(seed=32, count=30, start_ns=time.time_ns() - 600 * SEC, step_ns=5 * SEC))
    srv.restart()
    r = requests.post(f"{srv.api_base}/api/v1/jobs/parquet_export/run", timeout=10)
    assert r.status_code == 202
    error = failed_run(srv, "parquet_export")["error"]
    assert "PUT s3 object refused/kind=spans/date=" in error and "HTTP 403" in error, error
    assert wrong not in error and str(srv.data_dir) not in error, error
    assert wrong not in srv.logs()
    assert len(local_parquet(srv)) >= 1, "the files stay local"

    # The same node with the right secret: the files are written and uploaded again, none lost.
    srv.stop_ok()
    srv.config = merge_config(srv.config, config(seaweedfs, "refused"))
    srv.start()
    assert run_job(srv, "parquet_export")["rows"] == 60
    assert local_parquet(srv) == []
    table = ds.dataset(f"{BUCKET}/refused/kind=spans", filesystem=bucket_fs(seaweedfs), format="parquet", partitioning="hive").to_table()
    assert table.num_rows == 60


def test_an_s3_endpoint_without_a_bucket_is_refused_at_start(seaweedfs, tmp_path):
    bad = config(seaweedfs, "x")
    bad["export"]["parquet"]["s3"]["bucket"] = ""
    path = tmp_path / "pyflare.yaml"
    path.write_text(to_yaml(bad))
    done = subprocess.run([str(pyflare_bin()), "serve", "--config", str(path), "--data-dir", str(tmp_path / "data")],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    assert "export.parquet.s3.bucket: must be set with export.parquet.s3.endpoint" in done.stderr, done.stderr
