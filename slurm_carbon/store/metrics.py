"""Read-side queries behind the service's ``/metrics``: sums over the whole store, no job ids.

Each function runs one aggregate statement (or one per region) and returns
plain values, so what Prometheus scrapes is computed from the store alone and
every replica, before and after a restart, says the same.

The accounted sums read the stored results (``job_results``), as
``slurm-carbon report`` does, so a scrape's totals equal the report's totals
over every job.

Units: energy in joules at the devices (before PUE) except
``facility_energy_j`` (after PUE); emissions in grams CO2e (after PUE); carbon
intensity in gCO2e/kWh; power in watts; times are aware UTC datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, case, func, or_, select
from sqlalchemy.orm import Session

from slurm_carbon.store.models import (
    BudgetActionRow,
    CapDecision,
    CarbonIntensityPoint,
    Cluster,
    CommentWrite,
    Device,
    EnergyInterval,
    Job,
    JobResult,
    Node,
)
from slurm_carbon.store.nodes import NodeHealth
from slurm_carbon.vocabulary import CiKind, CiSignal, DeviceKind

__all__ = [
    "AccountedGroup",
    "GpuLimit",
    "NodeReport",
    "accounted_groups",
    "budget_action_counts",
    "capped_gpus",
    "ci_regions",
    "comment_write_counts",
    "energy_by_quality",
    "gpu_limits",
    "latest_actual_ci",
    "node_last_reports",
]


@dataclass(frozen=True, slots=True)
class AccountedGroup:
    """Sums of the stored results of one cluster, partition and account ('' for none).

    ``co2e_g_by_kind`` sums the results' CO2e by device kind; ``unsplit_co2e_g``
    the CO2e of results settled before revision 0020, which have no split. The
    two together make ``co2e_g``.

    Units: ``*_energy_j`` in joules at the devices, ``facility_energy_j`` after
    PUE, ``*co2e_g*`` in grams CO2e.
    """

    cluster: str
    partition: str
    account: str
    jobs: int
    energy_j: dict[DeviceKind, float]
    facility_energy_j: float
    co2e_g: float
    co2e_g_by_kind: dict[DeviceKind, float]
    unsplit_co2e_g: float


@dataclass(frozen=True, slots=True)
class NodeReport:
    """When a node's latest reported interval ended, and its agent's latest health (None: none)."""

    cluster: str
    node: str
    last_end: datetime
    health: NodeHealth | None


@dataclass(frozen=True, slots=True)
class GpuLimit:
    """The power limit a running job's GPU last reported (``gpu``: its minor number, or UUID).

    Units: ``limit_w`` in watts.
    """

    cluster: str
    node: str
    gpu: str
    limit_w: float


def _device_j() -> ColumnElement[float]:
    """A result's device energy: GPU + CPU + DRAM and its share of unmeasured parts."""
    return (
        JobResult.gpu_energy_j
        + JobResult.cpu_energy_j
        + JobResult.dram_energy_j
        + JobResult.other_energy_j
    )


def accounted_groups(session: Session) -> list[AccountedGroup]:
    """Sums of every stored result by cluster, partition and account, in that order."""
    columns = {
        DeviceKind.GPU: JobResult.gpu_energy_j,
        DeviceKind.CPU: JobResult.cpu_energy_j,
        DeviceKind.DRAM: JobResult.dram_energy_j,
        DeviceKind.OTHER: JobResult.other_energy_j,
    }
    co2e_columns = (
        JobResult.gpu_co2e_g,
        JobResult.cpu_co2e_g,
        JobResult.dram_co2e_g,
        JobResult.other_co2e_g,
    )
    unsplit = case((JobResult.gpu_co2e_g.is_(None), JobResult.co2e_g), else_=0.0)
    device_j = _device_j()
    partition = func.coalesce(Job.partition, "")
    account = func.coalesce(Job.account, "")
    statement = (
        select(
            Cluster.name,
            partition,
            account,
            func.count(JobResult.id),
            *(func.sum(column) for column in columns.values()),
            func.sum(device_j * JobResult.pue),
            func.sum(JobResult.co2e_g),
            *(func.coalesce(func.sum(column), 0.0) for column in co2e_columns),
            func.sum(unsplit),
        )
        .join(Job, Job.id == JobResult.job_id)
        .join(Cluster, Cluster.id == Job.cluster_id)
        .group_by(Cluster.name, partition, account)
        .order_by(Cluster.name, partition, account)
    )
    groups = []
    for cluster, part, acct, jobs, *sums in session.execute(statement):
        values = [float(value) for value in sums]
        energies, (facility, co2e), kinds_g = values[:4], values[4:6], values[6:10]
        groups.append(
            AccountedGroup(
                cluster=cluster,
                partition=part,
                account=acct,
                jobs=int(jobs),
                energy_j=dict(zip(columns, energies, strict=True)),
                facility_energy_j=facility,
                co2e_g=co2e,
                co2e_g_by_kind=dict(zip(columns, kinds_g, strict=True)),
                unsplit_co2e_g=values[10],
            )
        )
    return groups


def energy_by_quality(session: Session) -> dict[str, float]:
    """Device energy of the stored results by their quality (the weakest method behind each)."""
    statement = select(JobResult.quality, func.sum(_device_j())).group_by(JobResult.quality)
    return {str(quality): float(total) for quality, total in session.execute(statement)}


