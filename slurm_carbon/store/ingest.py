"""One node's batch of energy intervals and progress, written in the caller's transaction.

The service validates what a node sent and hands it over as
:class:`ReportedInterval` and :class:`ReportedProgress` values;
:func:`ingest_batch` creates what is missing (cluster, node, devices, jobs, all
idempotently) and adds the intervals not stored yet, :func:`ingest_progress`
the progress points. The caller owns the transaction, so a batch is stored
whole or not at all. Progress is stored without its node, so the service asks
:func:`stored_node_lists` which jobs ran elsewhere before it writes any.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from slurm_carbon.store.models import Cluster, Job
from slurm_carbon.store.progress import ProgressPoint, add_progress
from slurm_carbon.store.repositories import (
    NewInterval,
    add_intervals,
    get_or_create_cluster,
    get_or_create_device,
    get_or_create_node,
    upsert_job,
)
from slurm_carbon.vocabulary import DeviceKind, EnergyMethod, Sharing

__all__ = [
    "ReportedDevice",
    "ReportedInterval",
    "ReportedProgress",
    "ingest_batch",
    "ingest_progress",
    "stored_node_lists",
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
class ReportedProgress:
    """How far a Slurm job said it was, as its node reported it.

    Units: ``fraction`` 0..1 of its work; ``time`` aware. ``slurm_job_id`` is
    Slurm's raw job id.
    """

    slurm_job_id: int
    time: datetime
    fraction: float


def ingest_batch(
    session: Session, cluster: str, node: str, intervals: Sequence[ReportedInterval]
) -> int:
    """Store a node's intervals; return how many were new (a re-sent batch gives 0).

    Jobs are keyed by (cluster, Slurm job id) and created bare if unknown; devices
    by (node, uuid). Nothing commits here.
    """
    cluster_row = get_or_create_cluster(session, cluster)
    node_row = get_or_create_node(session, cluster_row.id, node)
    device_ids: dict[str, int] = {}
    job_ids: dict[int, int] = {}
    rows = []
    for interval in intervals:
        device = interval.device
        if device.uuid not in device_ids:
            row = get_or_create_device(
                session,
                node_row.id,
                device.uuid,
                kind=device.kind,
                model=device.model,
                minor=device.minor,
            )
            if device.min_limit_w is not None and device.max_limit_w is not None:
                row.min_limit_w, row.max_limit_w = device.min_limit_w, device.max_limit_w
            device_ids[device.uuid] = row.id
        if interval.slurm_job_id not in job_ids:
            job_ids[interval.slurm_job_id] = upsert_job(
                session, cluster_row.id, interval.slurm_job_id
            ).id
        rows.append(
            NewInterval(
                job_id=job_ids[interval.slurm_job_id],
                node_id=node_row.id,
                device_id=device_ids[device.uuid],
                interval_start=interval.start,
                interval_end=interval.end,
                energy_j=interval.energy_j,
                method=interval.method,
                sharing=interval.sharing,
                cap_w=interval.cap_w,
                busy_clock_mhz=interval.busy_clock_mhz,
            )
        )
    return add_intervals(session, rows)


def ingest_progress(session: Session, cluster: str, progress: Sequence[ReportedProgress]) -> int:
    """Store a node's progress points; return how many were new or raised a stored fraction.

    Jobs are keyed by (cluster, Slurm job id) and created bare if unknown; a
    re-sent batch returns 0 (see :func:`~slurm_carbon.store.progress.add_progress`).
    """
    if not progress:
        return 0
    cluster_id = get_or_create_cluster(session, cluster).id
    job_ids: dict[int, int] = {}
    for point in progress:
        if point.slurm_job_id not in job_ids:
            job_ids[point.slurm_job_id] = upsert_job(session, cluster_id, point.slurm_job_id).id
    return add_progress(
        session,
        [(job_ids[p.slurm_job_id], ProgressPoint(p.time, p.fraction)) for p in progress],
    )


def stored_node_lists(
    session: Session, cluster: str, slurm_job_ids: Iterable[int]
) -> dict[int, str]:
    """Slurm's host list of each of these jobs of ``cluster`` that has one stored.

    Jobs not stored yet, or whose nodes are not known yet, are left out.
    """
    query = (
        select(Job.slurm_job_id, Job.node_list)
        .join(Cluster, Cluster.id == Job.cluster_id)
        .where(
            Cluster.name == cluster,
            Job.slurm_job_id.in_(sorted(set(slurm_job_ids))),
            Job.node_list.is_not(None),
        )
    )
    return {int(job_id): str(node_list) for job_id, node_list in session.execute(query)}
