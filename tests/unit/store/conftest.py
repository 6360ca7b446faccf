"""Fixtures for the store's tests; the helpers are methods, so tests import nothing from here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from slurm_carbon.store import (
    NewInterval,
    get_or_create_cluster,
    get_or_create_device,
    get_or_create_node,
    upsert_job,
)
from slurm_carbon.vocabulary import DeviceKind, EnergyMethod, Sharing

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Ids:
    """Ids of the rows the ``ids`` fixture created."""

    cluster_id: int
    node_id: int
    device_id: int
    job_id: int
    t0: datetime = T0

    def interval(self, start: datetime = T0, energy_j: float = 1500.0) -> NewInterval:
        """A 30 s interval of this job on this GPU."""
        return NewInterval(
            job_id=self.job_id,
            node_id=self.node_id,
            device_id=self.device_id,
            interval_start=start,
            interval_end=start + timedelta(seconds=30),
            energy_j=energy_j,
            method=EnergyMethod.COUNTER,
            sharing=Sharing.EXCLUSIVE,
        )


@pytest.fixture
def ids(session: Session) -> Ids:
    """A cluster with one node, one GPU and one job."""
    cluster = get_or_create_cluster(session, "tc", site="test site")
    node = get_or_create_node(session, cluster.id, "gpu01")
    device = get_or_create_device(
        session, node.id, "GPU-0f3c1c2e-aaaa-bbbb-cccc-000000000001", kind=DeviceKind.GPU, minor=0
    )
    job = upsert_job(session, cluster.id, 4242, user_name="alice", requested_gpus=1)
    return Ids(cluster.id, node.id, device.id, job.id)
