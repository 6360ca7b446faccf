"""Daily partitions of energy_intervals (PostgreSQL); SQLite stays one table."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from slurm_carbon.store import EnergyInterval, add_intervals
from slurm_carbon.store.partitions import (
    DEFAULT_PARTITION,
    PARTITIONS_AHEAD_DAYS,
    day_partitions,
    drop_partitions_before,
    ensure_partitions,
    partition_name,
)

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _rows_in(session: Session, table: str) -> int:
    return int(session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())  # noqa: S608 (test)


def _count(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(EnergyInterval)).scalar_one())


def test_partitions_are_created_ahead_once(session: Session) -> None:
    created = ensure_partitions(session, NOW)
    if not _postgres(session):
        assert created == []
        return
    wanted = [date(2026, 12, 1) + timedelta(days=n) for n in range(PARTITIONS_AHEAD_DAYS + 1)]
    assert created == wanted
    assert ensure_partitions(session, NOW) == []
    assert set(wanted) <= set(day_partitions(session))


def test_old_and_future_rows_are_kept_and_move_into_their_new_day(
    session: Session, ids: Any
) -> None:
    far_ahead = NOW + timedelta(days=PARTITIONS_AHEAD_DAYS + 3)
    backlog = NOW - timedelta(days=400)
    rows = [ids.interval(backlog), ids.interval(far_ahead), ids.interval(NOW)]
    assert add_intervals(session, rows) == 3
    if not _postgres(session):
        assert ensure_partitions(session, NOW) == []
        return
    assert _rows_in(session, DEFAULT_PARTITION) == 3
    ensure_partitions(session, NOW)
    assert _rows_in(session, DEFAULT_PARTITION) == 2  # today's row moved to its day
    assert _rows_in(session, partition_name(NOW.date())) == 1
    ensure_partitions(session, far_ahead)  # the clock-skewed row's day comes
    assert _rows_in(session, DEFAULT_PARTITION) == 1
    assert _rows_in(session, partition_name(far_ahead.date())) == 1
    assert _count(session) == 3
    assert add_intervals(session, rows) == 0  # the key still holds across partitions


def test_retention_drops_whole_old_days_and_old_default_rows_only(
    session: Session, ids: Any
) -> None:
    first = ensure_partitions(session, NOW - timedelta(days=10))  # Nov 21 to Nov 28
    ensure_partitions(session, NOW)
    old = [ids.interval(NOW - timedelta(days=9, minutes=m)) for m in range(3)]
    older = ids.interval(NOW - timedelta(days=500))
    kept = [ids.interval(NOW - timedelta(days=1)), ids.interval(NOW)]
    assert add_intervals(session, [*old, older, *kept]) == 6
    assert drop_partitions_before(session, NOW - timedelta(days=2)) == 4
    assert _count(session) == 2
    if _postgres(session):
        assert first[0] == date(2026, 11, 21)
        assert min(day_partitions(session)) == NOW.date()  # Nov 29 and 30 never existed
    assert drop_partitions_before(session, NOW - timedelta(days=2)) == 0
    assert add_intervals(session, [replace(kept[0])]) == 0
