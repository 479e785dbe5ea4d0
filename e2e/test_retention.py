"""Retention and compaction, end to end against the built server: the policy API, a store of
many small segments compacted into few with every answer unchanged, expired spans gone while
their rollups stay, `pyflare compact [--dry-run]`, and the disk-full floor (503 / UNAVAILABLE,
/ready, recovery) with a simulated free-space source and with a real, small tmpfs."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import grpc
import pytest
import requests

from harness import STORE_CONFIG, merge_config
from otlp_helpers import make_request, make_span, new_ids
from store_helpers import wait_until
from test_otlp_grpc import call, export_stub, grpc_channel

SEC = 1_000_000_000
MINUTE = 60 * SEC
HOUR = 60 * MINUTE
DAY = 24 * HOUR

RETENTION_CONFIG = merge_config(STORE_CONFIG, {
    "scheduler": {"enabled": False},
    "segments": {"max_age_ms": 100},
    "retention": {"spans": "2d", "logs": "2d", "metric_points": "2d", "outputs": "0"},
    "compaction": {"delete_grace": "0", "small_segment_bytes": 1 << 30},
})


def post_spans(srv, spans, service="retention-e2e", resource=None) -> requests.Response:
    body = make_request(spans, service=service, resource_attributes=resource).SerializeToString()
    return requests.post(srv.traces_url, data=body, headers={"Content-Type": "application/x-protobuf"}, timeout=10)


def sql(srv, statement: str) -> list:
    r = requests.post(f"{srv.api_base}/api/v1/sql", json={"sql": statement}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()["rows"]


def segment_files(srv) -> list[Path]:
    return sorted((srv.data_dir / "segments").glob("*.seg"))


def llm_span(trace_id, start, model, tokens, parent=b""):
    return make_span(trace_id=trace_id, name=f"chat {model}", start=start, parent=parent, attributes={
        "gen_ai.request.model": model, "gen_ai.operation.name": "chat",
        "gen_ai.usage.input_tokens": tokens, "gen_ai.usage.output_tokens": tokens // 2,
    })


def send_batches(srv, now):
    """12 requests a few hundred ms apart (so each seals into its own segment): each holds two
    traces, one 5 days old (expired under 2d) and one 1 hour old. Returns the trace ids."""
    old, recent = [], []
    for i in range(12):
        spans = []
        for age, into in ((5 * DAY, old), (HOUR, recent)):
            trace_id, root_id = new_ids()
            start = now - age + i * MINUTE
            root = make_span(trace_id=trace_id, span_id=root_id, name="handle", start=start, duration=5_000_000)
            spans += [root, llm_span(trace_id, start + 1000, "gpt-4o" if i % 2 else "gpt-4o-mini", 100 + i, parent=root_id)]
            into.append(trace_id.hex())
        r = post_spans(srv, spans)
        assert r.status_code == 200, r.text
        time.sleep(0.3)
    return old, recent


def answers(srv) -> dict:
    return {
        "by_model": sql(srv, "SELECT model, count(*), sum(input_tokens), sum(output_tokens) FROM spans "
                             "WHERE model IS NOT NULL GROUP BY model ORDER BY model"),
        "count": sql(srv, "SELECT count(*) FROM spans")[0][0],
        "traces": sql(srv, "SELECT count(*), sum(span_count) FROM traces")[0],
    }


def compact(srv, **params) -> dict:
    r = requests.post(f"{srv.api_base}/api/v1/retention/compact", params=params, timeout=120)
    assert r.status_code == 200, r.text
    return r.json()


def test_policy_api_validates_and_persists(start_server):
    srv = start_server(RETENTION_CONFIG, name="retention-policy")
    base = f"{srv.api_base}/api/v1/retention"
    body = requests.get(base, timeout=10).json()
    assert body["source"] == "config"
    assert body["policy"]["spans"] == "2d" and body["policy"]["outputs"] == "0" and body["policy"]["max_bytes"] == 0
    assert body["storage"]["spans"]["segments"] == 0 and body["disk"]["low"] is False

    for bad, field in [({"spans": "ten days"}, "spans"), ({"overrides": [{"age": "1d"}]}, "overrides[0]"),
                       ({"overrides": [{"service": "a"}]}, "overrides[0].age"), ({"max_bytes": -1}, "max_bytes"),
                       ({"nonsense": 1}, "nonsense")]:
        r = requests.put(base, json=bad, timeout=10)
        assert r.status_code == 400, (bad, r.text)
        assert field in r.text, (bad, r.text)
    r = requests.put(base, data="{}", headers={"Content-Type": "text/plain"}, timeout=10)
    assert r.status_code == 415

    policy = {"spans": "7d", "overrides": [{"service": "checkout", "age": "90d"}, {"environment": "dev", "age": 86400}],
              "max_bytes": 10 << 30, "output_tables": {"rollup_1m": "30d"}}
    r = requests.put(base, json=policy, timeout=10)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["source"] == "api"
    assert got["policy"]["spans"] == "7d" and got["policy"]["logs"] == "2d"  # unset fields keep the configured value
    assert got["policy"]["overrides"] == [{"service": "checkout", "age": "90d"}, {"environment": "dev", "age": "1d"}]
    assert got["policy"]["output_tables"] == {"rollup_1m": "30d"} and got["policy"]["max_bytes"] == 10 << 30

    srv.stop_ok()
    srv.start()
    base = f"{srv.api_base}/api/v1/retention"
    assert requests.get(base, timeout=10).json()["policy"]["spans"] == "7d", "the API's policy outlives a restart"
    r = requests.delete(base, timeout=10)
    assert r.status_code == 200 and r.json()["source"] == "config" and r.json()["policy"]["spans"] == "2d"


def test_compaction_merges_expires_and_keeps_answers(start_server, pyflare_binary):
    srv = start_server(RETENTION_CONFIG, name="retention-compact")
    now = time.time_ns()
    old, recent = send_batches(srv, now)
    wait_until(lambda: len(segment_files(srv)) >= 12, what="12 sealed segments")
    for job in ("rollup_1m", "rollup_1h"):
        requests.post(f"{srv.api_base}/api/v1/jobs/{job}/run", timeout=10)
    wait_until(lambda: sql(srv, "SELECT count(*) FROM rollup_1h WHERE bucket_ns < %d" % (now - 4 * DAY))[0][0] > 0,
               timeout=60, what="rollups of the old spans")
    rollups_before = sql(srv, "SELECT bucket_ns, model, requests, input_tokens FROM rollup_1h ORDER BY 1, 2")
    before = answers(srv)
    assert before["count"] == 48
    files_before = segment_files(srv)
    bytes_before = sum(f.stat().st_size for f in files_before)

    dry = compact(srv, dry_run="true")
    assert dry["dry_run"] is True and dry["segments_merged"] == len(files_before)
    assert segment_files(srv) == files_before and answers(srv) == before, "a dry run changes nothing"

    report = compact(srv)
    assert report["dry_run"] is False
    assert report["segments_merged"] == len(files_before) and report["segments_written"] == 1, report
    assert report["rows_expired"] == 24, report
    after_files = segment_files(srv)
    assert len(after_files) == 1 and after_files[0].name.endswith("-c.seg")
    assert sum(f.stat().st_size for f in after_files) < bytes_before
    assert report["segment_bytes_reclaimed"] == bytes_before

    after = answers(srv)
    assert after["count"] == 24
    assert sql(srv, "SELECT count(*) FROM spans WHERE start_time_ns < %d" % (now - 2 * DAY))[0][0] == 0
    assert after["traces"] == [12, 24], "trace summaries of expired traces are gone"
    for trace_id in recent:
        doc = srv.api_get(f"/api/v1/traces/{trace_id}").json()
        assert len(doc["spans"]) == 2
    for trace_id in old[:3]:
        assert srv.api_get(f"/api/v1/traces/{trace_id}").status_code == 404

    # rollups of the expired hours remain, and recomputing never overwrites them with less
    for job in ("rollup_1m", "rollup_1h"):
        requests.post(f"{srv.api_base}/api/v1/jobs/{job}/run", timeout=10)
        wait_until(lambda: requests.get(f"{srv.api_base}/api/v1/jobs/{job}/runs", timeout=10).json()["runs"][0]["status"] == "ok",
                   timeout=60, what=f"{job} after compaction")
    assert sql(srv, "SELECT bucket_ns, model, requests, input_tokens FROM rollup_1h ORDER BY 1, 2") == rollups_before
    state = requests.get(f"{srv.api_base}/api/v1/retention", timeout=10).json()
    assert state["storage"]["spans"]["retention_floor"] is not None
    assert state["last_compaction"]["report"]["rows_expired"] == 24

    # compacting again finds nothing to do
    again = compact(srv)
    assert again["segments_merged"] == 0 and again["segments_deleted"] == 0 and again["rows_expired"] == 0

    # the command, with the server stopped
    srv.stop_ok()
    out = subprocess.run([str(pyflare_binary), "compact", "--dry-run", "--config", str(srv.config_path),
                          "--data-dir", str(srv.data_dir)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "nothing to merge, rewrite or delete" in out.stdout
    srv.start()
    assert answers(srv) == after


def test_compact_command_reports_and_size_cap_frees_disk(start_server, pyflare_binary):
    config = merge_config(RETENTION_CONFIG, {"retention": {"spans": "0"}, "compaction": {"small_segment_bytes": 0}})
    srv = start_server(config, name="retention-cap")
    now = time.time_ns()
    send_batches(srv, now)
    wait_until(lambda: len(segment_files(srv)) >= 12, what="12 sealed segments")
    srv.stop_ok()
    files = segment_files(srv)
    total = sum(f.stat().st_size for f in files)
    cap = total // 2
    command = [str(pyflare_binary), "compact", "--config", str(srv.config_path), "--data-dir", str(srv.data_dir)]
    env = dict(os.environ, PYFLARE_RETENTION_MAX_BYTES=str(cap))
    dry = subprocess.run(command + ["--dry-run"], capture_output=True, text=True, timeout=60, env=env)
    assert dry.returncode == 0, dry.stderr
    assert "would be" in dry.stdout and "size_cap" in dry.stdout
    assert segment_files(srv) == files

    out = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    assert "size_cap" in out.stdout and "deleted" in out.stdout
    left = segment_files(srv)
    assert sum(f.stat().st_size for f in left) <= cap < total
    # the oldest went first: the remaining segments are the newest ones
    assert left == files[-len(left):]


def _set_free(path: Path, value: int) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(str(value))
    tmp.replace(path)


def _expect_floor_refusal(srv, trace_ids) -> None:
    r = post_spans(srv, [make_span()])
    assert r.status_code == 503, r.text
    assert int(r.headers["Retry-After"]) > 0
    assert "free space" in r.text
    ready = requests.get(f"{srv.api_base}/ready", timeout=5)
    assert ready.status_code == 503 and "free space" in ready.text
    with grpc_channel(srv) as channel:
        answer = call(export_stub(channel), make_request([make_span()]))
    assert answer.code == grpc.StatusCode.UNAVAILABLE, answer


def test_disk_floor_refuses_and_recovers_with_simulated_free_space(start_server, tmp_path, monkeypatch):
    free = tmp_path / "free-bytes"
    _set_free(free, 10 << 30)
    monkeypatch.setenv("PYFLARE_SIMULATED_FREE_BYTES_FILE", str(free))
    srv = start_server(merge_config(STORE_CONFIG, {"storage": {"min_free_bytes": 1 << 30}}), name="disk-floor")
    assert post_spans(srv, [make_span()]).status_code == 200
    assert requests.get(f"{srv.api_base}/ready", timeout=5).status_code == 200

    _set_free(free, 100 << 20)
    wait_until(lambda: post_spans(srv, [make_span()]).status_code == 503, timeout=10, what="ingest refused below the floor")
    _expect_floor_refusal(srv, [])
    assert srv.metrics().total("pyflare_disk_low") == 1

    # just above the floor is not enough (5% margin); well above it, ingest resumes by itself
    _set_free(free, (1 << 30) + 1)
    time.sleep(1.5)
    assert post_spans(srv, [make_span()]).status_code == 503
    _set_free(free, 2 << 30)
    wait_until(lambda: post_spans(srv, [make_span()]).status_code == 200, timeout=10, what="ingest resumed")
    assert requests.get(f"{srv.api_base}/ready", timeout=5).status_code == 200


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if shutil.which("mount") is None:
        return False
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    return result.returncode == 0


def test_disk_floor_on_a_small_real_filesystem(start_server, tmp_path):
    mount = tmp_path / "small-fs"
    if not _mount_tmpfs(mount, "96m"):
        pytest.skip("cannot mount a tmpfs here (not root); the simulated free-space test covers the floor")
    try:
        from harness import PyflareServer
        srv = start_server(merge_config(STORE_CONFIG, {"storage": {"min_free_bytes": 48 << 20}}), name="small-fs")
        # the server's data directory on the small file system
        srv.stop_ok()
        srv.data_dir = mount / "data"
        srv.start()
        trace_id, _ = new_ids()
        assert post_spans(srv, [make_span(trace_id=trace_id)]).status_code == 200
        ballast = mount / "ballast"
        with open(ballast, "wb") as f:
            f.write(b"\0" * (60 << 20))
        wait_until(lambda: post_spans(srv, [make_span()]).status_code == 503, timeout=10, what="ingest refused on a full disk")
        _expect_floor_refusal(srv, [])
        # what was acknowledged before is still there
        assert srv.api_get(f"/api/v1/traces/{trace_id.hex()}").status_code == 200
        ballast.unlink()
        wait_until(lambda: post_spans(srv, [make_span()]).status_code == 200, timeout=10, what="ingest resumed")
        srv.stop_ok()
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)
