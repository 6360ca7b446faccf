"""One node's batch of energy intervals and progress, written in the caller's transaction.

The service validates what a node sent and hands it over as
:class:`ReportedInterval` and :class:`ReportedProgress` values;
:func:`ingest_batch` creates what is missing (cluster, node, devices, jobs, all
idempotently) and adds the intervals not stored yet, :func:`ingest_progress`
the progress points. The caller owns the transaction, so a batch is stored
whole or not at all.

The fast path: a batch costs a constant few statements. The service hands
its intervals over as :class:`IntervalColumns` (one sequence per field, no
object per row). PostgreSQL: a binary ``COPY`` straight into
``energy_intervals``, in a savepoint; a batch with a row stored before (re-sent)
is instead ``COPY``-ed into a temporary stage table of the connection's own
(made with the pooled connection, by :func:`create_stage`, outside any batch's
transaction; else in the batch's, if missing), then one statement moves them
into ``energy_intervals`` with ``ON CONFLICT DO NOTHING`` on the interval's
unique key; SQLite: one ``executemany`` INSERT with the same ``ON CONFLICT``. So a
row stored before, or given twice in a batch, is stored once, and the count of
new rows comes from the database.
The ids of clusters, nodes, devices and jobs never change once stored, so an
:class:`IdCache` (one per service process, bounded) keeps them; what it does
not know, a batch resolves in one statement per table.

Progress is stored without its node, so the service asks
:func:`stored_node_lists` which jobs ran elsewhere before it writes any.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import repeat
from typing import Any

from psycopg import IntegrityError
from sqlalchemy import event, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from slurm_carbon.store.models import Cluster, Device, EnergyInterval, Job
from slurm_carbon.store.progress import ProgressPoint, add_progress
from slurm_carbon.store.repositories import get_or_create_cluster, get_or_create_node
from slurm_carbon.vocabulary import DeviceKind, EnergyMethod, Sharing

__all__ = [
    "MAX_CACHED_IDS",
    "IdCache",
    "IntervalColumns",
    "ReportedDevice",
    "ReportedInterval",
    "ReportedProgress",
    "create_stage",
    "ingest_batch",
    "ingest_progress",
    "stored_node_lists",
    "unique_devices",
]


@dataclass(frozen=True, slots=True)
class ReportedDevice:
    """A device as its node names it; ``model`` and ``minor`` describe a new one only.

    ``min_limit_w`` and ``max_limit_w``, a GPU's power-limit range (watts), are
    stored whenever given (an older agent gives none).
    """

    uuid: str
    kind: DeviceKind
    model: str | None = None
    minor: int | None = None
    min_limit_w: float | None = None
    max_limit_w: float | None = None


@dataclass(frozen=True, slots=True)
class ReportedInterval:
    """Energy one device used for one Slurm job, as the node reported it.

    Units: ``energy_j`` in joules; ``cap_w`` (a GPU's power limit over the
    interval, None: not known) in watts; ``busy_clock_mhz`` (a GPU's mean
    utilization x SM clock, None: not known) in MHz; ``start`` and ``end`` are aware
    datetimes. ``slurm_job_id`` is Slurm's raw job id (an array task's own id).
    """

    slurm_job_id: int
    device: ReportedDevice
    start: datetime
    end: datetime
    energy_j: float
    method: EnergyMethod
    sharing: Sharing
    cap_w: float | None = None
    busy_clock_mhz: float | None = None


@dataclass(frozen=True, slots=True)
class IntervalColumns:
    """A batch of intervals as one sequence per field: row ``i`` is the ``i``-th of each.

    What the service builds straight from a validated body, without an object per
    row. Units as :class:`ReportedInterval`'s; ``device_uuid`` names a device of
    ``devices``, which holds each device the batch names (a uuid given more than
    once: the last one given with a power-limit range wins, else the first).
    """

    slurm_job_id: Sequence[int]
    device_uuid: Sequence[str]
    start: Sequence[datetime]
    end: Sequence[datetime]
    energy_j: Sequence[float]
    method: Sequence[str]
    sharing: Sequence[str]
    cap_w: Sequence[float | None]
    busy_clock_mhz: Sequence[float | None]
    devices: Sequence[ReportedDevice]

    def __len__(self) -> int:
        """How many intervals."""
        return len(self.slurm_job_id)

    @classmethod
    def of(cls, intervals: Sequence[ReportedInterval]) -> IntervalColumns:
        """The columns of ``intervals``."""
        return cls(
            slurm_job_id=[i.slurm_job_id for i in intervals],
            device_uuid=[i.device.uuid for i in intervals],
            start=[i.start for i in intervals],
            end=[i.end for i in intervals],
            energy_j=[i.energy_j for i in intervals],
            method=[i.method.value for i in intervals],
            sharing=[i.sharing.value for i in intervals],
            cap_w=[i.cap_w for i in intervals],
            busy_clock_mhz=[i.busy_clock_mhz for i in intervals],
            devices=unique_devices(i.device for i in intervals),
        )


def unique_devices(devices: Iterable[ReportedDevice]) -> list[ReportedDevice]:
    """Each uuid once: the last one given with a power-limit range, else the first."""
    by_uuid: dict[str, ReportedDevice] = {}
    for device in devices:  # the last limit range given wins, as it would row by row
        if device.uuid not in by_uuid or device.min_limit_w is not None:
            by_uuid[device.uuid] = device
    return list(by_uuid.values())


@dataclass(frozen=True, slots=True)
class ReportedProgress:
    """How far a Slurm job said it was, as its node reported it.

    Units: ``fraction`` 0..1 of its work; ``time`` aware. ``slurm_job_id`` is
    Slurm's raw job id.
    """

    slurm_job_id: int
    time: datetime
    fraction: float


def ingest_batch(
    session: Session,
    cluster: str,
    node: str,
    intervals: Sequence[ReportedInterval] | IntervalColumns,
    *,
    ids: IdCache | None = None,
) -> int:
    """Store a node's intervals; return how many were new (a re-sent batch gives 0).

    Jobs are keyed by (cluster, Slurm job id) and created bare if unknown; devices
    by (node, uuid), their power-limit range stored whenever given. Nothing
    commits here. A constant few statements, whatever the batch holds: the
    cluster and node (each only when ``ids`` does not know it), the batch's new
    devices in one, its new jobs in one, and the intervals in one. The ids
    learned go into ``ids`` when the session commits.
    """
    if not intervals:
        return 0
    columns = intervals if isinstance(intervals, IntervalColumns) else IntervalColumns.of(intervals)
    learned = _Learned(IdCache() if ids is None else ids, session)
    cluster_id = learned.id_of(
        ("cluster", cluster), lambda: get_or_create_cluster(session, cluster).id
    )
    node_id = learned.id_of(
        ("node", cluster_id, node), lambda: get_or_create_node(session, cluster_id, node).id
    )
    device_ids = _device_ids(session, learned, node_id, columns.devices)
    job_ids = _job_ids(session, learned, cluster_id, set(columns.slurm_job_id))
    return _insert_intervals(session, node_id, device_ids, job_ids, columns)


def ingest_progress(
    session: Session,
    cluster: str,
    progress: Sequence[ReportedProgress],
    *,
    ids: IdCache | None = None,
) -> int:
    """Store a node's progress points; return how many were new or raised a stored fraction.

    Jobs are keyed by (cluster, Slurm job id) and created bare if unknown (in one
    statement, as for :func:`ingest_batch`); a re-sent batch returns 0 (see
    :func:`~slurm_carbon.store.progress.add_progress`).
    """
    if not progress:
        return 0
    learned = _Learned(IdCache() if ids is None else ids, session)
    cluster_id = learned.id_of(
        ("cluster", cluster), lambda: get_or_create_cluster(session, cluster).id
    )
    job_ids = _job_ids(session, learned, cluster_id, {p.slurm_job_id for p in progress})
    return add_progress(
        session,
        [(job_ids[p.slurm_job_id], ProgressPoint(p.time, p.fraction)) for p in progress],
    )


def stored_node_lists(
    session: Session, cluster: str, slurm_job_ids: Iterable[int]
) -> dict[int, str]:
    """Slurm's host list of each of these jobs of ``cluster`` that has one stored.

    Jobs not stored yet, or whose nodes are not known yet, are left out. No
    jobs (a batch without progress): no statement.
    """
    wanted = sorted(set(slurm_job_ids))
    if not wanted:
        return {}
    query = (
        select(Job.slurm_job_id, Job.node_list)
        .join(Cluster, Cluster.id == Job.cluster_id)
        .where(
            Cluster.name == cluster,
            Job.slurm_job_id.in_(wanted),
            Job.node_list.is_not(None),
        )
    )
    return {int(job_id): str(node_list) for job_id, node_list in session.execute(query)}


#: Ids an :class:`IdCache` keeps: a 1,000-node cluster holds about 10,000 devices and
#: a few thousand running jobs; 100,000 covers ten times that in a few MB, and the
#: least recently used id goes first (it costs one statement to look up again).
MAX_CACHED_IDS = 100_000

_Key = tuple[str | int, ...]
# The id and, for a device, the power-limit range stored (None for other rows).
_Known = tuple[int, float | None, float | None]


class IdCache:
    """Stored ids of clusters, nodes, devices and jobs, kept per process (thread-safe).

    Ids never change once stored (nothing deletes these rows), so a service
    process keeps the last ``bound`` ids it used. Ids are kept only once the
    transaction that learned them has committed.
    """

    def __init__(self, bound: int = MAX_CACHED_IDS) -> None:
        """An empty cache of at most ``bound`` ids."""
        self.bound = bound
        self._ids: OrderedDict[_Key, _Known] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """How many ids it holds."""
        return len(self._ids)

    def get(self, key: _Key) -> _Known | None:
        """The id stored under ``key``, or None."""
        with self._lock:
            found = self._ids.get(key)
            if found is not None:
                self._ids.move_to_end(key)
            return found

    def keep(self, learned: Mapping[_Key, _Known]) -> None:
        """Add committed ids, dropping the least recently used beyond the bound."""
        with self._lock:
            for key, known in learned.items():
                self._ids[key] = known
                self._ids.move_to_end(key)
            while len(self._ids) > self.bound:
                self._ids.popitem(last=False)


class _Learned:
    """One transaction's view of an :class:`IdCache`: new ids are kept on commit only."""

    def __init__(self, ids: IdCache, session: Session) -> None:
        self.ids = ids
        self.new: dict[_Key, _Known] = {}
        self.rolled_back = False
        event.listen(session, "after_commit", self._commit, once=True)
        event.listen(session, "after_soft_rollback", self._rollback, once=True)

    def _commit(self, _session: Session) -> None:
        if not self.rolled_back:
            self.ids.keep(self.new)

    def _rollback(self, _session: Session, _previous: object) -> None:
        self.rolled_back = True

    def get(self, key: _Key) -> _Known | None:
        return self.new.get(key) or self.ids.get(key)

    def add(self, key: _Key, known: _Known) -> None:
        self.new[key] = known

    def id_of(self, key: _Key, look_up: Callable[[], int]) -> int:
        """The id under ``key``, from the cache or else ``look_up()``."""
        known = self.get(key)
        if known is not None:
            return known[0]
        found = look_up()
        self.add(key, (found, None, None))
        return found


