"""Small, idempotent writes: safe to repeat, and safe when replicas race.

Each write is one ``INSERT ... ON CONFLICT`` on the table's unique key, so a
batch sent twice, or two service replicas creating the same node at once, leave
exactly one row. The caller owns the transaction: nothing here commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from slurm_carbon.errors import StoreError
from slurm_carbon.store.models import Base, Cluster, Device, EnergyInterval, Job, Node
from slurm_carbon.vocabulary import DeviceKind, EnergyMethod, Sharing

__all__ = [
    "NewInterval",
    "add_intervals",
    "get_or_create_cluster",
    "get_or_create_device",
    "get_or_create_node",
    "upsert_job",
]

_M = TypeVar("_M", bound=Base)


@dataclass(frozen=True, slots=True)
class NewInterval:
    """One interval of energy to store; see :class:`~slurm_carbon.store.models.EnergyInterval`.

    Units: ``energy_j`` in joules, ``cap_w`` in watts, ``busy_clock_mhz`` in MHz;
    times are aware datetimes.
    """

    job_id: int
    node_id: int
    device_id: int
    interval_start: datetime
    interval_end: datetime
    energy_j: float
    method: EnergyMethod
    sharing: Sharing
    cap_w: float | None = None
    busy_clock_mhz: float | None = None


def _insert(session: Session, model: type[Base]) -> postgresql.Insert | sqlite.Insert:
    """An INSERT with ``ON CONFLICT`` support for the session's backend."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(model)
    if dialect == "sqlite":
        return sqlite.insert(model)
    raise StoreError(f"unsupported database backend {dialect!r} (use PostgreSQL or SQLite)")


def _get_or_create(
    session: Session, model: type[_M], key: Mapping[str, Any], values: Mapping[str, Any]
) -> _M:
    """Return the row with ``key``, inserting it with ``values`` if there is none."""
    query = select(model).filter_by(**key)
    found = session.execute(query).scalar_one_or_none()
    if found is not None:
        return found
    session.execute(
        _insert(session, model)
        .values(**key, **values)
        .on_conflict_do_nothing(index_elements=[*key])
    )
    return session.execute(query).scalar_one()


def get_or_create_cluster(session: Session, name: str, *, site: str | None = None) -> Cluster:
    """Return the cluster called ``name``, creating it (at ``site``) if it is new."""
    return _get_or_create(session, Cluster, {"name": name}, {"site": site})


def get_or_create_node(session: Session, cluster_id: int, hostname: str) -> Node:
    """Return the node ``hostname`` of the cluster, creating it if it is new."""
    return _get_or_create(session, Node, {"cluster_id": cluster_id, "hostname": hostname}, {})


def get_or_create_device(  # noqa: PLR0913 (key plus what describes a new device)
    session: Session,
    node_id: int,
    uuid: str,
    *,
    kind: DeviceKind,
    model: str | None = None,
    minor: int | None = None,
) -> Device:
    """Return the device ``uuid`` of the node, creating it if it is new.

    An existing device is returned as stored: ``kind``, ``model`` and ``minor``
    only describe a new one.
    """
    return _get_or_create(
        session,
        Device,
        {"node_id": node_id, "uuid": uuid},
        {"kind": kind, "model": model, "minor": minor},
    )


def upsert_job(  # noqa: PLR0913 (one keyword per column the callers know)
    session: Session,
    cluster_id: int,
    slurm_job_id: int,
    *,
    array_job_id: int | None = None,
    array_task_id: int | None = None,
    name: str | None = None,
    user_name: str | None = None,
    account: str | None = None,
    partition: str | None = None,
    submit_time: datetime | None = None,
    start_time: datetime | None = None,
    end_time: datetime | None = None,
    state: str | None = None,
    requested_gpus: int | None = None,
    comment: str | None = None,
    budget_co2e_g: float | None = None,
    budget_energy_j: float | None = None,
    node_list: str | None = None,
    time_limit_s: float | None = None,
    het_job_id: int | None = None,
    het_job_offset: int | None = None,
) -> Job:
    """Insert the job, or update the stored one with every field given (not None).

    Fields left as None keep what is stored, so the agent (which knows the GPUs
    at start) and ``sacct`` (which knows the end) can each write what they know.
    """
    fields = {
        column: value
        for column, value in {
            "array_job_id": array_job_id,
            "array_task_id": array_task_id,
            "name": name,
            "user_name": user_name,
            "account": account,
            "partition": partition,
            "submit_time": submit_time,
            "start_time": start_time,
            "end_time": end_time,
            "state": state,
            "requested_gpus": requested_gpus,
            "comment": comment,
            "budget_co2e_g": budget_co2e_g,
            "budget_energy_j": budget_energy_j,
            "node_list": node_list,
            "time_limit_s": time_limit_s,
            "het_job_id": het_job_id,
            "het_job_offset": het_job_offset,
        }.items()
        if value is not None
    }
    key = {"cluster_id": cluster_id, "slurm_job_id": slurm_job_id}
    insert = _insert(session, Job).values(**key, **fields)
    index = [*key]
    if fields:
        upsert = insert.on_conflict_do_update(
            index_elements=index, set_={column: insert.excluded[column] for column in fields}
        )
    else:
        upsert = insert.on_conflict_do_nothing(index_elements=index)
    session.execute(upsert)
    query = select(Job).filter_by(**key).execution_options(populate_existing=True)
    return session.execute(query).scalar_one()


def add_intervals(session: Session, intervals: Iterable[NewInterval]) -> int:
    """Store the intervals not stored yet; return how many were new.

    An interval whose (node, device, job, interval start) is already stored is
    skipped, whatever its energy: the first report of an interval wins.
    """
    rows = [asdict(interval) for interval in intervals]
    if not rows:
        return 0
    statement = (
        _insert(session, EnergyInterval)
        .on_conflict_do_nothing(index_elements=["node_id", "device_id", "job_id", "interval_start"])
        .returning(EnergyInterval.job_id)
    )
    return len(session.execute(statement, rows).all())