def budget_action_counts(session: Session) -> dict[tuple[str, str], int]:
    """Budget actions recorded, by (action, outcome)."""
    row = BudgetActionRow
    statement = select(row.action, row.outcome, func.count(row.id)).group_by(
        row.action, row.outcome
    )
    return {
        (str(action), str(outcome)): int(count)
        for action, outcome, count in session.execute(statement)
    }


def comment_write_counts(session: Session) -> dict[str, int]:
    """AdminComment writes by state (pending: the writer's backlog; failed: given up)."""
    statement = select(CommentWrite.state, func.count(CommentWrite.id)).group_by(CommentWrite.state)
    return {str(state): int(count) for state, count in session.execute(statement)}


def node_last_reports(session: Session) -> list[NodeReport]:
    """For every node that reported an interval, when its latest one ended, and its health."""
    health = (Node.spool_backlog, Node.dead_letters, Node.health_at)
    statement = (
        select(Cluster.name, Node.hostname, func.max(EnergyInterval.interval_end), *health)
        .join(Node, Node.id == EnergyInterval.node_id)
        .join(Cluster, Cluster.id == Node.cluster_id)
        .group_by(Cluster.name, Node.hostname, *health)
        .order_by(Cluster.name, Node.hostname)
    )
    return [
        NodeReport(c, n, end, _health(backlog, dead, at))
        for c, n, end, backlog, dead, at in session.execute(statement)
    ]


def _health(backlog: int | None, dead: int | None, at: datetime | None) -> NodeHealth | None:
    """A node's stored health; the three are written together, so None when any is."""
    if backlog is None or dead is None or at is None:
        return None
    return NodeHealth(backlog, dead, at)


def ci_regions(session: Session) -> list[str]:
    """Every region with a stored carbon intensity, sorted."""
    statement = select(CarbonIntensityPoint.region).distinct().order_by(CarbonIntensityPoint.region)
    return list(session.execute(statement).scalars())


def latest_actual_ci(session: Session, region: str, now: datetime) -> float | None:
    """The newest actual average-signal value of ``region`` at or before ``now`` (None: none).

    Of two sources with a value at that time, the first by name; of two issues, the latest.
    """
    point = CarbonIntensityPoint
    return session.execute(
        select(point.ci_g_per_kwh)
        .where(
            point.region == region,
            point.kind == CiKind.ACTUAL,
            point.signal == CiSignal.AVERAGE,
            point.time <= now,
        )
        .order_by(point.time.desc(), point.source, point.issued_at.desc())
        .limit(1)
    ).scalar_one_or_none()


def _running(now: datetime) -> ColumnElement[bool]:
    """Not ended by ``now`` (as :func:`~slurm_carbon.store.caps.caps_for_node` judges)."""
    return or_(Job.end_time.is_(None), Job.end_time > now)


def capped_gpus(session: Session, now: datetime) -> dict[str, int]:
    """GPUs of running jobs under a cap decision in force at ``now``, for every cluster.

    A decision for one GPU counts that GPU; a decision for all of a job's GPUs
    (device '') counts the GPUs the job requested. A cluster without any: 0.
    """
    statement = (
        select(Cluster.name, Job.id, Job.requested_gpus, CapDecision.device)
        .join(Job, Job.id == CapDecision.job_id)
        .join(Cluster, Cluster.id == Job.cluster_id)
        .where(
            _running(now),
            CapDecision.period_start <= now,
            CapDecision.period_end > now,
        )
        .distinct()
    )
    jobs: dict[tuple[str, int], tuple[int, set[str]]] = {}
    for cluster, job_id, requested, device in session.execute(statement):
        jobs.setdefault((cluster, job_id), (int(requested), set()))[1].add(device)
    counts = dict.fromkeys(session.execute(select(Cluster.name)).scalars(), 0)
    for (cluster, _), (requested, devices) in jobs.items():
        counted = requested if "" in devices else len(devices)
        counts[cluster] = counts.get(cluster, 0) + counted
    return counts


def gpu_limits(session: Session, now: datetime) -> list[GpuLimit]:
    """The power limit each GPU of a running job reported in its latest interval that had one."""
    latest = (
        select(EnergyInterval.device_id, func.max(EnergyInterval.interval_start).label("start"))
        .join(Job, Job.id == EnergyInterval.job_id)
        .where(_running(now), EnergyInterval.cap_w.is_not(None))
        .group_by(EnergyInterval.device_id)
        .subquery()
    )
    statement = (
        select(Cluster.name, Node.hostname, Device.minor, Device.uuid, EnergyInterval.cap_w)
        .join(
            latest,
            (EnergyInterval.device_id == latest.c.device_id)
            & (EnergyInterval.interval_start == latest.c.start),
        )
        .join(Device, Device.id == EnergyInterval.device_id)
        .join(Node, Node.id == Device.node_id)
        .join(Cluster, Cluster.id == Node.cluster_id)
        .where(EnergyInterval.cap_w.is_not(None))
        .order_by(Cluster.name, Node.hostname, Device.minor, Device.uuid)
    )
    limits: dict[tuple[str, str, str], float] = {}
    for cluster, node, minor, uuid, cap_w in session.execute(statement):
        if cap_w is not None:  # the WHERE says so; the type cannot
            limits[(cluster, node, uuid if minor is None else str(minor))] = cap_w
    return [GpuLimit(c, n, g, w) for (c, n, g), w in limits.items()]
