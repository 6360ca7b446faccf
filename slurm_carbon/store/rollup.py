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

On PostgreSQL the server applies these rules to a day in a few statements
(window functions number the runs, one ``INSERT ... SELECT ... GROUP BY`` writes
them); SQLite's single table is rolled up here, row by row, by the same rules, and
a test holds the two to the same rows. The SQL sums the energy in float8 (60
terms an hour: within 1e-14 of ``fsum``).

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
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple

from sqlalchemy import and_, bindparam, delete, exists, func, insert, select, text
from sqlalchemy.orm import Session

from slurm_carbon.errors import StoreError
from slurm_carbon.store.compact import Compacted, compact_day
from slurm_carbon.store.models import Base, EnergyInterval, Job, JobResult
from slurm_carbon.store.partitions import drop_partitions_before, ensure_partitions
from slurm_carbon.store.transactions import SessionFactory, transaction

__all__ = [
    "ROLLUP_BUCKET",
    "ROLLUP_WORK_MEM",
    "Maintained",
    "RolledDay",
    "days_to_roll",
    "maintain",
    "roll_up_day",
]

#: One rolled row per hour: the step of every carbon-intensity series the service
#: reads but a 30-minute one, so a rolled row takes one CI figure as its rows did.
ROLLUP_BUCKET = timedelta(hours=1)
#: Memory each sort of the SQL rollup may take (PostgreSQL ``work_mem``, for its own
#: transaction only): a day of a 2,000-GPU cluster (2.88 million rows) sorts in memory
#: (the default 4 MB spilled every sort to disk); a larger day spills, slower, not wrong.
ROLLUP_WORK_MEM = "256MB"
_DAY = timedelta(days=1)
_T = Base.metadata.tables[EnergyInterval.__tablename__]


@dataclass(frozen=True, slots=True)
class RolledDay:
    """What rolling up one day did: ``rows_before`` rows became ``rows_after``.

    ``compacted``: its partition's ``VACUUM FULL`` after (:func:`maintain`), if any.
    """

    day: date
    rows_before: int
    rows_after: int
    compacted: Compacted | None = None


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


def maintain(  # noqa: PLR0913 - the factory, the time, and [storage]'s three settings
    factory: SessionFactory,
    now: datetime,
    *,
    rollup_after: timedelta,
    retention: timedelta | None,
    compact: bool = True,
    progress: Callable[[RolledDay], None] | None = None,
) -> Maintained:
    """Create partitions ahead, roll up rows older than ``rollup_after``, drop past ``retention``.

    Each step, and each day rolled up, is its own transaction, so a long run
    holds no lock for long and an interrupted one keeps what it did; ``progress``
    hears of each day rolled up. With ``compact``, a day partition whose rows were
    rolled up is then compacted (:func:`~slurm_carbon.store.compact.compact_day`,
    PostgreSQL only). Jobs and results are never touched.

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
        if compact and done.rows_before:
            done = replace(done, compacted=compact_day(factory, day, now.astimezone(UTC).date()))
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


def roll_up_day(
    session: Session, day: date, before: datetime, *, in_python: bool = False
) -> RolledDay:
    """Roll up the settled rows of UTC ``day`` that ended by ``before``; nothing commits here.

    On PostgreSQL a few statements do it in the server (:data:`_SQL_RUNS`);
    SQLite, or ``in_python``, reads the rows and applies the same rules here
    (a test holds the two to the same rows).

    Raises:
        StoreError: the rows deleted or inserted are not the ones read (a
            concurrent writer); the caller rolls back, nothing is lost.
    """
    start = datetime.combine(day, time(), tzinfo=UTC)
    bounds = {"start": start, "end": start + _DAY, "before": before}
    if in_python or session.get_bind().dialect.name != "postgresql":
        done = _roll_up_in_python(session, bounds)
    else:
        done = _roll_up_in_sql(session, bounds)
    if done.deleted != done.rows or done.added != done.runs:
        raise StoreError(
            f"rollup of {day}: deleted {done.deleted} of {done.rows} rows and added"
            f" {done.added} of {done.runs}: the rows changed meanwhile; nothing was rolled up"
        )
    return RolledDay(day, done.rows, done.runs)


class _Replaced(NamedTuple):
    """``rows`` in ``runs`` to replace; ``deleted`` and ``added``: what the statements did."""

    rows: int
    runs: int
    deleted: int
    added: int


def _roll_up_in_python(session: Session, bounds: dict[str, datetime]) -> _Replaced:
    """The rules row by row."""
    query = (
        select(_T)
        .where(
            EnergyInterval.interval_start >= bounds["start"],
            EnergyInterval.interval_start < bounds["end"],
            EnergyInterval.interval_end <= bounds["before"],
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
        return _Replaced(0, 0, 0, 0)
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
    return _Replaced(len(gone), len(runs), deleted, added)


#: The rows of a day that roll up, each with its run (PostgreSQL): settled, within the
#: job's run time, wholly inside a UTC hour, then numbered so that consecutive rows of
#: one job, node, device, hour, method and sharing share ``run`` (the difference of two
#: row numbers, constant along such a stretch); only runs of two or more rows are kept.
_SQL_RUNS = """
INSERT INTO rollup_rows
WITH settled AS MATERIALIZED (
    SELECT id, start_time, end_time FROM jobs
    WHERE end_time IS NOT NULL AND EXISTS (SELECT 1 FROM job_results r WHERE r.job_id = jobs.id)
)
SELECT * FROM (
    SELECT r.*, count(*) OVER (
        PARTITION BY job_id, node_id, device_id, hour, method, sharing, run) AS rows_in_run
    FROM (
        SELECT i.*, h.hour,
            row_number() OVER (
                PARTITION BY i.job_id, i.node_id, i.device_id, h.hour
                ORDER BY i.interval_start)
            - row_number() OVER (
                PARTITION BY i.job_id, i.node_id, i.device_id, h.hour, i.method, i.sharing
                ORDER BY i.interval_start) AS run
        FROM energy_intervals i
        CROSS JOIN LATERAL (SELECT date_trunc('hour', i.interval_start, 'UTC') AS hour) h
        JOIN settled j ON j.id = i.job_id
        WHERE i.interval_start >= :start AND i.interval_start < :end
          AND i.interval_end <= :before
          AND i.interval_end <= h.hour + interval '1 hour'
          AND i.interval_start >= j.start_time AND i.interval_end <= j.end_time
    ) r
) s
WHERE rows_in_run > 1
"""
_SQL_DELETE = """
DELETE FROM energy_intervals i USING rollup_rows r
WHERE i.interval_start >= :start AND i.interval_start < :end
  AND (i.node_id, i.device_id, i.job_id, i.interval_start)
    = (r.node_id, r.device_id, r.job_id, r.interval_start)
