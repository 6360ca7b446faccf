"""``GET /api/v1/jobs/{job_id}`` and ``GET /api/v1/totals``: the report's detail and sums."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.unit.cli.test_report_data import TOTAL_CO2E_G
from tests.unit.service.test_api_auth import ALICE, GOOD, ROOT, client, unmunge

__all__ = ["client", "unmunge"]  # fixtures, shared

# The nodes' routes (bearer tokens, not the read API).
NODE_ROUTES = {"/api/v1/intervals", "/api/v1/caps"}


def test_one_job_in_detail_is_the_reports(client: TestClient) -> None:
    response = client.get("/api/v1/jobs/100", headers={"Authorization": f"MUNGE {GOOD[ALICE]}"})
    assert response.status_code == 200, response.text
    detail = response.json()
    assert detail["job"]["job_id"] == "100"
    assert detail["job"]["co2e_g"] == pytest.approx(600.0)
    # Spec 100: GPU 1.0, CPU 0.5, DRAM 0.1 kWh at the devices (1.6 in all).
    split = {share["kind"]: (share["kwh"], share["share_pct"]) for share in detail["split"]}
    assert split == {
        "gpu": (pytest.approx(1.0), pytest.approx(62.5)),
        "cpu": (pytest.approx(0.5), pytest.approx(31.25)),
        "dram": (pytest.approx(0.1), pytest.approx(6.25)),
    }
    # Two 30-minute intervals, 1800 kJ on the GPU and 900 kJ on the CPU each.
    assert [(p["start"], p["gpu_kwh"], p["cpu_kwh"]) for p in detail["timeline"]] == [
        ("2024-03-14T10:00:00+00:00", pytest.approx(0.5), pytest.approx(0.25)),
        ("2024-03-14T10:30:00+00:00", pytest.approx(0.5), pytest.approx(0.25)),
    ]
    assert set(detail) == {
        "job",
        "result",
        "deferral",
        "not_forecast",
        "nodes",
        "split",
        "timeline",
        "recomputed",
        "not_recomputed",
    }
    # The stored result whole (joules, its sharing), no forecast (ended), one node.
    assert (detail["result"]["gpu_energy_j"], detail["result"]["sharing"]) == (3.6e6, "exclusive")
    assert (detail["not_forecast"], detail["deferral"]) == (None, None)
    assert [(n["node"], n["energy_j"]) for n in detail["nodes"]] == [("gpu01", 5.4e6)]


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        (
            "/api/v1/jobs/102",
            403,
            "alice may only see their own jobs, and job 102 is not among them",
        ),
        ("/api/v1/jobs/999", 404, "no job 999 in the store"),
        ("/api/v1/jobs/200", 422, "job_id: names 2 jobs (200_1, 200_2 ...): ask for one"),
        ("/api/v1/jobs/1x", 422, "job_id: invalid job id '1x' (use e.g. 12, 12_3, 12+1 or 12,13)"),
        ("/api/v1/jobs/100?full=1", 422, "full: unknown query parameter"),
    ],
)
def test_a_job_that_cannot_be_shown_says_why(
    client: TestClient, path: str, status: int, words: str
) -> None:
    response = client.get(path, headers={"Authorization": f"MUNGE {GOOD[ALICE]}"})
    assert (response.status_code, response.json()) == (status, {"error": words})


def test_a_job_needs_a_credential(client: TestClient) -> None:
    assert client.get("/api/v1/jobs/100").status_code == 401


def totals(client: TestClient, uid: int, **params: str) -> dict[str, object]:
    response = client.get(
        "/api/v1/totals", headers={"Authorization": f"MUNGE {GOOD[uid]}"}, params=params
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_totals_by_group_are_the_reports_sums(client: TestClient) -> None:
    body = totals(client, ROOT, group="account")
    groups = body["groups"]
    assert isinstance(groups, list)
    # physics 600 + 100 + 400 + 200; chemistry 900 (job 103 pending); bio 50.
    assert {g["key"]: g["co2e_g"] for g in groups} == {
        "physics": pytest.approx(1300.0),
        "chemistry": pytest.approx(900.0),
        "bio": pytest.approx(50.0),
    }
    overall = body["totals"]
    assert isinstance(overall, dict)
    assert overall["co2e_g"] == pytest.approx(TOTAL_CO2E_G)


def test_totals_by_day_are_by_the_utc_day_the_jobs_ended(client: TestClient) -> None:
    groups = totals(client, ROOT, group="day")["groups"]
    assert isinstance(groups, list)
    # Job 300 ended 2024-02-01 09:00 UTC (50 g); the others 2024-03-14 11:00..16:00 UTC.
    assert [(g["key"], g["jobs"], g["co2e_g"]) for g in groups] == [
        ("2024-02-01", 1, pytest.approx(50.0)),
        ("2024-03-14", 6, pytest.approx(TOTAL_CO2E_G - 50.0)),
    ]


def test_a_users_totals_are_of_their_jobs_only(client: TestClient) -> None:
    overall = totals(client, ALICE)["totals"]
    assert isinstance(overall, dict)
    assert (overall["jobs"], overall["co2e_g"]) == (4, pytest.approx(1300.0))


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"group": "node"}, "group: one of job, user, account, partition, day"),
        ({"limit": "3"}, "limit: unknown query parameter"),
    ],
)
def test_bad_totals_parameters_are_422(
    client: TestClient, params: dict[str, str], words: str
) -> None:
    response = client.get(
        "/api/v1/totals", headers={"Authorization": f"MUNGE {GOOD[ROOT]}"}, params=params
    )
    assert (response.status_code, response.json()) == (422, {"error": words})


def test_every_read_route_is_described_and_every_description_served(client: TestClient) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"] == "3.1.0"
    described = {
        (path, method.upper()) for path, ops in document["paths"].items() for method in ops
    }
    app = client.app
    assert isinstance(app, Starlette)
    served = {
        (route.path, method)
        for route in app.routes
        if isinstance(route, Route) and route.path.startswith("/api/v1/")
        if route.path not in NODE_ROUTES
        for method in route.methods or ()
        if method != "HEAD"
    }
    assert described == served


def test_the_description_names_every_key_of_a_jobs_detail(client: TestClient) -> None:
    document = client.get("/api/v1/openapi.json").json()
    said = document["paths"]["/api/v1/jobs/{job_id}"]["get"]["responses"]["200"]["description"]
    detail = client.get("/api/v1/jobs/100", headers={"Authorization": f"MUNGE {GOOD[ALICE]}"})
    assert said.startswith("{" + ", ".join(detail.json()) + "}:")
    assert "at most 48 steps" in said