def _upsert(session: Session, model: type[Device | Job]) -> postgresql.Insert | sqlite.Insert:
    return (postgresql.insert if _dialect(session) == "postgresql" else sqlite.insert)(model)


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _device_ids(
    session: Session, learned: _Learned, node_id: int, devices: Sequence[ReportedDevice]
) -> dict[str, int]:
    """Each device's id by uuid; the ones not known (or with a new limit range) in one upsert.

    ``devices`` names each uuid once (:func:`unique_devices`).
    """
    ids: dict[str, int] = {}
    missing = []
    for device in devices:
        uuid = device.uuid
        known = learned.get(("device", node_id, uuid))
        if known is not None and (
            device.min_limit_w is None or known[1:] == (device.min_limit_w, device.max_limit_w)
        ):
            ids[uuid] = known[0]
        else:
            missing.append(device)
    if not missing:
        return ids
    insert = _upsert(session, Device).values(
        [
            {
                "node_id": node_id,
                "uuid": d.uuid,
                "kind": d.kind,
                "model": d.model,
                "minor": d.minor,
                "min_limit_w": d.min_limit_w,
                "max_limit_w": d.max_limit_w,
            }
            for d in missing
        ]
    )
    statement = insert.on_conflict_do_update(  # kind, model and minor describe a new one only
        index_elements=["node_id", "uuid"],
        set_={
            "min_limit_w": func.coalesce(insert.excluded.min_limit_w, Device.min_limit_w),
            "max_limit_w": func.coalesce(insert.excluded.max_limit_w, Device.max_limit_w),
        },
    ).returning(Device.id, Device.uuid, Device.min_limit_w, Device.max_limit_w)
    for device_id, uuid, low, high in session.execute(statement):
        ids[uuid] = device_id
        learned.add(("device", node_id, uuid), (device_id, low, high))
    return ids


