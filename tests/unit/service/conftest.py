"""Fixtures for the service's tests: the app over the test's rolled-back transaction.

The app's sessions join the ``session`` fixture's connection through SAVEPOINTs,
so what a request commits is visible to the test and rolled back after it. The
helpers are methods of the fixture's value, so tests import nothing from here.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # Starlette >= 1.x wants httpx2 for its test client and warns once, at import,
    # when it finds only httpx (the dev extra's); either works the same here.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from slurm_carbon.service import create_app
from slurm_carbon.store import (
    Cluster,
    Device,
    EnergyInterval,
    Job,
    Node,
    SessionFactory,
    issue_token,
)

CLUSTER, NODE = "sclocal", "vm"
#: The app's clock in these tests: an hour after the intervals of :func:`interval`.
NOW = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)
GPU_UUID = "GPU-5e0b8c2a-1111-2222-3333-444455556666"


def interval(index: int = 0, **fields: Any) -> dict[str, Any]:
    """One valid interval as the agent sends it: minute ``index`` of job 123 on the GPU."""
    body: dict[str, Any] = {
        "job_id": 123,
        "device": {"uuid": GPU_UUID, "kind": "gpu", "model": "Tesla V100", "minor": 0},
        "start": f"2026-11-23T15:{index:02d}:00+00:00",
        "end": f"2026-11-23T15:{index + 1:02d}:00+00:00",
        "energy_j": 12.5 + index,
        "method": "counter",
        "sharing": "exclusive",
    }
    body.update(fields)
    return body


@dataclass
class Api:
    """A test client of the app, a valid token for node ``vm`` of ``sclocal``, the session."""

    client: TestClient
    token: str
    session: Session

    def batch(self, intervals: list[dict[str, Any]] | None = None, **fields: Any) -> dict[str, Any]:
        """A body with ``intervals`` (default: two good ones) from our node."""
        body = {
            "cluster": CLUSTER,
            "node": NODE,
            "intervals": [interval(0), interval(1)] if intervals is None else intervals,
        }
        body.update(fields)
        return copy.deepcopy(body)

    def post(
        self,
        body: Any,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> Any:
        """POST ``body`` as JSON (or ``content=``, labelled JSON) with our token or ``token``."""
        sent = {
            "Authorization": f"Bearer {self.token if token is None else token}",
            "Content-Type": "application/json",
            **(headers or {}),
        }
        if "content" not in kwargs:
            kwargs["json"] = body
        return self.client.post("/api/v1/intervals", headers=sent, **kwargs)

    def count(self, model: type[Any]) -> int:
        """Rows of ``model`` visible in the test's transaction."""
        return self.session.execute(select(func.count()).select_from(model)).scalar_one()

    def counts(self) -> dict[str, int]:
        """Rows of every table a batch writes to."""
        return {
            model.__tablename__: self.count(model)
            for model in (Cluster, Node, Device, Job, EnergyInterval)
        }

    def stored(self) -> list[tuple[Any, ...]]:
        """Every interval, keyed as the wire names it, in start order."""
        query = (
            select(
                Cluster.name,
                Node.hostname,
                Job.slurm_job_id,
                Device.uuid,
                Device.kind,
                Device.model,
                Device.minor,
                EnergyInterval.interval_start,
                EnergyInterval.interval_end,
                EnergyInterval.energy_j,
                EnergyInterval.method,
                EnergyInterval.sharing,
            )
            .join(Job, Job.id == EnergyInterval.job_id)
            .join(Node, Node.id == EnergyInterval.node_id)
            .join(Cluster, Cluster.id == Node.cluster_id)
            .join(Device, Device.id == EnergyInterval.device_id)
            .order_by(EnergyInterval.interval_start, Device.uuid)
        )
        return [tuple(row) for row in self.session.execute(query)]


@pytest.fixture
def factory(session: Session) -> SessionFactory:
    """Sessions on the test's connection, each in a SAVEPOINT of its transaction."""
    connection = session.get_bind()
    assert isinstance(connection, Connection)
    return sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )


@pytest.fixture
def api(session: Session, factory: SessionFactory) -> Iterator[Api]:
    """The app over the test's transaction, with a token issued for ``vm`` of ``sclocal``."""
    token = issue_token(session, CLUSTER, NODE)
    session.commit()  # releases the fixture session's SAVEPOINT; the outer transaction stays
    with TestClient(create_app(factory, clock=lambda: NOW)) as client:
        yield Api(client=client, token=token, session=session)