"""
#: One row per run: energy summed, first start to last end, the cap and busy clock
#: weighted by each row's seconds over the rows that have one (NULL if none has).
_SQL_INSERT = """
INSERT INTO energy_intervals (job_id, node_id, device_id, interval_start, interval_end,
    energy_j, method, sharing, cap_w, busy_clock_mhz)
SELECT job_id, node_id, device_id, min(interval_start), max(interval_end), sum(energy_j),
    method, sharing,
    sum(cap_w * seconds) / nullif(sum(seconds) FILTER (WHERE cap_w IS NOT NULL), 0),
    sum(busy_clock_mhz * seconds)
        / nullif(sum(seconds) FILTER (WHERE busy_clock_mhz IS NOT NULL), 0)
FROM (SELECT *, extract(epoch FROM interval_end - interval_start) AS seconds
      FROM rollup_rows) r
GROUP BY job_id, node_id, device_id, hour, method, sharing, run
"""


def _roll_up_in_sql(session: Session, bounds: dict[str, datetime]) -> _Replaced:
    """The rules in PostgreSQL.

    The rows are deleted and the rolled ones inserted in the caller's transaction,
    not built into a new partition swapped in: a swap (DETACH/ATTACH) locks the
    whole table against ingest and re-checks every foreign key of the day's rows,
    where a delete locks only the rows it replaces, so ingest (a backlog's rows of
    that very day too) goes on meanwhile. The space the deleted rows held is
    free for reuse after a VACUUM; :func:`maintain` then gives it back
    (:mod:`slurm_carbon.store.compact`).
    """
    connection = session.connection()
    connection.execute(text(f"SET LOCAL work_mem = '{ROLLUP_WORK_MEM}'"))
    connection.execute(
        text(
            "CREATE TEMP TABLE rollup_rows"
            " (LIKE energy_intervals, hour timestamptz, run bigint, rows_in_run bigint)"
        )
    )
    rows = connection.execute(text(_SQL_RUNS), bounds).rowcount
    runs = connection.execute(
        text(
            "SELECT count(*) FROM (SELECT FROM rollup_rows"
            " GROUP BY job_id, node_id, device_id, hour, method, sharing, run) AS runs"
        )
    ).scalar_one()
    deleted = connection.execute(text(_SQL_DELETE), bounds).rowcount if rows else 0
    added = connection.execute(text(_SQL_INSERT)).rowcount if rows else 0
    connection.execute(text("DROP TABLE rollup_rows"))
    return _Replaced(rows, int(runs), deleted, added)
