"""The Quality and Operations pages in real headless Chromium against a real server.

Quality (`#/quality`): the evaluation summary by evaluator and by model shows the figures
/api/v1/evaluations/summary answers; the failing spans are those of `passed=false`, each linked
to its trace; the drift alert of the shifted model carries the API's score; the heatmap has one
cell a feature and window with the API's values (on hover and in its table view); a reference
pinned from the page is the API's pinned reference, and unpinned again.

Operations (`#/operations`): the accepted-span total is the API's; storage per kind is what
/api/v1/retention says; "Run now" on a job adds a run to its list; a dry-run compaction shows
its report and leaves the segments as they were; a real one then shows in the runs.
Screenshots: e2e/.artifacts/ui/quality.png and operations.png.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import numpy as np
import pytest
import requests

from browser_helpers import browser, console_errors, downloads, open_hash, shot, wait_for  # noqa: F401 (fixtures)
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from store_helpers import wait_until
from test_jobs_costs import run_job
from test_quality import HOUR, get, llm_span, quality_config, seed_drift_and_quality_drop, sql, tracer_provider, wait_spans


def fmt_int(n) -> str:
    return "—" if n is None else f"{n:,}"


def fmt_score(v) -> str:
    """quality.js's fmtScore."""
    if v is None:
        return "—"
    if v == 0:
        return "0"
    if abs(v) >= 0.01:
        return f"{v:.3f}"
    mantissa, exponent = f"{v:.2e}".split("e")
    return f"{mantissa}e{int(exponent):+d}"


def percent(v) -> str:
    return "—" if v is None else f"{v * 100:.1f}%"


def iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def since_24h() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 24 * 3600))


@pytest.fixture(scope="module")
def seeded(module_server_factory):
    """test_quality's drift and quality drop, without the judge (no `evaluations.judge`)."""
    config = quality_config("http://127.0.0.1:9/v1")
    config["evaluations"].pop("judge")
    if not config["evaluations"]:
        config.pop("evaluations")
    srv = module_server_factory(config, name="ui-quality-ops")
    now = time.time_ns()
    hour = now // HOUR * HOUR
    rng = np.random.default_rng(2026)
    provider = tracer_provider(srv, "assistant")
    tracer = provider.get_tracer("pyflare.e2e.ui")
    sent = 0
    sent += seed_drift_and_quality_drop(tracer, now, hour, rng)
    provider.shutdown()
    wait_spans(srv, sent)
    # A few small segments more, sealed one after the other, for compaction to merge.
    for batch in range(3):
        provider = tracer_provider(srv, "ops")
        tracer = provider.get_tracer("pyflare.e2e.ui")
        for i in range(5):
            span, end = llm_span(tracer, time.time_ns(), "ops-model")
            span.end(end_time=end)
            sent += 1
        provider.shutdown()
        wait_spans(srv, sent)
        wait_until(lambda: get(srv, "/api/v1/operations")["store"]["unsealed_spans"] == 0, timeout=30, what="the batch sealed")
    for job in ["evaluations", "drift"]:
        run_job(srv, job)
    return {"srv": srv, "sent": sent, "hour": hour}


def full_shot(driver, name: str) -> None:
    """A screenshot of the whole page: the window made as tall as the page, then restored."""
    size = driver.get_window_size()
    driver.execute_script("window.scrollTo(0, 0)")
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(size["width"], min(max(height + 120, size["height"]), 4000))
    time.sleep(0.2)
    shot(driver, name)
    driver.set_window_size(size["width"], size["height"])


def summary_rows(driver) -> dict:
    return driver.execute_script("""
        const out = {};
        for (const row of document.querySelectorAll('[data-testid=eval-summary] [data-testid=eval-row]')) {
          const cols = {};
          for (const c of row.querySelectorAll('[data-col]')) cols[c.dataset.col] = c.textContent;
          out[row.dataset.name + '|' + row.dataset.key] = cols;
        }
        return out;""")


def expected_rows(body: dict, key: str) -> dict:
    return {f"{g['name']}|{g[key]}": {"count": fmt_int(g["count"]), "scored": fmt_int(g["scored"]), "mean_score": fmt_score(g["mean_score"]),
                                      "passed": fmt_int(g["passed"]), "failed": fmt_int(g["failed"]),
                                      "pass_rate": percent(g["pass_rate"]), "fail_rate": percent(g["fail_rate"])}
            for g in body["groups"]}


