"""The dashboard in a real headless Chromium (Debian's chromium and chromium-driver, Selenium).

The service runs on loopback over the report's test data, MUNGE decoded by a
recorded unmunge; each page must load without a console error, show the read
API's figures, draw its charts, and refuse another user's job. Screenshots go
to ``.local/screenshots/`` for a person to look at.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select
from sqlalchemy.orm import Session

from slurm_carbon.service.web.overview import DAYS_SHOWN
from slurm_carbon.service.web.pages import grams, kwh
from slurm_carbon.store import (
    NewInterval,
    SessionFactory,
    add_intervals,
    get_or_create_cluster,
    get_or_create_device,
    get_or_create_node,
    upsert_job,
)
from slurm_carbon.store.budgets import BudgetActionRecord, record_budget_action
from slurm_carbon.store.caps import CapDecisionRecord, record_decision
from slurm_carbon.store.deferrals import DeferralRecord, record_deferral, set_measured_saving
from slurm_carbon.units import J_PER_KWH
from slurm_carbon.vocabulary import (
    BudgetAction,
    BudgetKind,
    BudgetOutcome,
    DeviceKind,
    EnergyMethod,
    Sharing,
)
from tests.browser import CHROMEDRIVER, CHROMIUM, require_browser
from tests.unit.cli.test_report_data import DAY
from tests.unit.service.test_api_auth import ALICE, GOOD, ROOT
from tests.unit.service.test_web_cli import serve

SCREENSHOTS = Path(__file__).resolve().parents[3] / ".local" / "screenshots"
#: Wide enough for the tables side by side with the charts; tall enough for the overview.
WINDOW = (1280, 2400)
#: Seconds a page may take to load (the service is on loopback).
PAGE_LOAD_S = 20
HALF = timedelta(minutes=30)
#: The browser's own zone, far from UTC: the charts must still show UTC, as the tables do.
BROWSER_TZ = "America/New_York"


def enrich(session: Session, ids: dict[int, int]) -> None:
    """Alice's job 100 made rich: a budget and its action, two caps, a deferral, a second node.

    It ran 10:00-11:00 on gpu01 (the seeded intervals); gpu02's GPU adds 0.25 kWh a half hour.
    """
    job, start = ids[100], DAY + timedelta(hours=10)
    cluster = get_or_create_cluster(session, "tc")
    upsert_job(session, cluster.id, 100, budget_co2e_g=500.0)
    node = get_or_create_node(session, cluster.id, "gpu02")
    gpu = get_or_create_device(session, node.id, "GPU-2", kind=DeviceKind.GPU, minor=0)
    add_intervals(
        session,
        [
            NewInterval(job, node.id, gpu.id, begin, begin + HALF, 900_000.0,
                        EnergyMethod.COUNTER, Sharing.EXCLUSIVE)
            for begin in (start, start + HALF)
        ],
    )  # fmt: skip
    for period, (limit_w, reason) in enumerate(
        ((250.0, "static: 250 W, least energy"), (175.0, "carbon: 175 W, CI 300 g/kWh"))
    ):
        begin = start + period * HALF
        policy = reason.split(":", 1)[0]
        cap = CapDecisionRecord(job, None, begin, begin + HALF, limit_w, policy, reason, begin)
        record_decision(session, cap)
    record_budget_action(
        session,
        BudgetActionRecord(
            job, BudgetAction.NOTIFY, start + HALF, BudgetKind.CO2E, 500.0, 620.0, 560.0, 700.0,
            0.5, "forecast 620 g > budget 500 g", BudgetOutcome.DONE, "mailed <alice>",
        ),
    )  # fmt: skip
    submit = start - timedelta(hours=6)
    record_deferral(
        session,
        DeferralRecord(job, 6 * 3600, submit, start, submit, 31.0, "electricitymaps",
                       submit - timedelta(hours=1), submit),
    )  # fmt: skip
    set_measured_saving(session, job, 150.0, 20.0)


@pytest.fixture
def live(session: Session, factory: SessionFactory) -> Iterator[str]:
    yield from serve(session, factory, more=enrich)


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    require_browser()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(argument)
    options.add_argument(f"--window-size={WINDOW[0]},{WINDOW[1]}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(CHROMEDRIVER, env={**os.environ, "TZ": BROWSER_TZ})
    driver = webdriver.Chrome(options=options, service=service)
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


#: Whether a canvas has a pixel drawn (not all transparent).
DRAWN = """
const c = arguments[0];
const pixels = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
return pixels.some((value, i) => i % 4 === 3 && value !== 0);
"""


#: The legend of chart arguments[0] with the cursor on its point arguments[1]: [label, value]s.
LEGEND = """
const u = window.slurmCarbonCharts[arguments[0]];
u.setCursor({left: u.valToPos(u.data[0][arguments[1]], "x"), top: 10});
return Array.from(u.root.querySelectorAll(".u-legend .u-series")).map(
  (row) => [row.querySelector(".u-label").textContent, row.querySelector(".u-value").textContent]);
