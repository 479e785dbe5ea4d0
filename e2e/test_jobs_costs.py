"""Scheduled jobs, rollups, cost summaries and budgets, end to end: LLM spans sent through the
real OpenTelemetry SDK and HTTP exporter, jobs run through the API (the schedule is off so that
the test decides when), and every figure of /api/v1/costs/summary compared with the one
computed here from what was sent and the published prices, to the micro-dollar."""

from __future__ import annotations

import calendar
import json
import os
import random
import sqlite3
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import requests

from harness import REPO_ROOT, STORE_CONFIG, free_ports, merge_config
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode
from store_helpers import wait_until

SEC = 1_000_000_000
MINUTE = 60 * SEC
HOUR = 60 * MINUTE
PRICES = {m["model"]: m for m in json.loads((REPO_ROOT / "Sources/PyFlareModel/Resources/pricing.json").read_text())["models"]}
MODELS = [("gpt-4o", "openai"), ("gpt-4o-mini", "openai"), ("claude-3-5-sonnet-20241022", "anthropic"),
          ("in-house-llm-7b", "acme")]  # the last one has no published price
USERS = ["alice", "bob", "carol"]
FEATURES = ["chat", "search", "summarize"]
SERVICES = ["web", "worker"]
TEAMS = {"web": "growth", "worker": "platform"}  # the resource attribute pyflare.team of each service
ENVIRONMENTS = ["prod", "staging"]
JOBS = ["rollup_1m", "rollup_1h", "rollup_1d", "cost_attribution_1h", "cost_by_dimension_1h", "cost_by_dimension_1d"]

JOB_CONFIG = merge_config(STORE_CONFIG, {"scheduler": {"enabled": False}, "segments": {"max_age_ms": 500}})


def iso(ns: int) -> str:
    """The server's RFC 3339 form of a whole-second time."""
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(ns // SEC))


def price_of(model: str):
    """Exact id, then the longest prefix at a '-' boundary: how the server matches dated names."""
    name = model.lower()
    while name:
        if name in PRICES:
            return PRICES[name]
        if "-" not in name:
            return None
        name = name.rsplit("-", 1)[0]
    return None


def cost_micros(span: dict) -> int | None:
    price = price_of(span["model"])
    if price is None:
        return None
    uncached = max(0, span["input"] - span["cached"])
    micros = (uncached * price["input"] + span["cached"] * (price["cache_read"] if price["cache_read"] is not None else price["input"])
              + 0 * price["input"] + span["output"] * price["output"])
    whole = int(micros)
    return whole + (1 if micros - whole >= 0.5 else 0)


def workload(seed: int, count: int, start_ns: int, step_ns: int) -> list[dict]:
    rng = random.Random(seed)
    spans = []
    for i in range(count):
        model, provider = rng.choice(MODELS)
        service = rng.choice(SERVICES)
        spans.append({
            "model": model, "provider": provider, "user": rng.choice(USERS), "feature": rng.choice(FEATURES),
            "service": service, "team": TEAMS[service], "environment": rng.choice(ENVIRONMENTS),
            "input": rng.randint(50, 4000), "output": rng.randint(5, 900), "cached": rng.choice([0, 0, 32, 512]),
            "reasoning": rng.choice([0, 0, 64]), "error": rng.random() < 0.1,
            "start": start_ns + i * step_ns, "duration": rng.randint(1, 3000) * 1_000_000,
        })
    return spans


def send(srv, spans: list[dict]) -> None:
    """One TracerProvider per service (service.name is a resource attribute); a plain parent span
    without a model in each trace, so that only LLM calls are counted as requests."""
    for service in sorted({s["service"] for s in spans}):
        provider = TracerProvider(resource=Resource.create({"service.name": service, "pyflare.team": TEAMS[service]}))
        provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=srv.traces_url)))
        tracer = provider.get_tracer("pyflare.e2e.jobs")
        for s in (s for s in spans if s["service"] == service):
            parent = tracer.start_span("handle request", start_time=s["start"])
            from opentelemetry import trace as api
            with api.use_span(parent, end_on_exit=False):
                attributes = {
                    "gen_ai.request.model": s["model"], "gen_ai.provider.name": s["provider"], "gen_ai.operation.name": "chat",
                    "gen_ai.usage.input_tokens": s["input"], "gen_ai.usage.output_tokens": s["output"],
                    "gen_ai.usage.cache_read_input_tokens": s["cached"], "gen_ai.usage.reasoning_tokens": s["reasoning"],
                    "user.id": s["user"], "app.feature": s["feature"], "deployment.environment.name": s["environment"],
                }
                call = tracer.start_span(f"chat {s['model']}", attributes=attributes, start_time=s["start"])
                if s["error"]:
                    call.set_status(Status(StatusCode.ERROR, "rate limited"))
                call.end(end_time=s["start"] + s["duration"])
            parent.end(end_time=s["start"] + s["duration"] + 1_000_000)
        provider.shutdown()


