"""The service's pooled connections killed under it (a PostgreSQL restart): 503s, nothing lost.

The service's engine does not ping a connection before each use: the first use
of a dead one fails, which the service answers 503 (the agent sends the batch
again), and SQLAlchemy then replaces every connection of the pool.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select, text
from starlette.testclient import TestClient

from slurm_carbon.cli.service import WEB_SECRET_VARIABLE, app_from_environment
from slurm_carbon.store import issue_token, make_engine, session_factory, transaction, upgrade
from slurm_carbon.store.models import EnergyInterval
from tests.unit.service.conftest import CLUSTER, NODE, interval
from tests.unit.service.test_web_cli import keep_environment

_POSTGRESQL = pytest.param("postgresql", marks=pytest.mark.integration)
_KILL_OTHERS = text(
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
)


@pytest.fixture
def service(empty_db: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, str]]:
    """The app as ``slurm-carbon service`` builds it, a node's token; yields both and the URL."""
    url: str = empty_db("dead")
    upgrade(url)
    engine = make_engine(url)
    with transaction(session_factory(engine)) as session:
        token = issue_token(session, CLUSTER, NODE)
    engine.dispose()
    keep_environment(monkeypatch)
    monkeypatch.setenv("SLURM_CARBON_DB_URL", url)
    monkeypatch.delenv("SLURM_CARBON_CONFIG", raising=False)
    monkeypatch.delenv(WEB_SECRET_VARIABLE)
    with TestClient(app_from_environment()) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        yield client, url


def _sql(url: str, statement: Any) -> int:
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            return int(connection.execute(statement).scalar_one())
    finally:
        engine.dispose()


def _batch(*minutes: int) -> dict[str, Any]:
    return {"cluster": CLUSTER, "node": NODE, "intervals": [interval(m) for m in minutes]}


@pytest.mark.parametrize("empty_db", [_POSTGRESQL], indirect=True)
def test_a_batch_on_a_killed_connection_is_503_and_its_resend_is_stored(
    service: tuple[TestClient, str],
) -> None:
    client, url = service
    assert client.post("/api/v1/intervals", json=_batch(0, 1)).json()["stored"] == 2
    assert _sql(url, _KILL_OTHERS) >= 1  # the service's pooled connection among them

    refused = client.post("/api/v1/intervals", json=_batch(2, 3))
    resent = client.post("/api/v1/intervals", json=_batch(2, 3))
    after = client.post("/api/v1/intervals", json=_batch(4))

    assert refused.status_code == 503
    assert 1 <= int(refused.headers["Retry-After"]) <= 30
    assert resent.json() == {"received": 2, "stored": 2}
    assert after.json() == {"received": 1, "stored": 1}
    assert _sql(url, select(func.count()).select_from(EnergyInterval)) == 5


@pytest.mark.parametrize("empty_db", [_POSTGRESQL], indirect=True)
def test_a_read_on_a_killed_connection_is_503_then_served(
    service: tuple[TestClient, str],
) -> None:
    client, url = service
    assert client.get("/healthz").status_code == 200
    _sql(url, _KILL_OTHERS)

    assert client.get("/healthz").status_code == 503
    assert client.get("/healthz").status_code == 200
