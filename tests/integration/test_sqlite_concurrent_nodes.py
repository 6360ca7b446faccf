"""The embedded SQLite store under a small cluster's load: many nodes posting at once.

A deferred ``BEGIN`` reads first and then upgrades to a write lock, which SQLite
refuses at once ("database is locked") when another writer committed meanwhile:
16 nodes got 785 of 960 requests refused. Write transactions must queue instead.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
import requests
from sqlalchemy import func, select

from slurm_carbon.store import EnergyInterval, issue_token, make_engine, session_factory
from tests.unit.service.conftest import CLUSTER, interval

if TYPE_CHECKING:  # the fixture's type; test modules import nothing from conftest at run time
    from tests.integration.conftest import ServiceProcess

pytestmark = [
    pytest.mark.integration,
    pytest.mark.parametrize("service_process", ["sqlite"], indirect=True),
]

NODES = 16
BATCHES_PER_NODE = 60
INTERVALS_PER_BATCH = 2
T0 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


def _batch(node: int, number: int) -> dict[str, Any]:
    """Batch ``number`` of node ``node``: its job's next minutes on its own GPU."""
    intervals = []
    for offset in range(INTERVALS_PER_BATCH):
        start = T0 + timedelta(minutes=number * INTERVALS_PER_BATCH + offset)
        intervals.append(
            interval(
                job_id=1000 + node,
                device={"uuid": f"GPU-node{node:02d}", "kind": "gpu", "model": "A40", "minor": 0},
                start=start.isoformat(),
                end=(start + timedelta(minutes=1)).isoformat(),
            )
        )
    return {"cluster": CLUSTER, "node": f"n{node:02d}", "intervals": intervals}


def _send_all(base_url: str, node: int, token: str) -> list[tuple[int, int]]:
    """Posts the node's batches one after another; (status, stored) for each."""
    results = []
    with requests.Session() as http:
        http.headers["Authorization"] = f"Bearer {token}"
        for number in range(BATCHES_PER_NODE):
            response = http.post(
                f"{base_url}/api/v1/intervals", json=_batch(node, number), timeout=60
            )
            stored = response.json().get("stored", -1) if response.status_code == 200 else -1
            results.append((response.status_code, stored))
    return results


def test_sixteen_nodes_posting_at_once_are_all_stored_once(
    service_process: ServiceProcess,
) -> None:
    engine = make_engine(service_process.db_url)
    try:
        with session_factory(engine).begin() as session:
            tokens = {node: issue_token(session, CLUSTER, f"n{node:02d}") for node in range(NODES)}

        with ThreadPoolExecutor(max_workers=NODES) as pool:
            futures = [
                pool.submit(_send_all, service_process.url, node, token)
                for node, token in tokens.items()
            ]
            results = [result for future in futures for result in future.result()]

        with session_factory(engine)() as session:
            rows = session.execute(select(func.count()).select_from(EnergyInterval)).scalar_one()
    finally:
        engine.dispose()

    refused = [status for status, _ in results if status != 200]
    assert len(results) == NODES * BATCHES_PER_NODE
    assert refused == [], f"{len(refused)} of {len(results)} refused: {sorted(set(refused))}"
    assert {stored for _, stored in results} == {INTERVALS_PER_BATCH}
    assert rows == NODES * BATCHES_PER_NODE * INTERVALS_PER_BATCH