def test_quality_page(seeded, browser):
    srv, d = seeded["srv"], browser
    console_errors(d)
    open_hash(d, srv, "/quality?range=24h&scope=drift-a")

    # The evaluation summary by evaluator, then by model: the API's figures.
    wait_for(d, lambda d: summary_rows(d), what="the evaluation summary")
    expected = expected_rows(get(srv, "/api/v1/evaluations/summary", since=since_24h(), interval="1h", group_by="name"), "name")
    assert expected and summary_rows(d) == expected
    assert "correctness|correctness" in expected
    assert d.find_elements(By.CSS_SELECTOR, "[data-testid=chart-pass-rate] svg") and d.find_elements(By.CSS_SELECTOR, "[data-testid=chart-verdicts] svg")

    # The failing spans: those of passed=false, each linked to its trace and span.
    failing = get(srv, "/api/v1/evaluations", since=since_24h(), passed="false", limit="50")["evaluations"]
    assert len(failing) == 25  # 5 of the 100 stable spans, 20 of the 40 beta ones
    wait_for(d, lambda d: len(d.find_elements(By.CSS_SELECTOR, "[data-testid=failing-row]")) == len(failing), what="the failing spans")
    links = d.execute_script("return [...document.querySelectorAll('[data-testid=failing-link]')].map(a => a.getAttribute('href'))")
    assert sorted(links) == sorted(f"#/trace/{e['trace_id']}?span={e['span_id']}" for e in failing)

    # The drift alerts, with the API's scores formatted as the page formats them.
    alerts = get(srv, "/api/v1/drift/alerts", since=since_24h())["alerts"]
    wait_for(d, lambda d: len(d.find_elements(By.CSS_SELECTOR, "[data-testid=drift-alert]")) == len(alerts) > 0, what="the drift alerts")
    shown = d.execute_script("""return [...document.querySelectorAll('[data-testid=drift-alert]')].map(r =>
        [r.dataset.scope, r.dataset.feature, r.querySelector('[data-col=score]').textContent])""")
    assert sorted(map(tuple, shown)) == sorted((a["scope"], a["feature"], fmt_score(a["score"])) for a in alerts)
    flagged = {(a["scope"], a["feature"]) for a in alerts}
    assert ("drift-a", "input_tokens") in flagged and ("drift-a", "embedding") in flagged
    assert not any(a["scope"] == "drift-b" for a in alerts)

    # The heatmap of drift-a: a cell a feature and window, the API's numbers.
    wait_for(d, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-testid=heatmap-cell]"), timeout=30, what="the heatmap")
    cells = d.execute_script("""return [...document.querySelectorAll('[data-testid=heatmap-cell]')].map(c =>
        ({feature: c.dataset.feature, window: c.dataset.window, score: c.dataset.score, text: c.textContent, title: c.getAttribute('title')}))""")
    heatmap = get(srv, "/api/v1/drift/heatmap", scope="drift-a", since=cells[0]["window"])
    assert len(cells) == len(heatmap["features"]) * len(heatmap["windows"])
    assert [c["window"] for c in cells[:len(heatmap["windows"])]] == heatmap["windows"]
    by_cell = {(c["feature"], c["window"]): c for c in cells}
    scored = 0
    for row, feature in enumerate(heatmap["features"]):
        for col, window in enumerate(heatmap["windows"]):
            cell, score = by_cell[(feature, window)], heatmap["scores"][row][col]
            if score is None:
                assert cell["score"] == "" and "too few spans" in cell["title"]
            else:
                scored += 1
                assert float(cell["score"]) == score and cell["text"] == fmt_score(score)
                assert fmt_score(score) in cell["title"] and heatmap["severities"][row][col] in cell["title"]
    assert scored >= 2
    token_alert = next(a for a in alerts if a["scope"] == "drift-a" and a["feature"] == "input_tokens")
    assert by_cell[("input_tokens", token_alert["window_start"])]["text"] == fmt_score(token_alert["score"])
    assert "significant" in d.find_element(By.CSS_SELECTOR, "[data-testid=heatmap-legend]").text
    d.find_element(By.CSS_SELECTOR, "[data-testid=heatmap-toggle]").click()
    table_rows = d.find_elements(By.CSS_SELECTOR, "[data-testid=heatmap-table] tbody tr")
    assert len(table_rows) == len(cells) and d.find_element(By.CSS_SELECTOR, "[data-testid=heatmap-table]").is_displayed()
    d.find_element(By.CSS_SELECTOR, "[data-testid=heatmap-toggle]").click()
    assert d.find_element(By.CSS_SELECTOR, "[data-testid=heatmap]").is_displayed()

    full_shot(d, "quality")

    # Pin a reference from the page: the API has it; unpin: gone.
    assert d.find_element(By.CSS_SELECTOR, "[data-testid=reference-in-use]").text == "configured"
    d.find_element(By.CSS_SELECTOR, "[data-testid=pin-reference]").click()
    wait_for(d, lambda d: d.find_element(By.CSS_SELECTOR, "[data-testid=reference-in-use]").text.startswith("pinned"), what="the pinned reference")
    pinned = get(srv, "/api/v1/drift/references")["pinned"]
    assert [p["scope"] for p in pinned] == ["drift-a"]
    assert iso(pinned[0]["since"]) == iso(heatmap["windows"][-2])
    assert iso(pinned[0]["until"]) - iso(pinned[0]["since"]) == timedelta(seconds=heatmap["step_seconds"])
    d.find_element(By.CSS_SELECTOR, "[data-testid=unpin-reference]").click()
    wait_for(d, lambda d: d.find_element(By.CSS_SELECTOR, "[data-testid=reference-in-use]").text == "configured", what="the reference unpinned")
    assert get(srv, "/api/v1/drift/references")["pinned"] == []

    # By model: one row per evaluator and model.
    Select(d.find_element(By.CSS_SELECTOR, "[data-testid=quality-group]")).select_by_value("model")
    wait_for(d, lambda d: "correctness|qa-model" in summary_rows(d), what="the summary by model")
    expected = expected_rows(get(srv, "/api/v1/evaluations/summary", since=since_24h(), interval="1h", group_by="model"), "model")
    assert summary_rows(d) == expected
    # By feature: the quality drop is the beta feature's.
    Select(d.find_element(By.CSS_SELECTOR, "[data-testid=quality-group]")).select_by_value("feature")
    wait_for(d, lambda d: "correctness|beta" in summary_rows(d), what="the summary by feature")
    expected = expected_rows(get(srv, "/api/v1/evaluations/summary", since=since_24h(), interval="1h", group_by="feature"), "feature")
    assert summary_rows(d) == expected and expected["correctness|beta"]["failed"] == "20"

    # Every range and grouping loads without an error (a long range's heatmap has coarser windows).
    for fragment in ["range=1h", "range=7d&group_by=service", "range=30d", "range=all"]:  # 30 days: more windows than a heatmap holds
        open_hash(d, srv, f"/quality?{fragment}&scope=drift-a")
        try:
            wait_for(d, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-testid=heatmap-cell]") and summary_rows(d)
                     and d.find_elements(By.CSS_SELECTOR, "[data-testid=drift-alerts] tbody tr"), timeout=30, what=f"the page at {fragment}")
        except Exception:
            shot(d, "quality-failed")
            raise AssertionError(d.execute_script("return document.getElementById('view').innerText")[:3000])
        assert d.find_elements(By.CSS_SELECTOR, "[data-testid=error]") == [], fragment
    assert console_errors(d) == []