def _job_ids(
    session: Session, learned: _Learned, cluster_id: int, slurm_job_ids: Iterable[int]
) -> dict[int, int]:
    """Each Slurm job id's row id; the jobs not known, created bare, in one upsert.

    The jobs are written in id order, so two nodes of the same jobs lock their
    rows in the same order (PostgreSQL), never each waiting on the other.
    """
    ids: dict[int, int] = {}
    missing = []
    for slurm_job_id in sorted(set(slurm_job_ids)):
        known = learned.get(("job", cluster_id, slurm_job_id))
        if known is None:
            missing.append(slurm_job_id)
        else:
            ids[slurm_job_id] = known[0]
    if not missing:
        return ids
    insert = _upsert(session, Job).values(
        [{"cluster_id": cluster_id, "slurm_job_id": job} for job in missing]
    )
    statement = insert.on_conflict_do_update(  # a no-op update, so RETURNING has every row
        index_elements=["cluster_id", "slurm_job_id"],
        set_={"slurm_job_id": insert.excluded.slurm_job_id},
    ).returning(Job.id, Job.slurm_job_id)
    for job_id, slurm_job_id in session.execute(statement):
        ids[int(slurm_job_id)] = job_id
        learned.add(("job", cluster_id, int(slurm_job_id)), (job_id, None, None))
    return ids


