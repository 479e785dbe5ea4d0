"""The Costs and Root cause dashboards in headless Chromium over test_rca's seeded workload with
its planted problems — a runaway spender (a cost spike on one user), an error spike on
claude-sonnet-4, a failing pair slice and three error families — each page showing the numbers
of the API it reads; budgets created, edited and deleted from the page. Screenshots go to
e2e/.artifacts/ui/."""

from __future__ import annotations

import time

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from browser_helpers import browser, console_errors, downloads, open_hash, shot, wait_for  # noqa: F401 (fixtures)
from test_jobs_costs import run_job
from test_rca import JOBS, RCA_CONFIG, send, wait_all_sealed, workload
from test_ui import dollars


@pytest.fixture(scope="module")
def seeded(module_server_factory):
    srv = module_server_factory(RCA_CONFIG, name="ui-costs-rca")
    spans = workload(time.time_ns())
    send(srv, spans)
    wait_all_sealed(srv, 2 * len(spans))
    for job in JOBS + ["budgets"]:
        run_job(srv, job)
    return srv


def get(srv, path: str, **params) -> dict:
    r = requests.get(f"{srv.api_base}{path}", params=params, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def test_costs_show_the_spend_the_top_spender_and_manage_budgets(browser, seeded):
    d, srv = browser, seeded
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 86400))
    summary = get(srv, "/api/v1/costs/summary", since=since, group_by="user", interval="1h")
    assert summary["groups"][0]["key"] == "user-runaway", "the planted spender costs most"
    open_hash(d, srv, "/costs?range=24h&group_by=user&interval=1h")
    wait_for(d, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-testid=top-spenders] tbody tr"), what="the spenders")
    assert d.find_element(By.CSS_SELECTOR, "[data-testid=cost-total]").text == dollars(summary["total"]["cost_micros"])
    assert d.find_element(By.CSS_SELECTOR, "[data-testid=cost-requests]").text == f"{summary['total']['requests']:,}"
    first = d.find_element(By.CSS_SELECTOR, "[data-testid=top-spenders] tbody tr")
    assert first.get_attribute("data-key") == "user-runaway"
    assert first.find_element(By.CSS_SELECTOR, "[data-testid=group-cost]").text == dollars(summary["groups"][0]["cost_micros"])
    assert "user=user-runaway" in first.find_element(By.CSS_SELECTOR, "a").get_attribute("href")
    chart = d.find_element(By.CSS_SELECTOR, "[data-testid=chart-spend]")
    assert chart.find_elements(By.CSS_SELECTOR, "rect.hover-band title") and "user-runaway" in chart.find_element(By.CSS_SELECTOR, ".legend").text

    # a budget made, edited and deleted from the page
    form = d.find_element(By.CSS_SELECTOR, "[data-testid=budget-form]")

    def field(name):
        return form.find_element(By.CSS_SELECTOR, f"label[data-field={name}] input, label[data-field={name}] select")

    Select(field("dimension")).select_by_value("user")
    field("value").send_keys("user-runaway")
    Select(field("period")).select_by_value("daily")
    field("limit").send_keys("1")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(d, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-testid=budgets] tr[data-budget-id]"), what="the new budget")
    [budget] = get(srv, "/api/v1/costs/budgets")["budgets"]
    assert (budget["dimension"], budget["value"], budget["period"], budget["limit_usd"]) == ("user", "user-runaway", "daily", 1.0)
    row = d.find_element(By.CSS_SELECTOR, f"[data-budget-id='{budget['id']}']")
    assert row.find_element(By.CSS_SELECTOR, "[data-testid=budget-percent]").text == f"{budget['percent_used']:g}%"
    row.find_element(By.XPATH, ".//button[text()='Edit']").click()
    form = d.find_element(By.CSS_SELECTOR, "[data-testid=budget-form]")
    field("limit").clear()
    field("limit").send_keys("2500")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(d, lambda d: get(srv, "/api/v1/costs/budgets")["budgets"][0]["limit_usd"] == 2500, what="the edit")
    [edited] = get(srv, "/api/v1/costs/budgets")["budgets"]
    assert edited["id"] == budget["id"] and edited["status"] == "ok"
    wait_for(d, lambda d: d.find_element(By.CSS_SELECTOR, f"[data-budget-id='{budget['id']}'] [data-testid=budget-percent]").text
             == f"{edited['percent_used']:g}%", what="the edited budget shown")
    d.execute_script("window.scrollTo(0, 0)")
    shot(d, "costs")
    d.execute_script("window.confirm = () => true")
    d.find_element(By.CSS_SELECTOR, f"[data-budget-id='{budget['id']}']").find_element(By.XPATH, ".//button[text()='Delete']").click()
    wait_for(d, lambda d: not d.find_elements(By.CSS_SELECTOR, "[data-testid=budgets] tr[data-budget-id]"), what="the deletion")
    assert get(srv, "/api/v1/costs/budgets")["budgets"] == []
    # the price list says where each price came from
    prices = get(srv, "/api/v1/pricing")["models"]
    shown = d.find_elements(By.CSS_SELECTOR, "[data-testid=prices] tbody tr")
    assert len(shown) == len(prices)
    assert d.find_element(By.CSS_SELECTOR, f"[data-testid=prices] tr[data-model='{prices[0]['model']}'] [data-testid=price-source]").text == prices[0]["source"]
    assert console_errors(d) == []


