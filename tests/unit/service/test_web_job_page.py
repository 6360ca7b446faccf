"""One job's page: every section of the read API's detail document, in the page's words.

The page is rendered from :func:`~slurm_carbon.service.api.documents.detail_json`
of the read API tests' richest detail (capped, budgeted, deferred, two nodes and a
silent one, running with a forecast), and of a pending job with none of it.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC
from html import escape
from typing import Any

import pytest
from starlette.testclient import TestClient

from slurm_carbon.service.api.documents import detail_json
from slurm_carbon.service.detail import JobDetail
from slurm_carbon.service.detail_words import deferral_text, slowdown_text
from slurm_carbon.service.web.job_page import job_page
from slurm_carbon.service.web.pages import grams, kwh
from tests.unit.service.test_api_auth import ALICE, GOOD
from tests.unit.service.test_api_detail import rich_detail
from tests.unit.service.test_web import client, login, shown, unmunge

__all__ = ["client", "unmunge"]  # fixtures, shared

VIEWER = {"name": "alice", "admin": False}


def page_of(detail: JobDetail) -> tuple[dict[str, Any], str]:
    document = json.loads(json.dumps(detail_json(detail)))
    return document, job_page(document, VIEWER)


def section(page: str, test_id: str) -> str:
    """The HTML of the section ``test_id``, up to the next section."""
    found = re.search(rf'<section data-testid="{test_id}">(.*?)</section>', page, re.DOTALL)
    assert found is not None, f"section {test_id} not on the page"
    return found.group(1)


@pytest.fixture(scope="module")
def rich() -> tuple[dict[str, Any], str]:
    return page_of(rich_detail())


def test_the_facts_are_the_apis_figures(rich: tuple[dict[str, Any], str]) -> None:
    document, page = rich
    job = document["job"]
    assert shown(page, "job-co2e") == grams(job["co2e_g"]) + " (estimate)" == "1.234 kg (estimate)"
    assert shown(page, "job-energy") == kwh(job["facility_kwh"]) + " (estimate)"
    assert shown(page, "job-elapsed") == "-"  # running: no end
    assert shown(page, "job-gpus") == "2"
    assert "75 % of node-time; no energy from gpu03 (missing, not estimated)" in page


def test_the_caps_are_listed_with_their_reasons_and_charted(
    rich: tuple[dict[str, Any], str],
) -> None:
    _, page = rich
    caps = section(page, "caps")
    assert "<td>2026-12-01 10:00 UTC</td><td>2026-12-01 11:00 UTC</td><td>175 W</td>" in caps
    assert "<td>carbon</td><td>GPU-1: CI 412 g/kWh</td>" in caps
    assert "<td>250 W</td><td>static</td><td>s</td>" in caps
    assert 'id="chart-caps"' in caps
    assert escape(str(slowdown_text(rich_detail().job.figures))) in section(page, "slowdown")


def test_the_budget_and_its_action_are_shown(rich: tuple[dict[str, Any], str]) -> None:
    _, page = rich
    budget = section(page, "budget")
    assert "<td>5.000 kg CO2e, 2.000 kWh</td>" in budget
    assert "notify (done) at 2026-12-01 11:00 UTC, 50 % of its work" in budget
    assert "forecast 3.000 kWh (90 %: 2.500 kWh to 3.500 kWh) against 2.000 kWh" in budget
    assert "forecast over budget" in budget
    assert "mailed" in budget


def test_a_running_jobs_forecast_has_its_interval(rich: tuple[dict[str, Any], str]) -> None:
    document, page = rich
    forecast = document["job"]["forecast"]
    shown_forecast = section(page, "forecast")
    co2e = (
        f"{grams(forecast['remaining_co2e_g'])} (90 %: {grams(forecast['remaining_co2e_g_low'])}"
        f" to {grams(forecast['remaining_co2e_g_high'])})"
    )
    assert co2e == "1.000 kg (90 %: 800.0 g to 1.200 kg)"
    assert co2e in shown_forecast
    assert grams(forecast["total_co2e_g"]) in shown_forecast
    assert kwh(forecast["remaining_kwh"]) in shown_forecast
    assert "An estimate; method profile, progress 50 %" in shown_forecast


def test_the_deferral_is_the_reports_line(rich: tuple[dict[str, Any], str]) -> None:
    _, page = rich
    deferral = rich_detail().deferral
    assert deferral is not None
    shown_line = section(page, "deferral")
    assert escape(deferral_text(deferral, UTC)) in shown_line
    # The page's times are UTC and say so, as its tables do; the report's are the host's.
    assert "issued 2026-12-01 03:00 UTC" in shown_line
    assert "at submission (2026-12-01 04:00 UTC)" in shown_line


def test_energy_by_node_lists_every_node(rich: tuple[dict[str, Any], str]) -> None:
    _, page = rich
    nodes = section(page, "nodes")
    assert "<td>gpu01</td><td>1.500 kWh</td><td>1.000 kWh</td><td>60 %</td>" in nodes
    assert "<td>gpu03</td><td>0.00 Wh</td><td>0.00 Wh</td><td>0 %</td>" in nodes


def test_the_what_ifs_footprint_and_card(rich: tuple[dict[str, Any], str]) -> None:
    _, page = rich
    what_if = section(page, "what-if")
    assert "Recomputed now: 1.234 kg, the stored result 1.200 kg" in what_if
    assert "<td>2026-12-01 11:00 UTC</td><td>900.0 g</td><td>334.5 g (27 %)</td>" in what_if
    assert "<td>SE</td><td>120.0 g</td><td>1.115 kg (90 %)</td>" in what_if
    footprint = section(page, "footprint")
    assert "counter 75 %, estimated 25 %" in footprint
    assert "synthetic" in footprint
    assert "Energy card: train" in section(page, "card")


def test_hostile_text_is_escaped() -> None:
    detail = rich_detail()
    hostile = "<script>alert(1)</script>\x1b[2J"
    detail = replace(detail, job=replace(detail.job, name=hostile, account="<b>x</b>"))
    _, page = page_of(detail)
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;\\x1b[2J" in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page
    assert "\x1b" not in page.split('<script type="application/json"')[0]


def test_a_job_with_none_of_it_says_so_in_words() -> None:
    detail = rich_detail()
    bare = JobDetail(
        job=replace(
            detail.job,
            figures=None,
            budget_action=None,
            budget_co2e_g=None,
            budget_energy_j=None,
            state="COMPLETED",
        ),
        split=[],
        timeline=[],
        not_recomputed="no energy intervals are stored for job 200_3",
    )
    _, page = page_of(bare)
    assert "No power cap was decided for this job" in section(page, "caps")
    assert 'id="chart-caps"' not in page
    assert "No budget was given in its comment." in section(page, "budget")
    assert "Not running: no forecast." in section(page, "forecast")
    assert "Not deferred" in section(page, "deferral")
    assert "No energy by node" in section(page, "nodes")
    assert "no energy intervals are stored for job 200_3" in section(page, "what-if")
    assert "No slowdown" in section(page, "slowdown")
    assert shown(page, "job-co2e") == "pending"


def test_an_id_naming_several_jobs_lists_them_with_the_apis_figures(client: TestClient) -> None:
    # Array 200's tasks 200_1 and 200_2 (as a het job's 843 names 843+0 and 843+1).
    api = client.get(
        "/api/v1/jobs", params={"jobs": "200"}, headers={"Authorization": f"MUNGE {GOOD[ALICE]}"}
    ).json()
    login(client, ALICE)
    page = client.get("/web/jobs/200")
    assert page.status_code == 200, page.text
    listed = section(page.text, "components")
    for item in api["jobs"]:
        link = f'<a href="/web/jobs/{item["job_id"]}">{item["job_id"]}</a>'
        assert (
            f"<td>{link}</td><td>{item['state']}</td><td>{kwh(item['facility_kwh'])}</td>" in listed
        )
    assert [item["job_id"] for item in api["jobs"]] == ["200_1", "200_2"]
    assert "Job 200 names 2 jobs" in page.text