_INTERVAL_COLUMNS = (
    "job_id",
    "device_id",
    "interval_start",
    "interval_end",
    "energy_j",
    "method",
    "sharing",
    "cap_w",
    "busy_clock_mhz",
)
_CONFLICT_KEY = "node_id, device_id, job_id, interval_start"
_COLUMNS = f"node_id, {', '.join(_INTERVAL_COLUMNS)}"
# The columns' PostgreSQL types, for COPY's binary format (models.py: integer ids).
_COPY_TYPES = (
    ("int4",) * 3 + ("timestamptz",) * 2 + ("float8",) + ("varchar",) * 2 + ("float8",) * 2
)
# A batch is COPY-ed into this table of the connection's own, then moved out of it
# with one statement that skips the rows already stored (the stage is left empty, so
# a second batch in the same transaction moves only its own rows).
_STAGE = "ingest_stage"
_CREATE_STAGE = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGE} (LIKE energy_intervals) ON COMMIT DELETE ROWS"
)
# A pooled connection's info under this key: its stage table exists, committed.
_STAGE_READY = "slurm_carbon.ingest_stage"
_COPY_STAGE = f"COPY {_STAGE} ({_COLUMNS}) FROM STDIN (FORMAT BINARY)"
_SAVEPOINT = "ingest_copy"  # a clash undoes the batch's COPY into energy_intervals only
_COPY_TABLE = f"COPY energy_intervals ({_COLUMNS}) FROM STDIN (FORMAT BINARY)"
_MOVE_STAGE = (
    f"WITH batch AS (DELETE FROM {_STAGE} RETURNING {_COLUMNS}) "  # noqa: S608 (constants)
    f"INSERT INTO energy_intervals ({_COLUMNS}) SELECT {_COLUMNS} FROM batch "
    f"ON CONFLICT ({_CONFLICT_KEY}) DO NOTHING"
)


