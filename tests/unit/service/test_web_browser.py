"""The dashboard in a real headless Chromium (Debian's chromium and chromium-driver, Selenium).

The service runs on loopback over the report's test data, MUNGE decoded by a
recorded unmunge; each page must load without a console error, show the read
API's figures, draw its charts, and refuse another user's job. Screenshots go
to ``.local/screenshots/`` for a person to look at.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from sqlalchemy.orm import Session

from slurm_carbon.service.web.pages import grams, kwh
from slurm_carbon.store import SessionFactory
from tests.unit.service.test_api_auth import ALICE, GOOD, ROOT
from tests.unit.service.test_web_cli import serve

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SCREENSHOTS = Path(__file__).resolve().parents[3] / ".local" / "screenshots"
#: Wide enough for the tables side by side with the charts; tall enough for the overview.
WINDOW = (1280, 2400)
#: Seconds a page may take to load (the service is on loopback).
PAGE_LOAD_S = 20

pytestmark = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None or shutil.which(CHROMEDRIVER) is None,
    reason="Debian's chromium and chromium-driver are not installed: run scripts/setup",
)


@pytest.fixture
def live(session: Session, factory: SessionFactory) -> Iterator[str]:
    yield from serve(session, factory)


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(argument)
    options.add_argument(f"--window-size={WINDOW[0]},{WINDOW[1]}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(PAGE_LOAD_S)
    yield driver
    driver.quit()


def log_in(browser: webdriver.Chrome, live: str, uid: int) -> None:
    answer = requests.post(
        f"{live}/web/token", headers={"Authorization": f"MUNGE {GOOD[uid]}"}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    browser.get(f"{live}{answer.json()['login_path']}")
    assert browser.current_url == f"{live}/web/"


def api(live: str, uid: int, path: str) -> dict[str, object]:
    answer = requests.get(
        f"{live}{path}", headers={"Authorization": f"MUNGE {GOOD[uid]}"}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def shown(browser: webdriver.Chrome, test_id: str) -> str:
    return str(browser.find_element(By.CSS_SELECTOR, f'[data-testid="{test_id}"]').text)


def console_errors(browser: webdriver.Chrome) -> list[str]:
    # Selenium leaves get_log unannotated; its entries are dicts with level and message.
    entries = browser.get_log("browser")  # type: ignore[no-untyped-call]
    return [str(entry["message"]) for entry in entries if entry["level"] == "SEVERE"]


def charts(browser: webdriver.Chrome) -> int:
    return len(browser.find_elements(By.CSS_SELECTOR, ".uplot canvas"))


def save(browser: webdriver.Chrome, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOTS / name))


def test_an_admin_sees_every_page_with_the_apis_figures(
    live: str, browser: webdriver.Chrome
) -> None:
    log_in(browser, live, ROOT)
    totals = api(live, ROOT, "/api/v1/totals")["totals"]
    assert isinstance(totals, dict)
    assert shown(browser, "total-co2e") == grams(totals["co2e_g"])
    assert shown(browser, "total-kwh") == kwh(totals["facility_kwh"])
    assert shown(browser, "total-jobs") == str(totals["jobs"])
    assert charts(browser) >= 1  # CO2e by day
    assert console_errors(browser) == []
    save(browser, "overview-admin.png")

    browser.get(f"{live}/web/jobs/100")
    job = api(live, ROOT, "/api/v1/jobs/100")["job"]
    assert isinstance(job, dict)
    assert shown(browser, "job-co2e") == grams(job["co2e_g"]) == "600.0 g"
    assert shown(browser, "job-energy") == kwh(job["facility_kwh"])
    assert charts(browser) == 1  # energy and CI over time
    assert console_errors(browser) == []
    save(browser, "job-100.png")


def test_a_user_sees_their_own_and_not_anothers_job(live: str, browser: webdriver.Chrome) -> None:
    log_in(browser, live, ALICE)
    totals = api(live, ALICE, "/api/v1/totals")["totals"]
    assert isinstance(totals, dict)
    assert shown(browser, "total-co2e") == grams(totals["co2e_g"])
    assert console_errors(browser) == []
    save(browser, "overview-alice.png")

    browser.get(f"{live}/web/jobs/102")
    assert "job 102 is not among them" in shown(browser, "error")
    save(browser, "job-102-refused.png")
    # The refusal's own 403 is the one console error Chromium reports here.
    assert all("403" in message for message in console_errors(browser))
