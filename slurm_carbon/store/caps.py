"""GPU power-cap decisions in the store: recorded once, found per node, read back per job.

The service's decision loop records what it decided with :func:`record_decision`
(a second record of the same job, device and period start is a no-op, so a
loop that runs twice, or two replicas, decide once). A node's agent asks what
is in force for its running jobs (:func:`caps_for_node`); ``report -j`` shows
a job's decisions in order (:func:`cap_timeline`), and the forecast the limits
its GPUs reported with their energy (:func:`interval_caps`); online profiling their
busy clocks (:func:`interval_busy_clocks`) and lowest limit (:func:`gpu_min_limit_w`).
A decision for every GPU of
a job has ``device`` None here and the empty string in the table (see
:class:`~slurm_carbon.store.models.CapDecision`). Units: watts; aware UTC times.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from slurm_carbon.channel import DECISION_CARRY_S
from slurm_carbon.errors import SlurmError
from slurm_carbon.slurm.hostlist import expand_hostlist
from slurm_carbon.store.models import CapDecision, Cluster, Device, EnergyInterval, Job
from slurm_carbon.store.repositories import _insert
from slurm_carbon.vocabulary import DeviceKind

__all__ = [
    "CapDecisionRecord",
    "NodeCap",
    "cap_timeline",
    "caps_for_node",
    "gpu_min_limit_w",
    "interval_busy_clocks",
    "interval_caps",
    "record_decision",
]

_ALL_GPUS = ""


@dataclass(frozen=True)
class CapDecisionRecord:
    """A power limit decided for a job's GPU (or all its GPUs) over a period.

    Attributes:
        job_id: The job's row id (``jobs.id``).
        device: The GPU's UUID, or None for every GPU the job holds.
        period_start: From when the limit holds (aware UTC)...
        period_end: ...until when (exclusive); the agent's lease ends here.
        power_limit_w: The limit. Units: watts.
        policy: The policy that decided (``static``, ``carbon``, ...).
        reason: One line saying why.
        decided_at: When it was decided.
    """

    job_id: int
    device: str | None
    period_start: datetime
    period_end: datetime
    power_limit_w: float
    policy: str
    reason: str
    decided_at: datetime


@dataclass(frozen=True)
class NodeCap:
    """A decision in force for a running job of a node, as the node is told it.

    Attributes:
        slurm_job_id: Slurm's job id.
        device: The GPU's UUID, or None for every GPU the job holds.
        power_limit_w: Units: watts.
        until: The decision's period end: the agent restores the GPU after it
            unless the decision is renewed.
    """

    slurm_job_id: int
    device: str | None
    power_limit_w: float
    until: datetime


def record_decision(session: Session, record: CapDecisionRecord) -> bool:
    """Store ``record`` unless its (job, device, period start) is stored; return whether new."""
    statement = (
        _insert(session, CapDecision)
        .values(
            job_id=record.job_id,
            device=record.device or _ALL_GPUS,
            period_start=record.period_start,
            period_end=record.period_end,
            power_limit_w=record.power_limit_w,
            policy=record.policy,
            reason=record.reason,
            decided_at=record.decided_at,
        )
        .on_conflict_do_nothing(index_elements=["job_id", "device", "period_start"])
        .returning(CapDecision.id)
    )
    return session.execute(statement).first() is not None


def _runs_on(node_list: str | None, node: str) -> bool:
    if node_list is None:
        return False
    try:
        return node in expand_hostlist(node_list)
    except SlurmError:
        return False


def caps_for_node(
    session: Session, cluster: str, node: str, now: datetime, *, limit: int | None = None
) -> list[NodeCap]:
    """The decisions in force at ``now`` for the running jobs of ``cluster`` on ``node``.

    In force: ``period_start <= now < period_end``, or carried: the period is
    over by less than :data:`~slurm_carbon.channel.DECISION_CARRY_S` (its ``until``
    is then ``period_end`` plus that), until a later decision replaces it;
    running: not ended by ``now``; on the node: its stored NodeList holds
    ``node`` (a job whose nodes are not known yet gets no caps). Of several
    decisions in force for one job and device, the latest period start wins.
    Sorted by job and device; at most ``limit``.
    """
    carry = timedelta(seconds=DECISION_CARRY_S)
    query = (
        select(Job.slurm_job_id, Job.node_list, CapDecision)
        .join(Job, Job.id == CapDecision.job_id)
        .join(Cluster, Cluster.id == Job.cluster_id)
        .where(
            Cluster.name == cluster,
            Job.node_list.is_not(None),
            or_(Job.end_time.is_(None), Job.end_time > now),
            CapDecision.period_start <= now,
            CapDecision.period_end > now - carry,
        )
        .order_by(Job.slurm_job_id, CapDecision.device, CapDecision.period_start)
    )
    latest: dict[tuple[int, str], NodeCap] = {}
    for slurm_job_id, node_list, decision in session.execute(query):
        if not _runs_on(node_list, node):
            continue
        latest[(int(slurm_job_id), decision.device)] = NodeCap(
            slurm_job_id=int(slurm_job_id),
            device=decision.device or None,
            power_limit_w=decision.power_limit_w,
            until=decision.period_end if decision.period_end > now else decision.period_end + carry,
        )
    caps = [latest[key] for key in sorted(latest)]
    return caps if limit is None else caps[:limit]


def cap_timeline(session: Session, job_id: int) -> list[CapDecisionRecord]:
    """Every decision for job ``job_id`` (``jobs.id``), by period start, then device."""
    rows = session.execute(
        select(CapDecision)
        .where(CapDecision.job_id == job_id)
        .order_by(CapDecision.period_start, CapDecision.device)
    ).scalars()
    return [
        CapDecisionRecord(
            job_id=row.job_id,
            device=row.device or None,
            period_start=row.period_start,
            period_end=row.period_end,
            power_limit_w=row.power_limit_w,
            policy=row.policy,
            reason=row.reason,
            decided_at=row.decided_at,
        )
        for row in rows
    ]


def interval_caps(session: Session, job_id: int) -> dict[datetime, float]:
    """The mean power limit of job ``job_id``'s GPUs per interval start (their ``cap_w``).

    Only starts where every GPU interval reported its limit are given; a start
    with a GPU whose limit is not known (an older agent) is left out, as are
    starts without GPU intervals. Units: watts.
    """
    return _gpu_means(session, job_id, EnergyInterval.cap_w)


def interval_busy_clocks(session: Session, job_id: int) -> dict[datetime, float]:
    """The mean busy clock of job ``job_id``'s GPUs per interval start (``busy_clock_mhz``).

    Given as :func:`interval_caps` gives limits: only where every GPU reported
    it. Units: MHz.
    """
    return _gpu_means(session, job_id, EnergyInterval.busy_clock_mhz)


def gpu_min_limit_w(session: Session, job_id: int) -> float | None:
    """The lowest limit every GPU of job ``job_id`` allows (the highest of their minimums).

    None when one of its GPUs did not report its range (an older agent). Units: watts.
    """
    query = select(
        func.max(Device.min_limit_w), func.count(Device.min_limit_w), func.count()
    ).where(
        Device.id.in_(select(EnergyInterval.device_id).where(EnergyInterval.job_id == job_id)),
        Device.kind == DeviceKind.GPU,
    )
    highest, known, every = session.execute(query).one()
    return float(highest) if highest is not None and known == every else None


def _gpu_means(
    session: Session, job_id: int, column: InstrumentedAttribute[float | None]
) -> dict[datetime, float]:
    """``column``'s mean over the job's GPU intervals per start, where every GPU's is known."""
    query = (
        select(
            EnergyInterval.interval_start,
            func.avg(column),
            func.count(column),
            func.count(),
        )
        .join(Device, Device.id == EnergyInterval.device_id)
        .where(EnergyInterval.job_id == job_id, Device.kind == DeviceKind.GPU)
        .group_by(EnergyInterval.interval_start)
    )
    return {
        start: float(mean)
        for start, mean, known, every in session.execute(query)
        if known == every and mean is not None
    }