def _copy(session: Session, statement: str, rows: Iterable[Sequence[object]]) -> None:
    """Binary COPY of ``rows`` (the columns of :data:`_COLUMNS`) on the session's connection."""
    raw = session.connection().connection.dbapi_connection
    with raw.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
        copy.set_types(_COPY_TYPES)
        for row in rows:
            copy.write_row(row)


def create_stage(dbapi_connection: Any, record: Any) -> None:
    """The pool's ``connect`` event (PostgreSQL): make the new connection's stage table.

    Once per database connection, committed on its own, so no batch's transaction
    spends a statement on it. A database without ``energy_intervals`` yet (not
    migrated) gets none: the batches of that connection make it, if missing, in
    their own transaction.
    """
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('energy_intervals')")
        if cursor.fetchone()[0] is not None:
            cursor.execute(_CREATE_STAGE)
            record.info[_STAGE_READY] = True
    dbapi_connection.commit()


def _insert_intervals(
    session: Session,
    node_id: int,
    device_ids: Mapping[str, int],
    job_ids: Mapping[int, int],
    intervals: IntervalColumns,
) -> int:
    """Insert the intervals not stored yet; return how many were new.

    PostgreSQL: a binary COPY straight into ``energy_intervals``, in a savepoint;
    if a row clashes with one stored (a re-sent batch, or a row twice in it), the
    savepoint is rolled back and the batch goes by COPY into the connection's
    stage table, then one INSERT ... SELECT ... ON CONFLICT DO NOTHING, so each
    row is stored once (a row the table refuses otherwise, e.g. a CHECK, fails
    there, as SQLAlchemy's error). SQLite: one ``executemany`` INSERT ... ON CONFLICT DO NOTHING.
    """
    columns: list[Sequence[object]] = [
        [job_ids[j] for j in intervals.slurm_job_id],
        [device_ids[u] for u in intervals.device_uuid],
        intervals.start,
        intervals.end,
        intervals.energy_j,
        intervals.method,
        intervals.sharing,
        intervals.cap_w,
        intervals.busy_clock_mhz,
    ]
    connection = session.connection()
    if _dialect(session) == "postgresql":
        copied = list(zip(repeat(node_id), *columns))
        # A savepoint of its own, not the session's: its release is no commit (ids
        # learned are kept on the transaction's commit only).
        connection.exec_driver_sql(f"SAVEPOINT {_SAVEPOINT}")
        try:
            _copy(session, _COPY_TABLE, copied)
        except IntegrityError:  # a row stored before or twice; else the move says what
            connection.exec_driver_sql(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
        else:
            connection.exec_driver_sql(f"RELEASE SAVEPOINT {_SAVEPOINT}")
            return len(copied)
        if not connection.connection.info.get(_STAGE_READY):
            connection.exec_driver_sql(_CREATE_STAGE)
        _copy(session, _COPY_STAGE, copied)
        return connection.exec_driver_sql(_MOVE_STAGE).rowcount
    names = ("node_id", *_INTERVAL_COLUMNS)
    rows = [dict(zip(names, row, strict=True)) for row in zip(repeat(node_id), *columns)]
    statement = sqlite.insert(EnergyInterval).on_conflict_do_nothing(
        index_elements=["node_id", "device_id", "job_id", "interval_start"]
    )
    return connection.execute(statement, rows).rowcount
