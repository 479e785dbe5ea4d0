"""What every browser test shares: a headless Chromium per test module (Debian's `chromium` and
`chromium-driver`), screenshots into e2e/.artifacts/ui/, waits that survive re-renders, and the
browser log's errors. A test module imports the fixtures it uses (`browser`, `downloads`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness import REPO_ROOT

# selenium is in e2e/requirements.txt (scripts/setup-venv.sh installs it); missing, a browser test fails, never skips
from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

ARTIFACTS = REPO_ROOT / "e2e" / ".artifacts" / "ui"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def downloads(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(downloads):
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail("chromium and chromium-driver are needed (scripts/install-deps.sh installs them)", pytrace=False)
    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1440,900", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.set_page_load_timeout(30)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def console_errors(driver, allow: tuple[str, ...] = ()) -> list[str]:
    """Severe entries of the browser log since the last call (reading drains it)."""
    return [e["message"] for e in driver.get_log("browser")
            if e["level"] == "SEVERE" and not any(a in e["message"] for a in allow)]


def shot(driver, name: str) -> None:
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def wait_for(driver, predicate, timeout: float = 10, what: str = "the page"):
    # an element read while a view re-renders is stale: read again on the next poll
    return WebDriverWait(driver, timeout, poll_frequency=0.05, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: predicate(d), message=f"waiting for {what}")


def open_hash(driver, srv, fragment: str) -> None:
    """Loads the UI fresh at `#fragment` (a full load, so every view starts from its URL)."""
    driver.get(f"{srv.api_base}/#{fragment}")


def navigate_hash(driver, fragment: str) -> None:
    """Moves to `#fragment` inside the loaded page, as a click on a link does (history entry)."""
    driver.execute_script("location.hash = arguments[0]", fragment)