def test_root_cause_shows_patterns_slices_and_clusters_as_the_api_does(browser, seeded):
    d, srv = browser, seeded
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 86400))
    patterns = get(srv, "/api/v1/rca/patterns", since=since, limit=50)["patterns"]
    slices = get(srv, "/api/v1/rca/slices", limit=50)["slices"]
    clusters = get(srv, "/api/v1/rca/clusters", since=since, limit=50)["clusters"]
    spike = next(p for p in patterns if p["type"] == "error_spike" and p["scope"].get("model") == "claude-sonnet-4")
    open_hash(d, srv, f"/rca?range=24h&pattern={spike['id']}")
    wait_for(d, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-testid=pattern]"), what="the patterns")
    assert len(d.find_elements(By.CSS_SELECTOR, "[data-testid=pattern]")) == len(patterns)
    card = d.find_element(By.CSS_SELECTOR, f"[data-pattern-id='{spike['id']}']")
    assert "selected" in card.get_attribute("class")
    assert card.find_element(By.CSS_SELECTOR, "[data-testid=pattern-description]").text == spike["description"]
    assert card.find_element(By.CSS_SELECTOR, "[data-testid=pattern-severity]").text == f"{spike['severity']:.2f}"
    assert card.find_elements(By.CSS_SELECTOR, f"[data-testid=pattern-series-{spike['id']}] rect.hover-band"), "the series behind it"
    rows = d.find_elements(By.CSS_SELECTOR, "[data-testid=slices] tr[data-testid=slice]")
    assert len(rows) == len(slices) and slices
    pair = next(i for i, s in enumerate(slices) if s["definition"] == {"model": "gpt-4o-mini", "feature": "search"} and s["metric"] == "error_rate")
    link = rows[pair].find_element(By.CSS_SELECTOR, "[data-testid=slice-traces]").get_attribute("href")
    assert "model=gpt-4o-mini" in link and "feature=search" in link and "status=error" in link
    cards = d.find_elements(By.CSS_SELECTOR, "[data-testid=cluster]")
    assert [c.get_attribute("data-cluster-id") for c in cards] == [str(c["id"]) for c in clusters]
    assert [c.find_element(By.CSS_SELECTOR, "[data-testid=cluster-size]").text for c in cards] == [f"{c['size']:,}" for c in clusters]
    assert cards[0].find_element(By.CSS_SELECTOR, "[data-testid=cluster-template]").text == clusters[0]["template"]
    sample = cards[0].find_element(By.CSS_SELECTOR, "[data-testid=cluster-trace]").get_attribute("href")
    assert sample.endswith("#/trace/" + clusters[0]["affected_traces"][0])
    d.execute_script("window.scrollTo(0, 0)")
    shot(d, "rca")
    assert console_errors(d) == []


def test_overview_shows_the_seeded_figures_and_ongoing_patterns_as_the_api_does(browser, seeded):
    d, srv = browser, seeded
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 86400))
    answer = get(srv, "/api/v1/overview", since=since)
    open_hash(d, srv, "/overview?range=24h")
    wait_for(d, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-testid=total-requests]"), what="the totals")
    assert d.find_element(By.CSS_SELECTOR, "[data-testid=total-requests]").text == f"{answer['totals']['requests']:,}"
    assert d.find_element(By.CSS_SELECTOR, "[data-testid=total-cost]").text == dollars(answer["totals"]["cost_micros"])
    models = d.find_element(By.CSS_SELECTOR, "[data-testid=by-model]").text
    for model in answer["models"]:
        assert f"{model['errors']:,} (" in models and (model["cost_micros"] == 0 or dollars(model["cost_micros"]) in models)
    # the planted error spike makes claude-sonnet-4's error rate stand out
    rates = {m["name"]: m["error_rate"] for m in answer["models"] if m["name"]}
    assert rates["claude-sonnet-4"] > 2 * rates["gpt-4o"]
    # the ongoing patterns (the runaway spender's among them) as the API lists them
    ongoing = get(srv, "/api/v1/rca/patterns", status="ongoing", limit=5)["patterns"]
    assert ongoing, "the planted spender is still going on"
    listed = d.find_element(By.CSS_SELECTOR, "[data-testid=overview-patterns]").text
    assert all(p["description"] in listed for p in ongoing)
    d.execute_script("window.scrollTo(0, 0)")
    shot(d, "overview-seeded")
    assert console_errors(d) == []
