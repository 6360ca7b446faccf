"""The real ``slurm-carbon service`` process on loopback, over PostgreSQL, fed with requests."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from sqlalchemy import select

from slurm_carbon.store import (
    EnergyInterval,
    issue_token,
    make_engine,
    session_factory,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def two_workers(service_process: Any) -> tuple[str, str, str]:
    """The service restarted with two workers; its base URL, database URL and a node token."""
    service_process.stop()
    service_process.start(workers=2)
    engine = make_engine(service_process.db_url)
    try:
        with session_factory(engine).begin() as session:
            token = issue_token(session, "sclocal", "vm")
    finally:
        engine.dispose()
    return service_process.url, service_process.db_url, token


def test_the_service_stores_a_batch_once(two_workers: tuple[str, str, str]) -> None:
    service, url, token = two_workers
    body: dict[str, Any] = {
        "cluster": "sclocal",
        "node": "vm",
        "intervals": [
            {
                "job_id": 123,
                "device": {"uuid": "GPU-abc", "kind": "gpu", "model": "Tesla V100", "minor": 0},
                "start": f"2026-11-23T15:0{minute}:00+00:00",
                "end": f"2026-11-23T15:0{minute + 1}:00+00:00",
                "energy_j": 100.0 + minute,
                "method": "counter",
                "sharing": "exclusive",
            }
            for minute in range(3)
        ],
    }
    headers = {"Authorization": f"Bearer {token}"}

    first = requests.post(f"{service}/api/v1/intervals", json=body, headers=headers, timeout=10)
    again = requests.post(f"{service}/api/v1/intervals", json=body, headers=headers, timeout=10)
    refused = requests.post(
        f"{service}/api/v1/intervals", json=body, headers={"Authorization": "Bearer no"}, timeout=10
    )

    assert (first.status_code, first.json()) == (200, {"received": 3, "stored": 3})
    assert (again.status_code, again.json()) == (200, {"received": 3, "stored": 0})
    assert refused.status_code == 401
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            stored = session.execute(
                select(EnergyInterval.energy_j).order_by(EnergyInterval.interval_start)
            )
            assert stored.scalars().all() == [100.0, 101.0, 102.0]
    finally:
        engine.dispose()
