"""``GET /api/v1/intensity`` and ``GET /api/v1/nodes`` over the report's seeded store."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from slurm_carbon.service.api.grid import MAX_AHEAD_H
from slurm_carbon.store import issue_token
from tests.unit.cli.test_report_data import NOW
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
            "health_at": None,
        }
    ]
    assert response.json()["writer"] == {"pending": 0, "failed": 0}


def _ship(client: TestClient, session: Session, body: dict[str, Any]) -> Any:
    token = issue_token(session, "tc", "gpu01")
    session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    return client.post("/api/v1/intervals", json=body, headers=headers)


def test_nodes_show_the_health_the_agent_sent_last(client: TestClient, session: Session) -> None:
    batch = {"cluster": "tc", "node": "gpu01", "intervals": []}
    first = _ship(client, session, batch | {"health": {"spool_backlog": 40, "dead_letters": 2}})
    assert first.status_code == 200, first.text
    second = _ship(client, session, batch | {"health": {"spool_backlog": 7, "dead_letters": 3}})
    assert second.status_code == 200
    # An older agent sends no health: what the node said last stays.
    assert _ship(client, session, batch).status_code == 200
    [node] = get(client, "/api/v1/nodes", OPS).json()["nodes"]
    assert (node["spool_backlog"], node["dead_letters"], node["health_at"]) == (
        7,
        3,
        NOW.isoformat(),
    )


@pytest.mark.parametrize(
    ("health", "error"),
    [
        ({"spool_backlog": -1, "dead_letters": 0}, "health.spool_backlog: Input should be"),
        ({"spool_backlog": 0, "dead_letters": 2**31}, "health.dead_letters: Input should be"),
        ({"spool_backlog": 0}, "health.dead_letters: Field required"),
    ],
)
def test_bad_health_refuses_the_batch(
    client: TestClient, session: Session, health: dict[str, int], error: str
) -> None:
    body = {"cluster": "tc", "node": "gpu01", "intervals": [], "health": health}
    response = _ship(client, session, body)
    assert response.status_code == 422
    assert response.json()["error"].startswith(error)
