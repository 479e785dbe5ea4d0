#!/usr/bin/env python3
"""Time to first paint of the web UI in headless Chromium (Debian's chromium and chromedriver).

  bench_ui.py --api URL --otlp URL [--runs N]

Posts a trace of 100,000 spans (the browser test's shape: a root, 100 steps, leaves under
each), waits until it is listed, then loads the UI afresh N times at the traces list and at
that trace, and prints markdown table rows: the time from navigation start to the moment the
list's first rows, and the trace's waterfall and span panel, were painted (the UI's
`pyflare:traces-painted` and `pyflare:trace-painted` marks), best and median of N.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "e2e"))
import requests  # noqa: E402
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from browser_helpers import CHROMEDRIVER, CHROMIUM  # noqa: E402
from test_ui import BIG_TRACE_SPANS, build_big_trace  # noqa: E402

PROTOBUF = "application/x-protobuf"


def painted(driver, url: str, mark: str) -> float:
    """Milliseconds from navigation start to `mark`, on a fresh load of `url`."""
    driver.get("about:blank")
    driver.get(url)
    return WebDriverWait(driver, 60, poll_frequency=0.02).until(lambda d: d.execute_script(
        "const m = performance.getEntriesByName(arguments[0]); return m.length ? m[0].startTime : null;", mark))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api", required=True)
    parser.add_argument("--otlp", required=True, help="OTLP/HTTP traces URL")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    trace_id, bodies = build_big_trace(BIG_TRACE_SPANS)
    for body in bodies:
        r = requests.post(args.otlp, data=body, headers={"Content-Type": PROTOBUF}, timeout=120)
        r.raise_for_status()
    deadline = time.time() + 120
    while time.time() < deadline:
        listed = requests.get(f"{args.api}/api/v1/traces", params={"service": "agent"}, timeout=60).json()["traces"]
        if any(t["trace_id"] == trace_id and t["span_count"] == BIG_TRACE_SPANS for t in listed):
            break
        time.sleep(0.5)
    else:
        sys.exit("the 100,000-span trace was not listed")
    stored = requests.get(f"{args.api}/api/v1/traces", params={"limit": 1}, timeout=60).json()
    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1440,900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        rows = {
            "traces list, first page (50 traces)": [painted(driver, f"{args.api}/#/traces", "pyflare:traces-painted")
                                                    for _ in range(args.runs)],
            f"trace of {BIG_TRACE_SPANS:,} spans": [painted(driver, f"{args.api}/#/trace/{trace_id}", "pyflare:trace-painted")
                                                    for _ in range(args.runs)],
        }
        shown = driver.execute_script("return document.querySelector('[data-testid=trace-span-count]')?.textContent")
        if shown != f"{BIG_TRACE_SPANS:,}":
            sys.exit(f"the trace view shows {shown!r} spans, not {BIG_TRACE_SPANS:,}")
    finally:
        driver.quit()
    newest = stored["traces"][0]["trace_id"] if stored["traces"] else "none"
    for name, times in rows.items():
        print(f"| UI first paint, {name} | best {min(times):,.0f} ms, median {statistics.median(times):,.0f} ms "
              f"of {len(times)} fresh loads (navigation start to painted; newest trace {newest[:8]}…) |")


if __name__ == "__main__":
    main()
