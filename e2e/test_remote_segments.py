"""The object-storage tier of sealed segments (issue 27): with `storage.remote`, the
segment_offload job moves segments older than `storage.remote.after` to a real S3-compatible
server (SeaweedFS, started here): upload, verify, record the key in the index, remove the local
file. SQL, trace lookups and the trace list then answer exactly as they did over the local
files, through ranged GETs and a local cache (cold after deleting it, warm after). The process
killed with SIGKILL at each step of an upload loses nothing, and a later run finishes the move;
a bucket refusing writes keeps the segments local and says why; retention deletes the objects
of expired remote segments."""

from __future__ import annotations

import json
import subprocess
import time

import pyarrow.fs as pafs
import pytest
import requests

from harness import STORE_CONFIG, merge_config
from s3_helpers import S3_ACCESS_KEY, S3_SECRET_KEY, SeaweedFS
from store_helpers import wait_until
from test_jobs_costs import failed_run, run_job, send, workload

SEC = 10**9
HOUR = 3600 * SEC
BUCKET = "pyflare-segments"

QUERIES = [
    "SELECT count(*), sum(input_tokens), sum(output_tokens), sum(cost_micros) FROM spans",
    "SELECT model, count(*), sum(input_tokens) FROM spans GROUP BY model ORDER BY model",
    "SELECT trace_id, span_id, name, start_time_ns, duration_ns, attributes FROM spans ORDER BY trace_id, span_id",
    "SELECT service, sum(status = 'error') FROM spans GROUP BY service ORDER BY service",
]


@pytest.fixture(scope="module")
def seaweedfs(tmp_path_factory):
    s3 = SeaweedFS(tmp_path_factory.mktemp("seaweedfs"), buckets=[BUCKET]).start()
    yield s3
    s3.stop()


def config(s3: SeaweedFS, prefix: str, secret: str = S3_SECRET_KEY, **remote) -> dict:
    return merge_config(STORE_CONFIG, {"scheduler": {"enabled": False}, "storage": {"remote": {
        "after": "1h", **remote,
        "s3": {"endpoint": s3.endpoint, "bucket": BUCKET, "prefix": prefix, "access_key_id": S3_ACCESS_KEY, "secret_access_key": secret},
    }}})


def bucket_keys(s3: SeaweedFS, prefix: str) -> list[str]:
    fs = pafs.S3FileSystem(access_key=S3_ACCESS_KEY, secret_key=S3_SECRET_KEY, endpoint_override=f"127.0.0.1:{s3.s3_port}",
                           scheme="http", region="us-east-1")
    try:
        infos = fs.get_file_info(pafs.FileSelector(f"{BUCKET}/{prefix}", recursive=True))
    except FileNotFoundError:
        return []
    return sorted(f.path.removeprefix(f"{BUCKET}/{prefix}/") for f in infos if f.type == pafs.FileType.File)


