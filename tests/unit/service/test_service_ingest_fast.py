"""The ingest fast path on SQLite and PostgreSQL: a constant few statements, ids cached.

Counts are of the statements the driver executes while :func:`ingest_batch` runs,
so a per-device or per-row statement shows up as a count that grows with the batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from slurm_carbon.store import Device, EnergyInterval, Job
from slurm_carbon.store.ingest import IdCache, ReportedDevice, ReportedInterval, ingest_batch
from slurm_carbon.vocabulary import DeviceKind, EnergyMethod, Sharing

T0 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


def _gpu(index: int, limits: tuple[float, float] | None = None) -> ReportedDevice:
    low, high = limits or (None, None)
    return ReportedDevice(
        uuid=f"GPU-{index:04d}", kind=DeviceKind.GPU, minor=index, min_limit_w=low, max_limit_w=high
    )


def _batch(
    gpus: int, jobs: int, minutes: range, limits: tuple[float, float] | None = None
) -> list[ReportedInterval]:
    """``gpus`` GPUs shared out over jobs 1..``jobs``, one interval each per minute."""
    return [
        ReportedInterval(
            slurm_job_id=1 + gpu % jobs,
            device=_gpu(gpu, limits),
            start=T0 + timedelta(minutes=minute),
            end=T0 + timedelta(minutes=minute + 1),
            energy_j=1000.0 * (gpu + 1) + minute,
            method=EnergyMethod.COUNTER,
            sharing=Sharing.EXCLUSIVE,
            cap_w=250.0,
            busy_clock_mhz=1200.0 + gpu,
        )
        for minute in minutes
        for gpu in range(gpus)
    ]


@contextmanager
def _statements(session: Session) -> Iterator[list[str]]:
    """The SQL statements executed on the session's connection inside the block."""
    session.execute(select(1))  # the session's own SAVEPOINT, before counting
    connection = session.connection()
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(str(args[2]))

    event.listen(connection, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(connection, "before_cursor_execute", count)


def _energy_by_job(session: Session) -> dict[int, float]:
    query = (
        select(Job.slurm_job_id, func.sum(EnergyInterval.energy_j))
        .join(Job, Job.id == EnergyInterval.job_id)
        .group_by(Job.slurm_job_id)
    )
    return {int(job): float(total) for job, total in session.execute(query)}


def test_a_new_batch_costs_as_many_statements_with_16_gpus_as_with_one(session: Session) -> None:
    with _statements(session) as small:
        ingest_batch(session, "tc", "n1", _batch(gpus=1, jobs=1, minutes=range(1)), ids=IdCache())
    with _statements(session) as large:
        stored = ingest_batch(
            session, "tc2", "n2", _batch(gpus=16, jobs=4, minutes=range(3)), ids=IdCache()
        )

    assert stored == 48
    assert len(large) == len(small)
    # The cluster and node looked up and created, the devices, the jobs, the intervals;
    # PostgreSQL: the intervals' COPY is not counted, its savepoint and release are.
    postgresql = session.get_bind().dialect.name == "postgresql"
    assert len(large) <= (10 if postgresql else 9)


def test_a_known_nodes_new_batch_goes_straight_into_the_table(session: Session) -> None:
    ids = IdCache()
    ingest_batch(session, "tc", "n1", _batch(gpus=8, jobs=2, minutes=range(1)), ids=ids)
    session.commit()

    with _statements(session) as seen:
        stored = ingest_batch(session, "tc", "n1", _batch(8, 2, range(1, 3)), ids=ids)

    assert stored == 16
    if session.get_bind().dialect.name == "postgresql":
        # A COPY into energy_intervals (on the driver, not counted) in a savepoint: no
        # stage table, no INSERT ... SELECT.
        assert [statement.split()[0] for statement in seen] == ["SAVEPOINT", "RELEASE"]
    else:
        assert len(seen) == 1
        assert "energy_intervals" in seen[0]


def test_ids_of_a_rolled_back_batch_are_not_kept(session: Session) -> None:
    ids = IdCache()
    ingest_batch(session, "tc", "n1", _batch(gpus=2, jobs=2, minutes=range(1)), ids=ids)
    session.rollback()

    assert len(ids) == 0
    assert ingest_batch(session, "tc", "n1", _batch(2, 2, range(1)), ids=ids) == 2
    session.commit()
    assert len(ids) == 6


def test_the_cache_holds_at_most_its_bound_and_stays_right(session: Session) -> None:
    ids = IdCache(bound=3)
    ingest_batch(session, "tc", "n1", _batch(gpus=8, jobs=3, minutes=range(1)), ids=ids)
    session.commit()

    assert len(ids) == 3
    assert ingest_batch(session, "tc", "n1", _batch(8, 3, range(2)), ids=ids) == 8
    assert session.execute(select(func.count()).select_from(Device)).scalar_one() == 8
    assert _energy_by_job(session) == {
        1: 1000.0 * (1 + 4 + 7) * 2 + 3 * 1,
        2: 1000.0 * (2 + 5 + 8) * 2 + 3 * 1,
        3: 1000.0 * (3 + 6) * 2 + 2 * 1,
    }


def test_a_resent_or_overlapping_batch_stores_only_new_rows_and_keeps_energy(
    session: Session,
) -> None:
    ids = IdCache()
    first = _batch(gpus=4, jobs=2, minutes=range(2))
    assert ingest_batch(session, "tc", "n1", first, ids=ids) == 8
    session.commit()
    energy = _energy_by_job(session)

    assert ingest_batch(session, "tc", "n1", first, ids=ids) == 0
    louder = [
        ReportedInterval(**{**{f: getattr(i, f) for f in i.__slots__}, "energy_j": 9e5})
        for i in _batch(4, 2, range(1, 3))
    ]
    assert ingest_batch(session, "tc", "n1", louder, ids=ids) == 4
    session.commit()
    assert _energy_by_job(session) == {job: total + 2 * 9e5 for job, total in energy.items()}


def test_a_known_gpus_new_limit_range_is_stored_and_kept_when_absent(session: Session) -> None:
    ids = IdCache()
    ingest_batch(session, "tc", "n1", _batch(1, 1, range(1), limits=(100.0, 300.0)), ids=ids)
    session.commit()
    ingest_batch(session, "tc", "n1", _batch(1, 1, range(1, 2), limits=(120.0, 280.0)), ids=ids)
    session.commit()
    ingest_batch(session, "tc", "n1", _batch(1, 1, range(2, 3)), ids=ids)
    session.commit()

    limits = session.execute(select(Device.min_limit_w, Device.max_limit_w)).one()
    assert tuple(limits) == (120.0, 280.0)
