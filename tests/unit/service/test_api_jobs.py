"""``GET /api/v1/jobs``: the report's filters, pages by limit and cursor, 422 naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from slurm_carbon.service.api import MAX_PAGE_LIMIT
from slurm_carbon.store import get_or_create_cluster, upsert_job
from tests.unit.cli.test_report_data import NOW
from tests.unit.service.test_api_auth import GOOD, ROOT, client, get, job_ids, unmunge

__all__ = ["client", "unmunge"]  # fixtures, shared

EVERY = ["100", "101", "102", "103", "200_1", "200_2", "300"]


def test_pages_follow_the_cursor_to_the_end_without_gaps(client: TestClient) -> None:
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        response = get(client, GOOD[ROOT], **params)
        seen += job_ids(response)
        pages += 1
        cursor = response.json()["next_cursor"]
        if cursor is None:
            break
    assert pages == 3  # 3 + 3 + 1 jobs
    assert sorted(seen) == EVERY


def test_a_job_stored_before_the_cursor_shifts_no_page(
    client: TestClient, session: Session
) -> None:
    first = get(client, GOOD[ROOT], limit=3)
    assert job_ids(first) == ["100", "101", "102"]
    # Job 50 sorts first: an offset cursor (3) would now give 102 again.
    cluster = get_or_create_cluster(session, "tc")
    upsert_job(session, cluster.id, 50, user_name="alice", end_time=NOW, state="COMPLETED")
    session.commit()
    after = get(client, GOOD[ROOT], limit=3, cursor=first.json()["next_cursor"])
    assert job_ids(after) == ["103", "200_1", "200_2"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"accounts": "chemistry"}, ["102", "103"]),
        ({"partitions": "cpu"}, ["101", "300"]),
        ({"states": "TO,OOM"}, ["200_2", "300"]),
        ({"jobs": "200"}, ["200_1", "200_2"]),
        # Jobs that ended 2024-03-14 12:00..13:00 UTC (101 at 12:00, 102 at 13:00).
        (
            {"start": "2024-03-14T12:00:00+00:00", "end": "2024-03-14T14:00:00+01:00"},
            ["101", "102"],
        ),
    ],
)
def test_filters_are_the_reports(
    client: TestClient, params: dict[str, str], expected: list[str]
) -> None:
    assert sorted(job_ids(get(client, GOOD[ROOT], **params))) == expected


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": str(MAX_PAGE_LIMIT + 1)}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "bm9wZQ=="}, "cursor"),
        ({"cursor": "%%%"}, "cursor"),
        ({"jobs": "12x"}, "jobs"),
        ({"states": "SLEEPING"}, "states"),
        ({"users": ","}, "users"),
        ({"start": "yesterday"}, "start"),
        ({"end": "2024-03-14T12:00:00"}, "end"),
        ({"start": "2024-03-15T00:00:00+00:00", "end": "2024-03-14T00:00:00+00:00"}, "start"),
        ({"user": "alice"}, "user"),
    ],
)
def test_a_bad_parameter_is_422_naming_it(
    client: TestClient, params: dict[str, str], field: str
) -> None:
    response = get(client, GOOD[ROOT], **params)
    assert response.status_code == 422
    assert response.json()["error"].startswith(f"{field}: ")