def sql(srv, statement: str) -> list:
    r = requests.post(f"{srv.api_base}/api/v1/sql", json={"sql": statement}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()["rows"]


def local_segments(srv) -> list[str]:
    return sorted(p.name for p in (srv.data_dir / "segments").glob("*.seg"))


def storage(srv) -> dict:
    return requests.get(f"{srv.api_base}/api/v1/retention", timeout=10).json()["storage"]["spans"]


def answers(srv) -> dict:
    """What a user reads: SQL, the trace list, and every trace's document."""
    listed = srv.list_all_traces(page_size=7)
    return {
        "sql": [sql(srv, q) for q in QUERIES],
        "list": listed,
        "traces": {t["trace_id"]: srv.get_trace(t["trace_id"]) for t in listed},
    }


def fill(srv, seed: int, count: int = 120) -> None:
    """Spans three hours old (older than storage.remote.after), sealed in two segments."""
    start = time.time_ns() - 3 * HOUR
    send(srv, workload(seed=seed, count=count // 2, start_ns=start, step_ns=5 * SEC))
    srv.restart()
    send(srv, workload(seed=seed + 1, count=count // 2, start_ns=start + 600 * SEC, step_ns=5 * SEC))
    srv.restart()


def fetches(srv) -> float:
    return srv.metrics().total("pyflare_remote_segment_fetches_total")


def test_remote_segments_answer_as_local_ones_with_a_cold_and_a_warm_cache(seaweedfs, start_server):
    srv = start_server(config(seaweedfs, "node-a"), name="remote-answers")
    fill(srv, seed=41)
    before = answers(srv)
    assert before["sql"][0][0][0] == 240 and len(before["list"]) == 120
    segments = local_segments(srv)
    assert len(segments) == 2, segments

    run = run_job(srv, "segment_offload")
    assert run["rows"] == 2
    assert local_segments(srv) == [], "moved segments are removed locally"
    assert bucket_keys(seaweedfs, "node-a") == [f"segments/{name}" for name in segments]
    assert storage(srv)["remote_segments"] == 2 and storage(srv)["segments"] == 2
    assert answers(srv) == before, "remote segments answer as the local files did"
    # The command line reads them too, with the server's configuration, beside the running server.
    out = subprocess.run([str(srv.binary), "sql", "--config", str(srv.config_path), "--data-dir", str(srv.data_dir),
                          QUERIES[0], "--format", "json"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["rows"] == before["sql"][0]

    # Cold: the cache is gone; every range comes from the bucket again.
    srv.stop_ok()
    cache = srv.data_dir / "remote-cache"
    assert any(cache.iterdir()), "ranges read were cached on disk"
    for f in cache.iterdir():
        f.unlink()
    srv.start()
    assert fetches(srv) == 0
    assert answers(srv) == before, "cold cache"
    cold = fetches(srv)
    assert cold > 0
    assert answers(srv) == before, "warm cache"
    assert fetches(srv) == cold, "a warm cache reads nothing from the bucket"

    # Restarted with the cache kept: still warm.
    srv.restart()
    assert answers(srv) == before
    assert fetches(srv) == 0
    assert run_job(srv, "segment_offload")["rows"] == 0, "nothing left to move"


@pytest.mark.parametrize("step", ["before_upload", "after_upload", "after_index"])
def test_sigkill_at_each_step_of_an_upload_loses_nothing(seaweedfs, start_server, step):
    prefix = f"kill-{step}"
    srv = start_server(config(seaweedfs, prefix), name=f"remote-kill-{step}", env={"PYFLARE_TEST_KILL_AT": f"offload:{step}"})
    fill(srv, seed=43)
    before = answers(srv)
    requests.post(f"{srv.api_base}/api/v1/jobs/segment_offload/run", timeout=10)
    wait_until(lambda: not srv.running, timeout=60, what=f"the process killed {step}")
    assert srv.proc.returncode == -9

    srv.env = {}
    srv.start()
    assert answers(srv) == before, f"after SIGKILL {step}"
    moved = len(bucket_keys(seaweedfs, prefix))
    assert moved == (0 if step == "before_upload" else 1), bucket_keys(seaweedfs, prefix)
    if step == "after_index":
        assert len(local_segments(srv)) == 1, "recovery deleted the local copy of the segment the index says is remote"
        assert "deleted the local copy of remote segments/" in srv.logs()
    else:
        assert len(local_segments(srv)) == 2, "until the index names the object, the local file is the segment"
    assert run_job(srv, "segment_offload")["rows"] == (1 if step == "after_index" else 2)
    assert local_segments(srv) == [] and len(bucket_keys(seaweedfs, prefix)) == 2
    assert answers(srv) == before


def test_a_bucket_refusing_writes_keeps_segments_local_and_says_why(seaweedfs, start_server):
    wrong = "not-the-secret-of-this-bucket"
    srv = start_server(config(seaweedfs, "refused", secret=wrong), name="remote-refused")
    fill(srv, seed=45, count=40)
    before = answers(srv)
    r = requests.post(f"{srv.api_base}/api/v1/jobs/segment_offload/run", timeout=10)
    assert r.status_code == 202

    error = failed_run(srv, "segment_offload")["error"]
    assert "PUT s3 object refused/segments/" in error and "HTTP 403" in error, error
    assert wrong not in error and str(srv.data_dir) not in error, error
    assert wrong not in srv.logs()
    assert len(local_segments(srv)) == 2 and storage(srv)["remote_segments"] == 0
    assert bucket_keys(seaweedfs, "refused") == []
    assert answers(srv) == before

    srv.stop_ok()
    srv.config = merge_config(srv.config, config(seaweedfs, "refused"))
    srv.start()
    assert run_job(srv, "segment_offload")["rows"] == 2
    assert answers(srv) == before


def test_retention_and_compaction_work_on_remote_segments(seaweedfs, start_server):
    srv = start_server(merge_config(config(seaweedfs, "retained"), {"compaction": {"delete_grace": "0"}}), name="remote-retention")
    fill(srv, seed=47, count=80)
    assert run_job(srv, "segment_offload")["rows"] == 2
    before = answers(srv)

    # Compaction merges the two small remote segments: read from the bucket, written locally,
    # the replaced objects deleted.
    assert run_job(srv, "retention")["status"] == "ok"
    assert len(local_segments(srv)) == 1, "the merged segment is local until it is old enough to move"
    assert storage(srv)["remote_segments"] == 0
    wait_until(lambda: bucket_keys(seaweedfs, "retained") == [], timeout=30, what="the replaced objects deleted")
    assert answers(srv) == before
    assert run_job(srv, "segment_offload")["rows"] == 1
    assert len(bucket_keys(seaweedfs, "retained")) == 1 and answers(srv) == before

    # Retention of two hours expires every span (three hours old): the remote segment and its object go.
    srv.stop_ok()
    srv.config = merge_config(srv.config, {"retention": {"spans": "2h"}})
    srv.start()
    run_job(srv, "retention")
    assert sql(srv, "SELECT count(*) FROM spans") == [[0]]
    assert storage(srv)["segments"] == 0
    wait_until(lambda: bucket_keys(seaweedfs, "retained") == [], timeout=30, what="the expired object deleted")
