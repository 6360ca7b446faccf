"""Old energy intervals rolled up to one row per job, node, device and hour, totals exact.

A 60 s interval is worth keeping while a job runs and while its result may
still change; a month later its job's result is settled and a row per hour
holds the same figures. :func:`roll_up_day` replaces the rows of one UTC day
that ended before a cutoff with one row per run of consecutive rows of the same
job, node, device, hour, method and sharing, when the run holds two or more:

- only rows of a settled job (it has an end and a stored result) that lie
  within its run time, each wholly inside its hour: what the result was
  computed from keeps its place, and a rolled row never crosses an hour, the
  carbon-intensity series' step;
- the energy is summed (``math.fsum``), the span is the first row's start to
  the last one's end, the method and sharing are the run's own (so the shares
  of each stay as they were), the power limit and busy clock are the
  time-weighted means of the rows that have one (None if none has).

The job's stored result is not touched, so every report of it is what it was;
recomputing its footprint from the rolled rows gives the same energy, and the
same CO2e wherever the carbon intensity and PUE hold over each whole hour
(the embedded table and the hourly providers; a 30-minute series gives an
hour's energy the hour's first half-hour figure's share of time) and where no
fixed power for unmeasured node parts is configured (their share counts time
slots, which rolling merges).

Rolling twice rolls nothing: a rolled row is a run of one. A batch re-sent
after its rows were rolled up adds nothing: its first row meets the rolled
row's primary key, and revision 0018's trigger skips every later one, which a
stored row of the same node, device and job covers from an earlier start.

Units: energy in joules, power in watts, clock in MHz; aware UTC datetimes.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, exists, func, insert, select
from sqlalchemy.orm import Session

from slurm_carbon.errors import StoreError
from slurm_carbon.store.models import Base, EnergyInterval, Job, JobResult
from slurm_carbon.store.partitions import drop_partitions_before, ensure_partitions
from slurm_carbon.store.transactions import SessionFactory, transaction

__all__ = [
    "ROLLUP_BUCKET",
    "Maintained",
    "RolledDay",
    "days_to_roll",
    "maintain",
    "roll_up_day",
]

#: One rolled row per hour: the step of every carbon-intensity series the service
#: reads but a 30-minute one, so a rolled row takes one CI figure as its rows did.
ROLLUP_BUCKET = timedelta(hours=1)
_DAY = timedelta(days=1)
_T = Base.metadata.tables[EnergyInterval.__tablename__]


@dataclass(frozen=True, slots=True)
class RolledDay:
    """What rolling up one day did: ``rows_before`` rows became ``rows_after``."""

    day: date
    rows_before: int
    rows_after: int


@dataclass(frozen=True, slots=True)
class Maintained:
    """What :func:`maintain` did.

    Attributes:
        partitions: Day partitions created (PostgreSQL).
        rolled_from: Rows rolled up...
        rolled_to: ...into this many.
        dropped: Rows dropped past the retention.
    """

    partitions: int
    rolled_from: int
    rolled_to: int
    dropped: int


def maintain(
    factory: SessionFactory,
    now: datetime,
    *,
    rollup_after: timedelta,
    retention: timedelta | None,
    progress: Callable[[RolledDay], None] | None = None,
) -> Maintained:
    """Create partitions ahead, roll up rows older than ``rollup_after``, drop past ``retention``.

    Each step, and each day rolled up, is its own transaction, so a long run
    holds no lock for long and an interrupted one keeps what it did; ``progress``
    hears of each day rolled up. Jobs and results are never touched.

    Raises:
        StoreError: the database failed, or a day's rows changed while it rolled
            up (that day is left as it was).
    """
    with transaction(factory) as session:
        created = ensure_partitions(session, now)
    before = now - rollup_after
    with transaction(factory) as session:
        days = days_to_roll(session, before)
    rolled_from = rolled_to = 0
    for day in days:
        with transaction(factory) as session:
            done = roll_up_day(session, day, before)
        rolled_from += done.rows_before
        rolled_to += done.rows_after
        if progress is not None:
            progress(done)
    dropped = 0
    if retention is not None:
        with transaction(factory) as session:
            dropped = drop_partitions_before(session, now - retention)
    return Maintained(len(created), rolled_from, rolled_to, dropped)


def _settled() -> Any:
    """Rows of a settled job (an end and a result) within its run time."""
    return and_(
        Job.id == EnergyInterval.job_id,
        Job.end_time.is_not(None),
        EnergyInterval.interval_start >= Job.start_time,
        EnergyInterval.interval_end <= Job.end_time,
        exists().where(JobResult.job_id == Job.id),
    )


def days_to_roll(session: Session, before: datetime) -> list[date]:
    """The UTC days holding rows that may roll up: from the oldest row ending before ``before``."""
    first = session.execute(
        select(func.min(EnergyInterval.interval_start)).where(EnergyInterval.interval_end <= before)
    ).scalar_one_or_none()
    if first is None:
        return []
    day, last = first.astimezone(UTC).date(), before.astimezone(UTC).date()
    return [day + timedelta(days=n) for n in range((last - day).days + 1)]


def _hour(when: datetime) -> datetime:
    return when.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _runs(rows: Sequence[Any]) -> Iterator[list[Any]]:
    """Runs of consecutive rows of one job, node, device, hour, method and sharing."""

    def key(row: Any) -> tuple[Any, ...]:
        return (row.job_id, row.node_id, row.device_id, _hour(row.interval_start))

    for _, same_hour in itertools.groupby(rows, key=key):
        for _, run in itertools.groupby(same_hour, key=lambda row: (row.method, row.sharing)):
            yield list(run)


def _weighted(run: Sequence[Any], column: str) -> float | None:
    """The time-weighted mean of ``column`` over the rows that have it."""
    known = [
        (getattr(row, column), (row.interval_end - row.interval_start).total_seconds())
        for row in run
        if getattr(row, column) is not None
    ]
    seconds = math.fsum(s for _, s in known)
    return math.fsum(v * s for v, s in known) / seconds if seconds > 0 else None


def _rolled(run: Sequence[Any]) -> dict[str, Any]:
    first = run[0]
    return {
        "job_id": first.job_id,
        "node_id": first.node_id,
        "device_id": first.device_id,
        "interval_start": first.interval_start,
        "interval_end": max(row.interval_end for row in run),
        "energy_j": math.fsum(row.energy_j for row in run),
        "method": first.method,
        "sharing": first.sharing,
        "cap_w": _weighted(run, "cap_w"),
        "busy_clock_mhz": _weighted(run, "busy_clock_mhz"),
    }


def roll_up_day(session: Session, day: date, before: datetime) -> RolledDay:
    """Roll up the settled rows of UTC ``day`` that ended by ``before``; nothing commits here.

    Raises:
        StoreError: the rows deleted or inserted are not the ones read (a
            concurrent writer); the caller rolls back, nothing is lost.
    """
    start = datetime.combine(day, time(), tzinfo=UTC)
    query = (
        select(_T)
        .where(
            EnergyInterval.interval_start >= start,
            EnergyInterval.interval_start < start + _DAY,
            EnergyInterval.interval_end <= before,
            exists().where(_settled()),
        )
        .order_by(
            EnergyInterval.job_id,
            EnergyInterval.node_id,
            EnergyInterval.device_id,
            EnergyInterval.interval_start,
        )
    )
    connection = session.connection()
    rows = [
        row
        for row in connection.execute(query)
        if row.interval_end <= _hour(row.interval_start) + ROLLUP_BUCKET
    ]
    runs = [run for run in _runs(rows) if len(run) > 1]
    gone = [row for run in runs for row in run]
    if not runs:
        return RolledDay(day, 0, 0)
    deleted = connection.execute(
        delete(_T).where(
            _T.c.node_id == bindparam("n"),
            _T.c.device_id == bindparam("d"),
            _T.c.job_id == bindparam("j"),
            _T.c.interval_start == bindparam("s"),
        ),
        [{"n": r.node_id, "d": r.device_id, "j": r.job_id, "s": r.interval_start} for r in gone],
    ).rowcount
    added = len(
        connection.execute(insert(_T).returning(_T.c.job_id), [_rolled(run) for run in runs]).all()
    )
    if deleted != len(gone) or added != len(runs):
        raise StoreError(
            f"rollup of {day}: deleted {deleted} of {len(gone)} rows and added {added} of"
            f" {len(runs)}: the rows changed meanwhile; nothing was rolled up"
        )
    return RolledDay(day, len(gone), len(runs))
