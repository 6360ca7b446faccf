from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from slurm_carbon.store import (
    EnergyInterval,
    Job,
    add_intervals,
    get_or_create_cluster,
    get_or_create_device,
    get_or_create_node,
    upsert_job,
)
from slurm_carbon.vocabulary import DeviceKind


def _count_intervals(session: Session) -> int:
    return session.execute(select(func.count()).select_from(EnergyInterval)).scalar_one()


def test_same_interval_sent_twice_is_stored_once(session: Session, ids: Any) -> None:
    assert add_intervals(session, [ids.interval()]) == 1
    assert add_intervals(session, [ids.interval()]) == 0
    assert _count_intervals(session) == 1


def test_resent_interval_keeps_the_first_energy(session: Session, ids: Any) -> None:
    add_intervals(session, [ids.interval(energy_j=100.0)])
    add_intervals(session, [ids.interval(energy_j=999.0)])
    stored = session.execute(select(EnergyInterval.energy_j)).scalars().all()
    assert stored == [100.0]


def test_a_batch_counts_only_its_new_intervals(session: Session, ids: Any) -> None:
    first = [ids.interval(ids.t0 + timedelta(seconds=30 * i)) for i in range(3)]
    assert add_intervals(session, first) == 3
    overlapping = [ids.interval(ids.t0 + timedelta(seconds=30 * i)) for i in range(2, 6)]
    # Duplicates inside one batch count once, too.
    assert add_intervals(session, [*overlapping, overlapping[-1]]) == 3
    assert _count_intervals(session) == 6


def test_add_intervals_of_nothing_adds_nothing(session: Session, ids: Any) -> None:
    assert add_intervals(session, []) == 0


def test_get_or_create_returns_the_stored_rows(session: Session, ids: Any) -> None:
    cluster = get_or_create_cluster(session, "tc", site="ignored")
    node = get_or_create_node(session, cluster.id, "gpu01")
    device = get_or_create_device(
        session, node.id, "GPU-0f3c1c2e-aaaa-bbbb-cccc-000000000001", kind=DeviceKind.CPU
    )
    assert (cluster.id, node.id, device.id) == (ids.cluster_id, ids.node_id, ids.device_id)
    assert cluster.site == "test site"
    assert device.kind is DeviceKind.GPU
    other = get_or_create_node(session, cluster.id, "gpu02")
    assert other.id != node.id


def test_upsert_job_updates_only_the_fields_given(session: Session, ids: Any) -> None:
    end = datetime(2024, 3, 1, 13, 0, tzinfo=UTC)
    job = upsert_job(session, ids.cluster_id, 4242, state="COMPLETED", end_time=end)
    assert job.id == ids.job_id
    assert (job.user_name, job.requested_gpus, job.state, job.end_time) == (
        "alice",
        1,
        "COMPLETED",
        end,
    )
    unchanged = upsert_job(session, ids.cluster_id, 4242)
    assert unchanged.state == "COMPLETED"
    assert session.execute(select(func.count()).select_from(Job)).scalar_one() == 1


def test_rows_of_one_test_are_not_seen_by_the_next(session: Session) -> None:
    # The `ids` fixture of the other tests created cluster "tc": rolled back since.
    assert session.execute(select(func.count()).select_from(Job)).scalar_one() == 0