"""
#: The labels chart arguments[0] drew on its time axis.
TIME_LABELS = "return window.slurmCarbonCharts[arguments[0]].axes[0]._values;"


def legend(browser: webdriver.Chrome, chart: str, index: int) -> dict[str, str]:
    rows = browser.execute_script(LEGEND, chart, index)
    return {str(label): str(value) for label, value in rows}


def time_labels(browser: webdriver.Chrome, chart: str) -> list[str]:
    return [str(label) for label in browser.execute_script(TIME_LABELS, chart)]


def drawn(browser: webdriver.Chrome, chart: str) -> bool:
    canvas = browser.find_element(By.CSS_SELECTOR, f"#{chart} canvas")
    return bool(browser.execute_script(DRAWN, canvas))


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
    day = {"start": DAY.isoformat(), "end": (DAY + timedelta(days=1)).isoformat()}
    for by in ("partition", "user"):
        Select(browser.find_element(By.ID, "days-group")).select_by_value(by)
        groups = api(live, ROOT, "/api/v1/totals?" + urlencode({"group": by, **day}))["groups"]
        assert isinstance(groups, list)
        assert len(groups) == 2  # gpu and cpu; alice and bob
        for measure, shown_as in (("co2e_g", grams), ("facility_kwh", kwh)):
            chart_id = f"chart-days-{measure}"
            assert drawn(browser, chart_id)
            # Today (the last day) as the legend shows it under the cursor.
            today = legend(browser, chart_id, DAYS_SHOWN - 1)
            assert today["Time"] == f"{DAY:%Y-%m-%d} 00:00 UTC"
            for group in groups:
                assert today[group["key"]] == shown_as(group[measure])
            # Midnight ticks in UTC read as dates, though the browser's zone is New York's.
            labels = time_labels(browser, chart_id)
            assert labels[0] == "03-01\n2024"
            assert all(re.fullmatch(r"03-\d\d", label) for label in labels[1:]), labels
    Select(browser.find_element(By.ID, "days-group")).select_by_value("partition")
    assert console_errors(browser) == []
    save(browser, "overview-admin.png")


def test_a_rich_jobs_page_shows_every_section_with_the_apis_figures(
    live: str, browser: webdriver.Chrome
) -> None:
    log_in(browser, live, ALICE)
    browser.get(f"{live}/web/jobs/100")
    detail = api(live, ALICE, "/api/v1/jobs/100")
    job, nodes = detail["job"], detail["nodes"]
    assert isinstance(job, dict)
    assert isinstance(nodes, list)
    assert shown(browser, "job-co2e") == grams(job["co2e_g"]) == "600.0 g"
    assert shown(browser, "job-energy") == kwh(job["facility_kwh"])
    assert grams(job["budget"]["co2e_g"]) + " CO2e" in shown(browser, "budget-table")
    assert "notify (done)" in shown(browser, "budget-table")
    caps = shown(browser, "cap-table")
    assert [f"{cap['power_limit_w']:,.0f} W" for cap in job["caps"]] == ["250 W", "175 W"]
    assert all(f"{cap['power_limit_w']:,.0f} W" in caps for cap in job["caps"])
    by_node = shown(browser, "node-table")
    assert [node["node"] for node in nodes] == ["gpu01", "gpu02"]
    for node in nodes:
        assert f"{node['node']} {kwh(node['energy_j'] / J_PER_KWH)}" in by_node
    assert "by carbon_defer=6h" in shown(browser, "deferral")
    assert charts(browser) == 2  # energy and CI over time; the caps in force
    # 24-hour UTC times (the job ran 10:00-11:00 UTC), whatever the browser's zone.
    labels = time_labels(browser, "chart-timeline")
    assert "10:00\n2024-03-14" in labels, labels
    assert not any(re.search("am|pm", label) for label in labels)
    assert "2024-03-14 03:00 UTC" in shown(browser, "deferral")  # forecast issued
    assert all(
        browser.execute_script(DRAWN, canvas)
        for canvas in browser.find_elements(By.CSS_SELECTOR, ".uplot canvas")
    )
    assert console_errors(browser) == []
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(WINDOW[0], int(height))  # the whole page in the screenshot
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
