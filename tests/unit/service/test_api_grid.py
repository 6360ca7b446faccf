"""``GET /api/v1/intensity`` and ``GET /api/v1/nodes`` over the report's seeded store."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from slurm_carbon.service.api.grid import MAX_AHEAD_H
from tests.unit.service.test_api_auth import ALICE, GOOD, OPS, client, unmunge

__all__ = ["client", "unmunge"]  # fixtures, shared


def get(client: TestClient, path: str, uid: int, **params: str) -> Any:
    return client.get(path, headers={"Authorization": f"MUNGE {GOOD[uid]}"}, params=params)


def test_intensity_now_and_ahead_per_region(client: TestClient) -> None:
    response = get(client, "/api/v1/intensity", ALICE, hours="6")
    assert response.status_code == 200, response.text
    body = response.json()
    regions = {r["region"]: r for r in body["regions"]}
    # Seeded actuals: FR's last value (from 13:30) is 50 g/kWh, SE's 20; the app's
    # clock is 18:00, after both, with no forecast: the last actual is carried. (The
    # store is shared with other tests, whose regions may be there too.)
    assert {name: regions[name]["current_g_per_kwh"] for name in ("FR", "SE")} == {
        "FR": 50.0,
        "SE": 20.0,
    }
    ahead = regions["FR"]["ahead"]
    assert ahead
    assert ahead[0]["ci_g_per_kwh"] == 50.0
    assert ahead[0]["kind"] == "actual"
    assert body["hours"] == 6


@pytest.mark.parametrize("hours", ["0", str(MAX_AHEAD_H + 1), "x"])
def test_hours_out_of_range_is_422(client: TestClient, hours: str) -> None:
    response = get(client, "/api/v1/intensity", ALICE, hours=hours)
    assert response.status_code == 422
    assert response.json() == {"error": f"hours: must be a whole number from 1 to {MAX_AHEAD_H}"}


def test_nodes_are_for_admins(client: TestClient) -> None:
    refused = get(client, "/api/v1/nodes", ALICE)
    assert (refused.status_code, refused.json()) == (
        403,
        {"error": "alice is not an admin: node health is for admins"},
    )
    response = get(client, "/api/v1/nodes", OPS)
    assert response.status_code == 200, response.text
    # Node gpu01 of cluster tc: job 100's intervals, the last ending at 11:00; clock 18:00.
    assert response.json()["nodes"] == [
        {
            "cluster": "tc",
            "node": "gpu01",
            "last_report": "2024-03-14T11:00:00+00:00",
            "seconds_since": 7 * 3600.0,
            "spool_backlog": None,
            "dead_letters": None,
        }
    ]
    assert response.json()["writer"] == {"pending": 0, "failed": 0}