def segments(srv) -> dict:
    storage = get(srv, "/api/v1/retention")["storage"]
    return {k: (v["segments"], v["rows"], v["bytes"]) for k, v in storage.items() if isinstance(v, dict)}


def test_operations_page(seeded, browser):
    srv, d = seeded["srv"], browser
    console_errors(d)
    wait_until(lambda: get(srv, "/api/v1/operations")["store"]["unsealed_spans"] == 0, timeout=30, what="every span sealed")
    open_hash(d, srv, "/operations")

    # Ingest: the accepted total is the API's (nothing is sent while the page shows).
    ops = get(srv, "/api/v1/operations")
    assert ops["ingest"]["totals"]["spans_accepted"] >= seeded["sent"]
    wait_for(d, lambda d: d.find_element(By.CSS_SELECTOR, "[data-testid=ops-accepted]").text == fmt_int(ops["ingest"]["totals"]["spans_accepted"]),
             what="the accepted total")
    assert d.find_element(By.CSS_SELECTOR, "[data-testid=ops-refused-busy]").text == fmt_int(ops["ingest"]["totals"]["spans_refused_busy"])
    assert len(d.find_elements(By.CSS_SELECTOR, "[data-testid=chart-ingest] .hover-band")) == len(ops["ingest"]["per_minute"])
    queue = d.find_element(By.CSS_SELECTOR, "[data-testid=ops-queue]")
    assert queue.get_attribute("data-bound") == str(ops["ingest"]["queue"]["capacity_spans"])
    unsealed = d.find_element(By.CSS_SELECTOR, "[data-testid=ops-unsealed]")
    assert unsealed.get_attribute("data-bound") == str(ops["store"]["max_unsealed_bytes"])
    assert ops["store"]["wal_fsync"] in d.find_element(By.CSS_SELECTOR, "[data-testid=ops-wal]").text

    # Storage per kind: /api/v1/retention's.
    retention = get(srv, "/api/v1/retention")
    kinds = {k: v for k, v in retention["storage"].items() if isinstance(v, dict)}
    assert kinds["spans"]["rows"] >= seeded["sent"]
    for kind, v in kinds.items():
        row = wait_for(d, lambda d: d.find_element(By.CSS_SELECTOR, f"[data-testid=storage-kinds] tr[data-kind={kind}]"), what=f"storage of {kind}")
        assert row.find_element(By.CSS_SELECTOR, "[data-col=segments]").text == fmt_int(v["segments"])
        assert row.find_element(By.CSS_SELECTOR, "[data-col=rows]").text == fmt_int(v["rows"])
        assert row.find_element(By.CSS_SELECTOR, "[data-col=bytes]").get_attribute("title") == f"{v['bytes']} bytes"

    # Jobs: "Run now" on evaluations adds a run to its list.
    jobs = {j["name"]: j for j in get(srv, "/api/v1/jobs")["jobs"]}
    assert "evaluations" in jobs
    before = get(srv, "/api/v1/jobs/evaluations/runs")["runs"][0]["id"]
    button = wait_for(d, lambda d: d.find_element(By.CSS_SELECTOR, "[data-testid=job-row][data-job=evaluations] [data-testid=job-run]"), what="the job")
    button.click()
    wait_until(lambda: get(srv, "/api/v1/jobs/evaluations/runs")["runs"][0]["id"] > before, timeout=30, what="a new run")
    new_run = get(srv, "/api/v1/jobs/evaluations/runs")["runs"][0]["id"]
    wait_for(d, lambda d: d.find_elements(By.CSS_SELECTOR, f"[data-testid=job-runs][data-job=evaluations] [data-run-id='{new_run}']"),
             timeout=15, what="the new run in the list")

    # Compaction: the dry run shows its report and changes nothing; the real run shows in the runs.
    stored_before = segments(srv)
    assert stored_before["spans"][0] >= 2, stored_before
    d.find_element(By.CSS_SELECTOR, "[data-testid=compact-dry-run]").click()
    report = wait_for(d, lambda d: d.find_element(By.CSS_SELECTOR, "[data-testid=compact-report]"), timeout=30, what="the dry-run report")
    assert report.get_attribute("data-dry-run") == "true"
    dry = get(srv, "/api/v1/retention/runs", limit="1")["runs"][0]
    assert dry["dry_run"] is True
    summary = d.find_element(By.CSS_SELECTOR, "[data-testid=compact-summary]").text
    assert f"{fmt_int(dry['report']['segments_merged'])} segments would be merged" in summary
    assert d.find_element(By.CSS_SELECTOR, "[data-testid=report-segments_merged]").text == fmt_int(dry["report"]["segments_merged"])
    assert segments(srv) == stored_before
    wait_for(d, lambda d: d.find_elements(By.CSS_SELECTOR, f"[data-testid=compaction-run][data-run-id='{dry['id']}'][data-dry-run=true]"),
             timeout=15, what="the dry run in the runs")
    full_shot(d, "operations")

    d.execute_script("window.confirm = () => true")
    d.find_element(By.CSS_SELECTOR, "[data-testid=compact-run]").click()
    wait_for(d, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-testid=compact-report][data-dry-run=false]"), timeout=60, what="the compaction report")
    real = get(srv, "/api/v1/retention/runs", limit="1")["runs"][0]
    assert real["dry_run"] is False and real["id"] > dry["id"] and real["error"] is None
    assert dry["report"]["segments_merged"] >= 2 and real["report"]["segments_merged"] == dry["report"]["segments_merged"]
    wait_until(lambda: segments(srv)["spans"][0] < stored_before["spans"][0], timeout=30, what="the segments merged")
    assert segments(srv)["spans"][1] == stored_before["spans"][1]
    wait_for(d, lambda d: d.find_elements(By.CSS_SELECTOR, f"[data-testid=compaction-run][data-run-id='{real['id']}'][data-dry-run=false]"),
             timeout=15, what="the compaction in the runs")
    full_shot(d, "operations-compacted")

    # The retention policy, edited from the page: kept as the API's, refused with the field named
    # when wrong, and back to the configuration's on reset.
    configured = get(srv, "/api/v1/retention")
    assert configured["source"] == "config"

    def open_editor():
        d.find_element(By.CSS_SELECTOR, "[data-testid=retention-edit]").click()
        return wait_for(d, lambda d: d.find_element(By.CSS_SELECTOR, "[data-testid=retention-editor]"), what="the policy editor")

    def fill(editor, name: str, text: str):
        box = editor.find_element(By.CSS_SELECTOR, f"[data-field={name}] input, [data-field={name}] textarea")
        box.clear()
        box.send_keys(text)

    editor = open_editor()
    fill(editor, "spans", "400d")
    fill(editor, "output_tables", "rollup_1m 60d")
    editor.find_element(By.CSS_SELECTOR, "[data-testid=retention-add-override]").click()
    override = editor.find_element(By.CSS_SELECTOR, "[data-testid=retention-override]")
    override.find_element(By.CSS_SELECTOR, "[data-part=service]").send_keys("checkout")
    override.find_element(By.CSS_SELECTOR, "[data-part=age]").send_keys("90d")
    editor.find_element(By.CSS_SELECTOR, "[data-testid=retention-save]").click()
    wait_until(lambda: get(srv, "/api/v1/retention")["source"] == "api", timeout=10, what="the policy saved")
    policy = get(srv, "/api/v1/retention")["policy"]
    assert policy["spans"] == "400d" and policy["logs"] == configured["policy"]["logs"] and policy["output_tables"] == {"rollup_1m": "60d"}, policy
    assert policy["overrides"] == [{"service": "checkout", "age": "90d"}], policy
    wait_for(d, lambda d: "api" in d.find_element(By.CSS_SELECTOR, "[data-testid=retention-policy] .tag").get_attribute("textContent"), what="the API's policy shown")
    assert not d.find_elements(By.CSS_SELECTOR, "[data-testid=retention-editor]"), "the editor closes once saved"

    editor = open_editor()
    assert editor.find_element(By.CSS_SELECTOR, "[data-part=service]").get_attribute("value") == "checkout"
    fill(editor, "logs", "soon")
    editor.find_element(By.CSS_SELECTOR, "[data-testid=retention-save]").click()
    error = wait_for(d, lambda d: d.find_element(By.CSS_SELECTOR, "[data-testid=retention-editor] [data-testid=error]"), what="the refusal")
    assert "logs" in error.text, error.text
    assert get(srv, "/api/v1/retention")["policy"]["logs"] == configured["policy"]["logs"]
    full_shot(d, "operations-retention-editor")
    editor.find_element(By.CSS_SELECTOR, "[data-testid=retention-reset]").click()
    wait_until(lambda: get(srv, "/api/v1/retention")["source"] == "config", timeout=10, what="the configuration's policy back")
    wait_for(d, lambda d: "config" in d.find_element(By.CSS_SELECTOR, "[data-testid=retention-policy] .tag").get_attribute("textContent"), what="the configuration's policy shown")
    assert console_errors(d, allow=("/api/v1/retention - Failed to load resource: the server responded with a status of 400",)) == []
