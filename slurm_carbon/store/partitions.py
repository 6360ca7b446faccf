"""PostgreSQL's daily partitions of ``energy_intervals``: created ahead, dropped past retention.

On PostgreSQL ``energy_intervals`` is partitioned by range of ``interval_start``
(revision 0018), one partition per UTC day, named ``energy_intervals_pYYYYMMDD``
and kept in their own schema (:data:`PARTITION_SCHEMA`, so the application's
schema holds only the tables the models describe). A ``DEFAULT`` partition takes
every row no day partition covers: a node's backlog after an outage sends old
rows, a node whose clock runs ahead sends rows from the future, and neither may
be lost, so nothing is ever refused for its time.

:func:`ensure_partitions` creates the partitions from today to
:data:`PARTITIONS_AHEAD_DAYS` ahead (idempotent; rows the ``DEFAULT`` partition
holds for a new day move into it); :func:`drop_partitions_before` drops whole
days past a retention and deletes the ``DEFAULT`` partition's rows as old. On
SQLite the table is one table: the first does nothing, the second deletes rows.

Why one partition per day: at 10,000 GPUs and 60 s intervals a day is about 15
million rows (about 2 GB with its indexes), a size PostgreSQL vacuums, indexes
and drops comfortably, and a year is 365 partitions, well within what its
planner prunes quickly; a week (100 million rows, 14 GB) would make retention
and rollup move in coarse, slow steps, an hour would make 8,760 partitions a year.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import delete, text
from sqlalchemy.orm import Session

from slurm_carbon.store.models import EnergyInterval

__all__ = [
    "DEFAULT_PARTITION",
    "PARTITIONS_AHEAD_DAYS",
    "PARTITION_SCHEMA",
    "create_day_partition",
    "day_partitions",
    "drop_partitions_before",
    "ensure_partitions",
    "partition_name",
]

logger = logging.getLogger(__name__)

#: Days of partitions created ahead of today: the service creates them at start and
#: then once a writer sweep, so a week covers a service down for a week; rows beyond
#: (a clock far ahead) go to the DEFAULT partition, and move out when their day comes.
PARTITIONS_AHEAD_DAYS = 7
#: The schema holding the partitions (created by revision 0018).
PARTITION_SCHEMA = "energy_partitions"
#: The partition of rows no day partition covers.
DEFAULT_PARTITION = f"{PARTITION_SCHEMA}.energy_intervals_default"
_PARENT = "energy_intervals"
_DAY = timedelta(days=1)


def partition_name(day: date) -> str:
    """The schema-qualified name of ``day``'s partition."""
    return f"{PARTITION_SCHEMA}.energy_intervals_p{day:%Y%m%d}"


def _bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), tzinfo=UTC)
    return start, start + _DAY


def _partitioned(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def day_partitions(session: Session) -> list[date]:
    """The days that have their own partition, oldest first (SQLite: none)."""
    if not _partitioned(session):
        return []
    names = session.execute(
        text(
            "SELECT c.relname FROM pg_inherits i"
            " JOIN pg_class c ON c.oid = i.inhrelid"
            " JOIN pg_class p ON p.oid = i.inhparent"
            " WHERE p.relname = :parent AND c.relname LIKE 'energy_intervals_p%'"
        ),
        {"parent": _PARENT},
    ).scalars()
    prefix = len("energy_intervals_p")
    return sorted(datetime.strptime(name[prefix:], "%Y%m%d").date() for name in names)  # noqa: DTZ007 (a date)


def _lock_parent(session: Session) -> None:
    """Lock what a partition's creation locks, in the order ingest takes them.

    Creating, attaching or detaching a partition locks the tables its foreign keys
    reference (SHARE ROW EXCLUSIVE) and the parent; ingest writes ``nodes``,
    ``devices`` and ``jobs`` before the intervals, so taking the parent first
    deadlocked with it (seen in the month benchmark). Ingest waits meanwhile.
    """
    session.execute(text("LOCK TABLE nodes, devices, jobs IN SHARE ROW EXCLUSIVE MODE"))
    session.execute(text(f"LOCK TABLE {_PARENT} IN ACCESS EXCLUSIVE MODE"))


def create_day_partition(session: Session, day: date) -> int:
    """Create ``day``'s partition; return how many rows moved into it from the DEFAULT one.

    PostgreSQL refuses a new partition while the DEFAULT partition holds rows of
    its range, so those are moved first, in the caller's transaction.
    """
    _lock_parent(session)
    start, end = _bounds(day)
    name = partition_name(day)
    bounds = {"start": start, "end": end}
    where = "interval_start >= :start AND interval_start < :end"
    waiting = session.execute(
        text(f"SELECT count(*) FROM {DEFAULT_PARTITION} WHERE {where}"),  # noqa: S608 (constants)
        bounds,
    ).scalar_one()
    if not waiting:
        session.execute(
            text(
                f"CREATE TABLE {name} PARTITION OF {_PARENT}"
                f" FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
            )
        )
        return 0
    session.execute(
        text(f"CREATE TABLE {name} (LIKE {_PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    )
    session.execute(
        text(
            f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} WHERE {where} RETURNING *)"  # noqa: S608 (constants)
            f" INSERT INTO {name} SELECT * FROM moved"
        ),
        bounds,
    )
    session.execute(
        text(
            f"ALTER TABLE {_PARENT} ATTACH PARTITION {name}"
            f" FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
        )
    )
    return int(waiting)


def ensure_partitions(session: Session, now: datetime) -> list[date]:
    """Create the partitions missing from ``now``'s day to :data:`PARTITIONS_AHEAD_DAYS` ahead.

    Idempotent: returns the days created (none on a second call, none on SQLite).
    Nothing commits here.
    """
    if not _partitioned(session):
        return []
    have = set(day_partitions(session))
    today = now.astimezone(UTC).date()
    created = []
    for offset in range(PARTITIONS_AHEAD_DAYS + 1):
        day = today + timedelta(days=offset)
        if day in have:
            continue
        moved = create_day_partition(session, day)
        logger.info("created partition %s (%d rows moved from DEFAULT)", partition_name(day), moved)
        created.append(day)
    return created


def drop_partitions_before(session: Session, cutoff: datetime) -> int:
    """Drop every day partition that ends at or before ``cutoff``; return the rows they held.

    The DEFAULT partition's rows (SQLite: the table's) older than ``cutoff`` are
    deleted. Only intervals go; jobs and their results stay. Nothing commits here.
    """
    if not _partitioned(session):
        old_rows = delete(EnergyInterval).where(EnergyInterval.interval_end <= cutoff)
        return int(session.connection().execute(old_rows).rowcount)
    dropped = 0
    for day in day_partitions(session):
        if _bounds(day)[1] > cutoff:
            break
        _lock_parent(session)
        name = partition_name(day)
        rows = session.execute(text(f"SELECT count(*) FROM {name}")).scalar_one()  # noqa: S608 (constants)
        session.execute(text(f"ALTER TABLE {_PARENT} DETACH PARTITION {name}"))
        session.execute(text(f"DROP TABLE {name}"))
        logger.info("dropped partition %s (%d rows)", name, rows)
        dropped += int(rows)
    old = session.connection().execute(
        text(f"DELETE FROM {DEFAULT_PARTITION} WHERE interval_end <= :cutoff"),  # noqa: S608 (constants)
        {"cutoff": cutoff},
    )
    return dropped + int(old.rowcount)