def failed_run(srv, name: str, timeout: float = 60) -> dict:
    """Waits for the newest run of `name` to end in error; returns it."""
    def failed():
        runs = requests.get(f"{srv.api_base}/api/v1/jobs/{name}/runs", timeout=10).json()["runs"]
        return runs and runs[0]["status"] == "error" and runs[0]
    return wait_until(failed, timeout=timeout, what=f"a failed run of {name}")


def run_job(srv, name: str) -> dict:
    before = requests.get(f"{srv.api_base}/api/v1/jobs/{name}/runs", timeout=10).json()["runs"]
    last = before[0]["id"] if before else 0
    r = requests.post(f"{srv.api_base}/api/v1/jobs/{name}/run", timeout=10)
    assert r.status_code == 202, r.text

    def finished():
        runs = requests.get(f"{srv.api_base}/api/v1/jobs/{name}/runs", timeout=10).json()["runs"]
        return runs and runs[0]["id"] > last and runs[0]["status"] != "running" and runs[0]
    run = wait_until(finished, timeout=60, what=f"a run of {name}")
    assert run["status"] == "ok", run
    return run


def run_all(srv, jobs=JOBS) -> None:
    for name in jobs:
        run_job(srv, name)


def summary(srv, **params) -> dict:
    r = requests.get(f"{srv.api_base}/api/v1/costs/summary", params=params, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def expected_groups(spans: list[dict], key: str) -> dict:
    groups: dict = {}
    for s in spans:
        g = groups.setdefault(s[key], {"requests": 0, "input_tokens": 0, "output_tokens": 0, "cached_tokens": 0,
                                       "reasoning_tokens": 0, "cost_micros": 0, "unpriced_requests": 0})
        g["requests"] += 1
        g["input_tokens"] += s["input"]
        g["output_tokens"] += s["output"]
        g["cached_tokens"] += s["cached"]
        g["reasoning_tokens"] += s["reasoning"]
        cost = cost_micros(s)
        if cost is None:
            g["unpriced_requests"] += 1
        else:
            g["cost_micros"] += cost
    return groups


def figures(group: dict) -> dict:
    return {k: group[k] for k in ("requests", "input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens",
                                  "cost_micros", "unpriced_requests")}


def check_summary(srv, spans: list[dict], since: int, until: int) -> None:
    for group_by, key in [("model", "model"), ("provider", "provider"), ("service", "service"), ("user", "user"),
                          ("feature", "feature"), ("environment", "environment"), ("team", "team")]:
        body = summary(srv, group_by=group_by, since=since, until=until)
        assert body["currency"] == "USD" and body["materialized_at"] and body["pricing_version"]
        got = {g["key"]: figures(g) for g in body["groups"]}
        assert got == expected_groups(spans, key), group_by
        for g in body["groups"]:
            assert abs(g["cost_usd"] - g["cost_micros"] / 1e6) < 1e-9
        total = expected_groups([dict(s, all="*") for s in spans], "all")["*"]
        assert figures(body["total"]) == total


def test_cost_summary_equals_what_was_sent(start_server):
    srv = start_server(JOB_CONFIG, name="costs")
    # 600 calls over 50 hours, 5 minutes apart, ending on an hour boundary: at least one whole
    # UTC day, so summaries read the daily table too
    end = (time.time_ns() // HOUR) * HOUR - 2 * HOUR
    spans = workload(seed=11, count=600, start_ns=end - 600 * 5 * MINUTE, step_ns=5 * MINUTE)
    send(srv, spans)
    run_all(srv)
    since, until = end - 600 * 5 * MINUTE, end
    check_summary(srv, spans, since, until)
    unpriced = summary(srv, group_by="model", since=since, until=until)["groups"]
    [inhouse] = [g for g in unpriced if g["key"] == "in-house-llm-7b"]
    assert inhouse["cost_micros"] == 0 and inhouse["unpriced_requests"] == inhouse["requests"] > 0

    # a series per hour adds up to the group, bucket by bucket
    body = summary(srv, group_by="model", since=since, until=until, interval="1h")
    for g in body["groups"]:
        mine = [s for s in spans if s["model"] == g["key"]]
        by_hour = expected_groups([dict(s, hour=s["start"] // HOUR * HOUR) for s in mine], "hour")
        assert [(b["start"], figures(b)) for b in g["series"]] == \
            [(iso(h), by_hour[h]) for h in sorted(by_hour)]

    # the costliest groups one by one, the rest summed as `other`, series included
    full = summary(srv, group_by="user", since=since, until=until, interval="1h")
    top = summary(srv, group_by="user", since=since, until=until, interval="1h", limit=1)
    assert full["group_count"] == top["group_count"] == len(USERS) and full["other"] is None
    assert top["groups"] == full["groups"][:1] and top["total"] == full["total"]
    rest = full["groups"][1:]
    assert figures(top["other"]) == {k: sum(g[k] for g in rest) for k in figures(top["other"])}
    by_start: dict = {}
    for g in rest:
        for b in g["series"]:
            by_start[b["start"]] = by_start.get(b["start"], 0) + b["cost_micros"]
    assert [(b["start"], b["cost_micros"]) for b in top["other"]["series"]] == sorted(by_start.items())
    r = requests.get(f"{srv.api_base}/api/v1/costs/summary", params={"limit": 0}, timeout=10)
    assert r.status_code == 400

    # a series per day, for user (from the attribution) and service (from the rollups)
    for group_by in ("user", "service"):
        body = summary(srv, group_by=group_by, since=since, until=until, interval="1d")
        for g in body["groups"]:
            mine = [s for s in spans if s[group_by] == g["key"]]
            by_day = expected_groups([dict(s, day=s["start"] // (24 * HOUR) * 24 * HOUR) for s in mine], "day")
            assert [(b["start"], figures(b)) for b in g["series"]] == [(iso(d), by_day[d]) for d in sorted(by_day)]

    # a part of the range: minutes at the edges, whole hours and days in the middle
    lo, hi = since + 37 * MINUTE, until - 83 * MINUTE
    body = summary(srv, group_by="feature", since=lo, until=hi)
    assert body["since"] == iso(lo // HOUR * HOUR)
    lo_hour, hi_hour = lo // HOUR * HOUR, -(-hi // HOUR) * HOUR   # user and feature: whole hours
    assert {g["key"]: figures(g) for g in body["groups"]} == \
        expected_groups([s for s in spans if lo_hour <= s["start"] < hi_hour], "feature")
    body = summary(srv, group_by="service", since=lo, until=hi)
    assert {g["key"]: figures(g) for g in body["groups"]} == \
        expected_groups([s for s in spans if lo <= s["start"] < hi], "service")

    # latency quantiles come from the rollups' sketches, within their 1% accuracy
    r = requests.post(f"{srv.api_base}/api/v1/sql", json={"sql":
        "SELECT sketch_quantile(sketch_merge(latency_sketch), 0.95), sum(requests) FROM rollup_1h WHERE model = 'gpt-4o'"},
        timeout=10)
    assert r.status_code == 200, r.text
    p95, count = r.json()["rows"][0]
    durations = sorted(s["duration"] for s in spans if s["model"] == "gpt-4o")
    assert count == len(durations)
    exact = durations[int(0.95 * (len(durations) - 1))]
    assert abs(p95 - exact) <= 0.011 * exact

    # bad parameters name themselves
    r = requests.get(f"{srv.api_base}/api/v1/costs/summary", params={"group_by": "colour"}, timeout=10)
    assert r.status_code == 400 and r.json()["error"]["field"] == "group_by"
    r = requests.get(f"{srv.api_base}/api/v1/costs/summary", params={"interval": "7m"}, timeout=10)
    assert r.status_code == 400 and r.json()["error"]["field"] == "interval"


def dump_outputs(srv) -> dict:
    tables = {}
    for table in ["rollup_1m", "rollup_1h", "rollup_1d", "cost_attribution_1h", "cost_by_dimension_1h", "cost_by_dimension_1d"]:
        r = requests.post(f"{srv.api_base}/api/v1/sql", json={"sql": f"SELECT * FROM {table} ORDER BY 1, 2, 3, 4, 5, 6, 7, 8"},
                          timeout=30)
        assert r.status_code == 200, r.text
        tables[table] = r.json()["rows"]
    return tables


def test_a_series_keeps_the_20_costliest_groups_by_default(start_server):
    """30 users over a whole UTC day and some hours: an hourly series answers the 20 costliest
    one by one and the rest as `other`, bucket by bucket, unless `limit` asks for more."""
    srv = start_server(JOB_CONFIG, name="costs-top")
    end = (time.time_ns() // HOUR) * HOUR - 2 * HOUR
    users = [f"user-{i:02d}" for i in range(30)]
    spans = [dict(s, user=users[i % 30], model="gpt-4o", provider="openai", input=100 + 37 * (i % 30))
             for i, s in enumerate(workload(seed=3, count=300, start_ns=end - 300 * 6 * MINUTE, step_ns=6 * MINUTE))]
    send(srv, spans)
    run_all(srv)
    since, until = end - 300 * 6 * MINUTE, end
    expected = expected_groups(spans, "user")
    ranked = sorted(expected, key=lambda u: (-expected[u]["cost_micros"], -expected[u]["requests"], u))

    body = summary(srv, group_by="user", since=since, until=until, interval="1h")
    assert body["group_count"] == 30
    assert [g["key"] for g in body["groups"]] == ranked[:20]
    assert all(figures(g) == expected[g["key"]] for g in body["groups"])
    rest = [s for s in spans if s["user"] in ranked[20:]]
    assert figures(body["other"]) == expected_groups([dict(s, all="*") for s in rest], "all")["*"]
    by_hour = expected_groups([dict(s, hour=s["start"] // HOUR * HOUR) for s in rest], "hour")
    assert [(b["start"], figures(b)) for b in body["other"]["series"]] == [(iso(h), by_hour[h]) for h in sorted(by_hour)]
    assert figures(body["total"]) == expected_groups([dict(s, all="*") for s in spans], "all")["*"]

    everyone = summary(srv, group_by="user", since=since, until=until, interval="1h", limit=30)
    assert everyone["other"] is None and len(everyone["groups"]) == 30
    assert everyone["groups"][:20] == body["groups"] and everyone["total"] == body["total"]
    # without a series, every group is answered
    assert len(summary(srv, group_by="user", since=since, until=until)["groups"]) == 30


def test_incremental_runs_equal_one_full_run(start_server):
    end = (time.time_ns() // HOUR) * HOUR - HOUR
    spans = workload(seed=5, count=300, start_ns=end - 300 * 20 * SEC, step_ns=20 * SEC)

    whole = start_server(JOB_CONFIG, name="whole")
    send(whole, spans)
    wait_until(lambda: requests.post(f"{whole.api_base}/api/v1/sql", json={"sql": "SELECT count(*) FROM spans"},
                                     timeout=10).json()["rows"][0][0] == 600, what="all spans stored")
    run_all(whole)
    expected = dump_outputs(whole)
    assert sum(r[8] for r in expected["rollup_1m"]) == 600  # 300 calls and their parents

    parts = start_server(JOB_CONFIG, name="parts")
    for part in range(3):
        send(parts, spans[part * 100:(part + 1) * 100])
        time.sleep(0.6 if part == 1 else 0)  # the middle part gets sealed; the others may stay in the WAL
        run_all(parts)
        if part == 0:
            run_all(parts)  # a run with nothing new changes nothing
    assert dump_outputs(parts) == expected

    # a span arriving late (3 minutes before the last run, within the 5-minute margin) is counted
    last = parts_last_watermark(parts)
    late = workload(seed=99, count=1, start_ns=last - 3 * MINUTE, step_ns=SEC)
    send(parts, late)
    run_all(parts)
    since, until = end - 2 * HOUR, time.time_ns() + HOUR
    body = summary(parts, group_by="model", since=since, until=until)
    assert body["total"]["requests"] == 301


def parts_last_watermark(srv) -> int:
    jobs = requests.get(f"{srv.api_base}/api/v1/jobs", timeout=10).json()["jobs"]
    [job] = [j for j in jobs if j["name"] == "rollup_1m"]
    r = requests.post(f"{srv.api_base}/api/v1/sql", json={"sql": "SELECT watermark_ns FROM jobs WHERE name = 'rollup_1m'"}, timeout=10)
    assert job["watermark"]
    return r.json()["rows"][0][0]


class Receiver:
    """A webhook endpoint: records every JSON body posted to it; fails the first post on purpose."""

    def __init__(self):
        self.bodies: list[dict] = []
        self.posts = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts += 1
                if receiver.posts == 1:
                    self.send_response(503)
                    self.end_headers()
                    return
                receiver.bodies.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.port = free_ports(1)[0]
        self.server = HTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


def test_budget_alerts_fire_once_per_threshold(start_server):
    receiver = Receiver()
    srv = start_server(merge_config(JOB_CONFIG, {"budgets": {"webhook_url": receiver.url},
                                                 "alerts": {"first_retry_ms": 200}}), name="budgets")
    api = f"{srv.api_base}/api/v1/costs/budgets"

    # validation names the field
    for body, field in [({"dimension": "planet", "value": "x", "period": "daily", "limit_usd": 1}, "dimension"),
                        ({"dimension": "user", "period": "daily", "limit_usd": 1}, "value"),
                        ({"dimension": "global", "period": "fortnightly", "limit_usd": 1}, "period"),
                        ({"dimension": "global", "period": "daily", "limit_usd": -3}, "limit_usd"),
                        ({"dimension": "global", "period": "daily", "limit_usd": 1, "alert_thresholds": [0.5, "x"]}, "alert_thresholds")]:
        r = requests.post(api, json=body, timeout=10)
        assert r.status_code == 400 and r.json()["error"]["field"] == field, (body, r.text)

    # only gpt-4o calls of one user, so each part's cost is known exactly
    now = time.time_ns()
    calls = [dict(s, model="gpt-4o", provider="openai", user="dana")
             for s in workload(seed=3, count=30, start_ns=now - 30 * SEC, step_ns=SEC)]
    for s in calls:
        s["start"] = max(s["start"], now // HOUR * HOUR)  # all in this hour, so in every period holding now
    costs = [cost_micros(s) for s in calls]
    limit = sum(costs) / 1e6 / 1.05  # the whole workload is 105% of the limit
    r = requests.post(api, json={"dimension": "user", "value": "dana", "period": "daily", "limit_usd": round(limit, 6),
                                 "alert_thresholds": [1.0, 0.5, 0.8]}, timeout=10)
    assert r.status_code == 201, r.text
    budget = r.json()
    assert budget["alert_thresholds"] == [0.5, 0.8, 1.0] and budget["spent_usd"] == 0 and budget["status"] == "ok"

    def spend_to(fraction: float) -> int:
        """How many calls make up at least `fraction` of the limit."""
        total = 0
        for n, c in enumerate(costs, 1):
            total += c
            if total / 1e6 >= fraction * limit:
                return n
        return len(costs)

    sent = 0
    for target, fired in [(0.6, [0.5]), (0.9, [0.5, 0.8]), (1.05, [0.5, 0.8, 1.0])]:
        upto = spend_to(target) if target < 1.05 else len(calls)
        send(srv, calls[sent:upto])
        sent = upto
        run_all(srv, ["rollup_1m", "rollup_1h", "cost_attribution_1h", "cost_by_dimension_1h", "budgets", "alerts"])
        alerts = requests.get(f"{api}/{budget['id']}/alerts", timeout=10).json()["alerts"]
        assert [a["threshold"] for a in alerts] == fired
    run_all(srv, ["budgets"])  # nothing new: no alert twice
    assert len(requests.get(f"{api}/{budget['id']}/alerts", timeout=10).json()["alerts"]) == 3

    body = requests.get(f"{api}/{budget['id']}", timeout=10).json()
    spent = sum(costs)
    assert round(body["spent_usd"] * 1e6) == spent and body["status"] == "exceeded"
    assert body["remaining_usd"] == 0 and body["percent_used"] == pytest.approx(105, abs=0.01)
    # the forecast extends the rate so far to the whole day
    start = calendar.timegm(time.strptime(body["period_start"], "%Y-%m-%dT%H:%M:%S.000Z"))
    elapsed = max(time.time() - start, 60)
    assert body["forecast_usd"] == pytest.approx(body["spent_usd"] * 86_400 / elapsed, rel=0.02)

    # budgets.webhook_url is an alert rule of the budgets' own thresholds: the webhook got one
    # firing per threshold, after one failed attempt was retried
    [rule] = requests.get(f"{srv.api_base}/api/v1/alerts/rules", timeout=10).json()["rules"]
    assert rule["name"] == "budgets.webhook_url" and rule["kind"] == "budget" and rule["threshold"] is None
    assert rule["channels"] == [{"type": "webhook", "url": receiver.url}]
    wait_until(lambda: len(receiver.bodies) == 3, timeout=30, what="3 webhook deliveries")
    assert sorted(b["event"]["threshold"] for b in receiver.bodies) == [0.5, 0.8, 1.0]
    assert all(b["type"] == "alert" and b["state"] == "firing" and b["rule"]["id"] == rule["id"]
               and f"budget {budget['id']} (user dana, daily)" in b["event"]["summary"] for b in receiver.bodies), receiver.bodies
    events = requests.get(f"{srv.api_base}/api/v1/alerts/events", params={"rule_id": rule["id"]}, timeout=10).json()["events"]
    wait_until(lambda: all(d["status"] == "delivered" for e in requests.get(
        f"{srv.api_base}/api/v1/alerts/events", params={"rule_id": rule["id"]}, timeout=10).json()["events"] for d in e["deliveries"]),
        what="deliveries marked delivered")
    assert len(events) == 3 and sum(d["attempts"] for e in requests.get(
        f"{srv.api_base}/api/v1/alerts/events", params={"rule_id": rule["id"]}, timeout=10).json()["events"]
        for d in e["deliveries"]) == 4

    # an edit replaces the limit and keeps the id and the history; a wrong body changes nothing
    r = requests.put(f"{api}/{budget['id']}", json={"dimension": "user", "value": "dana", "period": "daily",
                                                    "limit_usd": round(limit * 2, 6), "alert_thresholds": [0.5, 0.8, 1.0]}, timeout=10)
    assert r.status_code == 200, r.text
    edited = r.json()
    assert edited["id"] == budget["id"] and edited["created_at"] == budget["created_at"]
    assert edited["status"] == "warning" and edited["percent_used"] == pytest.approx(52.5, abs=0.01)
    r = requests.put(f"{api}/{budget['id']}", json={"dimension": "user", "period": "daily", "limit_usd": 1}, timeout=10)
    assert r.status_code == 400 and r.json()["error"]["field"] == "value"
    assert requests.get(f"{api}/{budget['id']}", timeout=10).json()["limit_usd"] == edited["limit_usd"]
    assert requests.put(f"{api}/999", json={"period": "daily", "limit_usd": 1}, timeout=10).status_code == 404
    run_all(srv, ["budgets", "alerts"])  # thresholds announced in this period are not announced again
    assert len(requests.get(f"{api}/{budget['id']}/alerts", timeout=10).json()["alerts"]) == 3
    # ... and the 0.8 and 1.0 thresholds, no longer reached at 52.5% of the doubled limit, are resolved
    wait_until(lambda: len(receiver.bodies) == 5, timeout=30, what="the resolutions")
    assert sorted((b["state"], b["event"]["threshold"]) for b in receiver.bodies[3:]) == [("resolved", 0.8), ("resolved", 1.0)]

    assert [b["id"] for b in requests.get(api, timeout=10).json()["budgets"]] == [budget["id"]]
    assert requests.delete(f"{api}/{budget['id']}", timeout=10).status_code == 204
    assert requests.get(f"{api}/{budget['id']}", timeout=10).status_code == 404
    assert requests.delete(f"{api}/{budget['id']}", timeout=10).status_code == 404


def test_jobs_api_user_queries_and_command(start_server, tmp_path):
    queries = tmp_path / "queries"
    queries.mkdir()
    (queries / "errors_per_hour.sql").write_text(
        "-- Errors per service and hour.\n-- schedule: every 1m\n-- output: errors_per_hour\n-- window: 1h\n"
        "SELECT start_time_ns - start_time_ns % :window_ns AS bucket_ns, service, count(*) AS errors\n"
        "FROM spans WHERE status = 'error' AND start_time_ns >= :window_start_ns AND start_time_ns < :window_end_ns\n"
        "GROUP BY 1, 2\n")
    (queries / "broken.sql").write_text(
        "-- schedule: every 1m\n-- output: broken_out\n-- window: 1h\nSELECT 1 AS bucket_ns,\n  count(*)\n  FROM spans WHERE)\n")
    (queries / "missing_table.sql").write_text(
        "-- schedule: every 1m\n-- output: other_out\n-- window: 1h\nSELECT bucket_ns FROM nowhere_table\n")
    (queries / "no_schedule.sql").write_text("-- output: x\n-- window: 1h\nSELECT 1 AS bucket_ns\n")
    srv = start_server(merge_config(JOB_CONFIG, {"scheduler": {"queries_dir": str(queries)}}), name="userjobs")

    body = requests.get(f"{srv.api_base}/api/v1/jobs", timeout=10).json()
    names = [j["name"] for j in body["jobs"]]
    assert names[:len(JOBS)] == JOBS and "errors_per_hour" in names and "budgets" in names and "broken" not in names
    problems = {Path(p["file"]).name: p for p in body["problems"]}
    assert problems["broken.sql"]["line"] == 6 and "syntax error" in problems["broken.sql"]["message"]
    assert problems["missing_table.sql"]["line"] == 4 and "nowhere_table" in problems["missing_table.sql"]["message"]
    assert "schedule" in problems["no_schedule.sql"]["message"]
    rollup = body["jobs"][0]
    assert rollup["schedule"] == "every 1m" and rollup["output_table"] == "rollup_1m" and rollup["last_run"] is None

    end = (time.time_ns() // HOUR) * HOUR
    spans = workload(seed=8, count=120, start_ns=end - 2 * HOUR, step_ns=MINUTE)
    send(srv, spans)
    run = run_job(srv, "errors_per_hour")
    assert run["rows"] > 0 and run["window_start"] and run["trigger"] == "api"
    r = requests.post(f"{srv.api_base}/api/v1/sql", json={"sql": "SELECT service, sum(errors) FROM errors_per_hour GROUP BY 1 ORDER BY 1"},
                      timeout=10)
    assert r.json()["rows"] == [[svc, sum(1 for s in spans if s["service"] == svc and s["error"])]
                                for svc in sorted({s["service"] for s in spans if s["error"]})]
    jobs = {j["name"]: j for j in requests.get(f"{srv.api_base}/api/v1/jobs", timeout=10).json()["jobs"]}
    assert jobs["errors_per_hour"]["last_run"]["status"] == "ok" and jobs["errors_per_hour"]["watermark"]
    assert requests.post(f"{srv.api_base}/api/v1/jobs/nope/run", timeout=10).status_code == 404

    # the command line, with the server stopped
    srv.stop_ok()
    env = dict(os.environ, PYFLARE_SCHEDULER_QUERIES_DIR=str(queries))
    out = subprocess.run([str(srv.binary), "jobs", "run", "rollup_1m", "--data-dir", str(srv.data_dir)],
                         capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("rollup_1m: ok,")
    out = subprocess.run([str(srv.binary), "jobs", "list", "--data-dir", str(srv.data_dir)],
                         capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert any(line.startswith("rollup_1m") and " ok " in f" {line} " for line in lines), out.stdout
    assert any("broken.sql:6" in line for line in lines), out.stdout
    out = subprocess.run([str(srv.binary), "jobs", "run", "nope", "--data-dir", str(srv.data_dir)],
                         capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 2 and "no job named nope" in out.stderr

    # a job added later over another job's output sees all of it, however much run history was pruned
    index = sqlite3.connect(srv.data_dir / "index.db")
    with index:
        index.execute("DELETE FROM job_runs WHERE job = 'rollup_1m'")
    (queries / "requests_per_hour.sql").write_text(
        "-- schedule: every 1m\n-- output: requests_per_hour\n-- window: 1h\n-- source: rollup_1m\n"
        "SELECT bucket_ns - bucket_ns % :window_ns AS bucket_ns, sum(requests) AS requests FROM rollup_1m\n"
        "WHERE bucket_ns >= :window_start_ns AND bucket_ns < :window_end_ns GROUP BY 1\n")
    out = subprocess.run([str(srv.binary), "jobs", "run", "requests_per_hour", "--data-dir", str(srv.data_dir)],
                         capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    assert index.execute("SELECT sum(requests) FROM requests_per_hour").fetchone()[0] == \
        index.execute("SELECT sum(requests) FROM rollup_1m").fetchone()[0] == 2 * len(spans)
    index.close()


def test_prices_set_through_the_api_price_later_spans_and_survive_a_restart(start_server):
    srv = start_server(merge_config(JOB_CONFIG, {"pricing": {"models": [
        {"model": "team-tuned-4o", "provider": "openai", "input": 4.0, "output": 16.0}]}}), name="pricing")
    body = requests.get(f"{srv.api_base}/api/v1/pricing", timeout=10).json()
    sources = {m["model"]: m["source"] for m in body["models"]}
    assert sources["gpt-4o"] == "built-in" and sources["team-tuned-4o"] == "config"
    builtin_version = body["version"]

    end = (time.time_ns() // HOUR) * HOUR - HOUR
    before = [dict(s, model="in-house-llm-7b", provider="acme") for s in workload(seed=21, count=10, start_ns=end - 30 * MINUTE, step_ns=MINUTE)]
    send(srv, before)
    r = requests.put(f"{srv.api_base}/api/v1/pricing/in-house-llm-7b", json={"input": 0.5, "output": 1.5, "provider": "acme"}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["version"] != builtin_version and r.json()["model"]["source"] == "api"
    bad = requests.put(f"{srv.api_base}/api/v1/pricing/x", json={"input": -1, "output": 1}, timeout=10)
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "input"
    after = [dict(s, model="in-house-llm-7b", provider="acme") for s in workload(seed=22, count=10, start_ns=end - 15 * MINUTE, step_ns=MINUTE)]
    send(srv, after)
    run_all(srv)

    body = summary(srv, group_by="model", since=end - HOUR, until=end)
    assert body["pricing_version"] == r.json()["version"]
    [group] = body["groups"]
    # spans before the PUT stay unpriced; spans after it are priced with the new price
    PRICES["in-house-llm-7b"] = {"input": 0.5, "output": 1.5, "cache_read": None}
    try:
        assert group["unpriced_requests"] == len(before)
        assert group["cost_micros"] == sum(cost_micros(s) for s in after)
    finally:
        del PRICES["in-house-llm-7b"]

    srv.stop_ok()
    srv.start()
    body = requests.get(f"{srv.api_base}/api/v1/pricing", timeout=10).json()
    assert body["version"] == r.json()["version"]
    [kept] = [m for m in body["models"] if m["model"] == "in-house-llm-7b"]
    assert kept == {"model": "in-house-llm-7b", "provider": "acme", "input": 0.5, "output": 1.5,
                    "cache_read": None, "cache_write": None, "source": "api"}


def _priced_rows(srv, model: str) -> list:
    r = requests.post(f"{srv.api_base}/api/v1/sql", timeout=30, json={
        "sql": "SELECT span_id, price_model, cost_micros FROM spans WHERE model = ? ORDER BY span_id", "params": [model]})
    assert r.status_code == 200, r.text
    return r.json()["rows"]


def test_a_span_priced_through_the_api_names_that_price_unsealed_sealed_and_after_kill_9(start_server):
    # Nothing seals on its own: the spans are read from memory, then replayed from the WAL
    # after a kill -9, then read from a segment once a graceful stop has sealed them.
    srv = start_server(merge_config(JOB_CONFIG, {"segments": {"max_age_ms": 600_000}}), name="api-price-model")
    model = "in-house-llm-9b"
    r = requests.put(f"{srv.api_base}/api/v1/pricing/{model}", json={"input": 0.5, "output": 1.5, "provider": "acme"}, timeout=10)
    assert r.status_code == 200, r.text
    end = (time.time_ns() // HOUR) * HOUR
    spans = [dict(s, model=model, provider="acme") for s in workload(seed=23, count=6, start_ns=end - 20 * MINUTE, step_ns=MINUTE)]
    send(srv, spans)
    PRICES[model] = {"input": 0.5, "output": 1.5, "cache_read": None}
    try:
        expected_cost = sorted(cost_micros(s) for s in spans)
    finally:
        del PRICES[model]

    def check(where: str) -> None:
        rows = _priced_rows(srv, model)
        assert len(rows) == len(spans), (where, rows)
        assert {row[1] for row in rows} == {model}, (where, rows)
        assert sorted(row[2] for row in rows) == expected_cost, (where, rows)

    check("unsealed")
    srv.kill()
    srv.start()
    check("replayed from the WAL after kill -9")
    srv.stop_ok()
    srv.start()
    check("sealed")
