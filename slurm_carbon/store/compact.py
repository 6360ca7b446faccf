"""A rolled-up day gives its disk back: ``VACUUM FULL`` of its partition (PostgreSQL).

Rolling a day up (:mod:`slurm_carbon.store.rollup`) deletes about 59 rows of 60
and inserts their hourly rows at the partition's end; the deleted rows' space
stays in the partition (a plain ``VACUUM`` only marks it reusable, and an old
day gets no new rows to reuse it). ``VACUUM FULL`` rewrites the partition and
its indexes with only the rows left, and returns the rest to the file system.

It holds an ACCESS EXCLUSIVE lock on that one partition while it runs (about
as long as copying the rows left: a rolled day is a 60th of a raw one). Ingest
writes today's partition, which it does not lock (a test holds the lock and
ingests meanwhile), and so does not wait; what reads that day's rows (a job's
detail view, the writer recomputing a job of that day) waits for it. So that a
long reader does not make it queue, and every reader queue behind it, it waits
at most :data:`COMPACT_LOCK_TIMEOUT` for its lock and otherwise leaves the day
as it is (``VACUUM FULL`` of the partition by hand does it later).

``CLUSTER`` takes the same lock for the same rewrite, in an index's order that
nothing here needs; ``pg_repack`` would hold the lock only briefly but is an
extension sites must install. SQLite compacts nothing: its table reuses the
freed pages for new rows, and its ``VACUUM`` would rewrite the whole file under
an exclusive lock, stopping ingest for as long.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from slurm_carbon.errors import StoreError
from slurm_carbon.store.partitions import partition_name
from slurm_carbon.store.transactions import SessionFactory, transaction

__all__ = ["COMPACT_LOCK_TIMEOUT", "Compacted", "compact_day"]

#: The longest ``VACUUM FULL`` waits for its partition's lock: a reader of that old day
#: (a job's detail view: a second or two) finishes well within it, and readers coming
#: after queue behind the waiting VACUUM no longer than that.
COMPACT_LOCK_TIMEOUT = "5s"
#: PostgreSQL's SQLSTATE for a lock not obtained within ``lock_timeout``.
_LOCK_NOT_AVAILABLE = "55P03"


@dataclass(frozen=True, slots=True)
class Compacted:
    """A day partition's size (with its indexes) before and after ``VACUUM FULL``.

    ``busy``: its lock was not free within :data:`COMPACT_LOCK_TIMEOUT`, so it was
    left as it was. Units: bytes, seconds.
    """

    partition: str
    bytes_before: int
    bytes_after: int
    seconds: float
    busy: bool = False


def compact_day(factory: SessionFactory, day: date, today: date) -> Compacted | None:
    """``VACUUM FULL`` of ``day``'s partition; None where there is none to compact.

    None on SQLite, for a day without a partition of its own (its rows are in the
    DEFAULT partition, which also holds new rows) and for ``today`` or later
    (ingest writes there). Runs outside any transaction (``VACUUM`` cannot run in
    one), so call it after the day's rollup committed.

    Raises:
        StoreError: the database failed.
    """
    if day >= today:
        return None
    name = partition_name(day)
    with transaction(factory) as session:
        bind = session.get_bind()
        engine = bind if isinstance(bind, Engine) else bind.engine
        if engine.dialect.name != "postgresql":
            return None
        size = text("SELECT pg_total_relation_size(to_regclass(:name))")
        before = session.execute(size, {"name": name}).scalar_one_or_none()
    if before is None:
        return None
    began = time.perf_counter()
    busy = False
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text(f"SET lock_timeout = '{COMPACT_LOCK_TIMEOUT}'"))
            connection.execute(text(f"VACUUM FULL {name}"))
    except OperationalError as err:
        if getattr(err.orig, "sqlstate", None) != _LOCK_NOT_AVAILABLE:
            raise StoreError(f"VACUUM FULL {name} failed: {err.orig}") from err
        busy = True
    seconds = time.perf_counter() - began
    with transaction(factory) as session:
        after = session.execute(size, {"name": name}).scalar_one()
    return Compacted(name, int(before), int(after), seconds, busy)
