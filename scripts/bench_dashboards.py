#!/usr/bin/env python3
"""The dashboards over 30 days of materialized data, in headless Chromium.

  bench_dashboards.py API_URL OTLP_TRACES_URL [--per-slot N] [--pages-only]

Sends N LLM calls (default 1) every 2 minutes for the last 30 days (6 models, 4 services,
8×N users, 2 features) to a fresh server, runs the rollup and cost jobs, then loads each
dashboard afresh 5 times over the 30 days and prints markdown rows: ms from navigation start
until the page's main element is in the DOM, best and median. `--pages-only` skips the
sending and the jobs.
"""
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "e2e"))
import requests  # noqa: E402
from selenium.webdriver.common.by import By
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait
from browser_helpers import CHROMIUM, CHROMEDRIVER
from otlp_helpers import make_request, make_span

api, otlp = sys.argv[1], sys.argv[2]
per_slot = int(sys.argv[sys.argv.index("--per-slot") + 1]) if "--per-slot" in sys.argv else 1
MIN = 60 * 10**9
now = time.time_ns()
rng = random.Random(1)
models = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "claude-3-5-haiku", "gpt-4.1", "o3-mini"]
batch, sent = [], 0
for i in range(30 * 24 * 30 * per_slot if "--pages-only" not in sys.argv else 0):  # per_slot every 2 minutes
    t = now - 30 * 24 * 60 * MIN + (i // per_slot) * 2 * MIN + (i % per_slot) * 10**9
    batch.append(make_span(name="chat", start=t, duration=rng.randint(100, 3000) * 10**6, attributes={
        "gen_ai.request.model": rng.choice(models), "gen_ai.provider.name": "openai", "gen_ai.operation.name": "chat",
        "gen_ai.usage.input_tokens": rng.randint(100, 2000), "gen_ai.usage.output_tokens": rng.randint(10, 500),
        "user.id": f"u{rng.randint(0, 8 * per_slot - 1)}", "app.feature": rng.choice(["chat", "search"])}))
    if len(batch) == 1000 or i == 30 * 24 * 30 * per_slot - 1:
        r = requests.post(otlp, data=make_request(batch, service=f"svc-{(i // 1000) % 4}").SerializeToString(),
                          headers={"Content-Type": "application/x-protobuf"})
        assert r.status_code == 200, r.text
        sent += len(batch); batch = []
t0 = time.time()
from test_jobs_costs import run_job
class Srv: api_base = api
for job in [] if "--pages-only" in sys.argv else ["rollup_1m", "rollup_1h", "rollup_1d", "cost_attribution_1h", "cost_by_dimension_1h", "cost_by_dimension_1d", "rca_patterns", "evaluations"]:
    print(job, run_job(Srv, job)["rows"], flush=True)
print(f"sent {sent} spans; jobs {time.time() - t0:.1f}s", flush=True)
o = Options(); o.binary_location = CHROMIUM
for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1440,900"):
    o.add_argument(a)
d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=o)
pages = [("overview", "/overview?range=30d", "[data-testid=total-requests]"),
         ("costs daily by model", "/costs?range=30d&group_by=model&interval=1d", "[data-testid=top-spenders] tbody tr"),
         ("costs hourly by user", "/costs?range=30d&group_by=user&interval=1h", "[data-testid=top-spenders] tbody tr"),
         ("root cause", "/rca?range=30d", "[data-testid=slices]"),
         ("quality", "/quality?range=30d", "[data-testid=quality-group]"),
         ("operations", "/operations", "[data-testid=ops-jobs], table")]
for name, frag, sel in pages:
    times = []
    for _ in range(5):
        d.get("about:blank"); start = time.perf_counter(); d.get(f"{api}/#{frag}")
        WebDriverWait(d, 60, poll_frequency=0.01).until(lambda d: d.find_elements(By.CSS_SELECTOR, sel + ", [data-testid=error]"))
        errors = d.find_elements(By.CSS_SELECTOR, "[data-testid=error]")
        if errors: print(name, "ERROR", errors[0].text); break
        times.append((time.perf_counter() - start) * 1000)
    print(f"| {name} (`#{frag}`) | {min(times):.0f} ms | {statistics.median(times):.0f} ms |", flush=True)
d.quit()
