"""Job results and the AdminComment queue, written in the caller's transaction.

A finished job's figures (:class:`~slurm_carbon.store.figures.JobFigures`) are one
:class:`~slurm_carbon.store.models.JobResult` row, replaced whole when they are
computed again (:func:`save_result`). Writing
them into Slurm goes through :class:`~slurm_carbon.store.models.CommentWrite`
rows, one per job: :func:`request_comment` queues a job (again), the writer
takes :func:`pending_comments` and records each try with
:func:`record_comment_attempt`. :func:`jobs_to_settle` finds measured jobs that
were never queued or have no result yet (their end was not reported, say while
the writer was down). Nothing here commits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session

from slurm_carbon.store.figures import JobFigures
from slurm_carbon.store.models import (
    Cluster,
    CommentWrite,
    CommentWriteState,
    Device,
    EnergyInterval,
    Job,
    JobResult,
    Node,
)
from slurm_carbon.store.repositories import _insert
from slurm_carbon.vocabulary import DeviceKind, EnergyMethod, Sharing

# A result accounts its job's intervals when the energies agree this closely
# (the result's per-kind energies go through kWh and back). Units: joules.
_STALE_ABS_J = 1e-3
_STALE_REL = 1e-9

__all__ = [
    "JobKey",
    "PendingComment",
    "StoredInterval",
    "comment_write",
    "find_job",
    "get_result",
    "job_intervals",
    "jobs_on_node_slots",
    "jobs_to_settle",
    "pending_comments",
    "recent_writes",
    "record_comment_attempt",
    "request_comment",
    "save_result",
]


@dataclass(frozen=True, slots=True)
class StoredInterval:
    """One stored interval of a job, with its node and device.

    Units: ``energy_j`` in joules; times are aware UTC datetimes.
    """

    node: str
    device_uuid: str
    kind: DeviceKind
    start: datetime
    end: datetime
    energy_j: float
    method: EnergyMethod
    sharing: Sharing
    device_model: str | None = None


@dataclass(frozen=True, slots=True)
class JobKey:
    """A job as Slurm knows it: cluster name and raw job id (an array task's own id)."""

    cluster: str
    slurm_job_id: int


@dataclass(frozen=True, slots=True)
class PendingComment:
    """A queued (or done) AdminComment write and the job it is for."""

    write_id: int
    job_id: int
    job: JobKey
    attempts: int
    payload: str = ""


def find_job(session: Session, cluster: str, slurm_job_id: int) -> Job | None:
    """The stored job ``slurm_job_id`` of cluster ``cluster``, if any."""
    query = (
        select(Job)
        .join(Cluster, Cluster.id == Job.cluster_id)
        .where(Cluster.name == cluster, Job.slurm_job_id == slurm_job_id)
    )
    return session.execute(query).scalar_one_or_none()


def job_intervals(session: Session, job_id: int) -> list[StoredInterval]:
    """Every stored interval of the job (``jobs.id``), oldest first."""
    query = (
        select(
            Node.hostname,
            Device.uuid,
            Device.kind,
            EnergyInterval.interval_start,
            EnergyInterval.interval_end,
            EnergyInterval.energy_j,
            EnergyInterval.method,
            EnergyInterval.sharing,
            Device.model,
        )
        .join(Device, Device.id == EnergyInterval.device_id)
        .join(Node, Node.id == EnergyInterval.node_id)
        .where(EnergyInterval.job_id == job_id)
        .order_by(EnergyInterval.interval_start, Device.uuid)
    )
    return [StoredInterval(*row) for row in session.execute(query)]


def jobs_on_node_slots(session: Session, job_id: int) -> dict[tuple[str, datetime], int]:
    """For each (node, interval start) of the job (``jobs.id``), how many jobs have energy there.

    The node's unmeasured parts are shared among those jobs.
    """
    own = (
        select(EnergyInterval.node_id, EnergyInterval.interval_start)
        .where(EnergyInterval.job_id == job_id)
        .distinct()
        .subquery()
    )
    query = (
        select(
            Node.hostname, own.c.interval_start, func.count(func.distinct(EnergyInterval.job_id))
        )
        .join(Node, Node.id == own.c.node_id)
        .join(
            EnergyInterval,
            and_(
                EnergyInterval.node_id == own.c.node_id,
                EnergyInterval.interval_start == own.c.interval_start,
            ),
        )
        .group_by(Node.hostname, own.c.interval_start)
    )
    return {(node, start): int(count) for node, start, count in session.execute(query)}


def save_result(session: Session, job_id: int, values: JobFigures) -> JobResult:
    """Store the job's result, replacing any earlier one; return the stored row."""
    fields = asdict(values)
    insert = _insert(session, JobResult).values(job_id=job_id, **fields)
    session.execute(
        insert.on_conflict_do_update(
            index_elements=["job_id"], set_={name: insert.excluded[name] for name in fields}
        )
    )
    found = get_result(session, job_id)
    assert found is not None  # noqa: S101 (just written in this transaction)
    return found


def get_result(session: Session, job_id: int) -> JobResult | None:
    """The job's stored result, if any."""
    query = (
        select(JobResult)
        .where(JobResult.job_id == job_id)
        .execution_options(populate_existing=True)
    )
    return session.execute(query).scalar_one_or_none()


def comment_write(session: Session, job_id: int) -> CommentWrite | None:
    """The job's AdminComment write (the newest, should there be several)."""
    query = (
        select(CommentWrite)
        .where(CommentWrite.job_id == job_id)
        .order_by(CommentWrite.id.desc())
        .limit(1)
        .execution_options(populate_existing=True)
    )
    return session.execute(query).scalar_one_or_none()


def request_comment(session: Session, job_id: int, now: datetime) -> CommentWrite:
    """Queue the job's AdminComment write; a written or failed one is queued again.

    A pending write is left as it is (its attempts and backoff stand). The
    payload is filled in when the result is computed.
    """
    found = comment_write(session, job_id)
    if found is None:
        found = CommentWrite(job_id=job_id, payload="", attempts=0, created_at=now)
        session.add(found)
    elif found.state != CommentWriteState.PENDING:
        found.state = CommentWriteState.PENDING
        found.attempts = 0
        found.last_error = None
    session.flush()
    return found


def pending_comments(session: Session, limit: int = 100) -> list[PendingComment]:
    """Queued writes, oldest first."""
    query = (
        select(CommentWrite.id, CommentWrite.job_id, Cluster.name, Job.slurm_job_id)
        .add_columns(CommentWrite.attempts)
        .join(Job, Job.id == CommentWrite.job_id)
        .join(Cluster, Cluster.id == Job.cluster_id)
        .where(CommentWrite.state == CommentWriteState.PENDING)
        .order_by(CommentWrite.id)
        .limit(limit)
    )
    return [
        PendingComment(write_id, job_id, JobKey(cluster, slurm_job_id), attempts)
        for write_id, job_id, cluster, slurm_job_id, attempts in session.execute(query)
    ]


def recent_writes(session: Session, since: datetime, limit: int = 500) -> list[PendingComment]:
    """Writes done (state ``written``) at or after ``since``, oldest first, with their payload."""
    query = (
        select(CommentWrite.id, CommentWrite.job_id, Cluster.name, Job.slurm_job_id)
        .add_columns(CommentWrite.attempts, CommentWrite.payload)
        .join(Job, Job.id == CommentWrite.job_id)
        .join(Cluster, Cluster.id == Job.cluster_id)
        .where(CommentWrite.state == CommentWriteState.WRITTEN, CommentWrite.written_at >= since)
        .order_by(CommentWrite.written_at)
        .limit(limit)
    )
    return [
        PendingComment(write_id, job_id, JobKey(cluster, slurm_job_id), attempts, payload)
        for write_id, job_id, cluster, slurm_job_id, attempts, payload in session.execute(query)
    ]


def record_comment_attempt(  # noqa: PLR0913 (what one try left behind)
    session: Session,
    write_id: int,
    *,
    now: datetime,
    payload: str | None = None,
    error: str | None = None,
    give_up: bool = False,
) -> CommentWrite:
    """Record one try of a write: written (no ``error``), or failed once more.

    Args:
        session: The caller's session.
        write_id: The write's row id.
        now: When the try ended.
        payload: What was (or was to be) written, if known by now.
        error: Why it failed, one line; None: it was written.
        give_up: Mark a failed try final (state ``failed``).
    """
    found = session.get(CommentWrite, write_id, populate_existing=True)
    if found is None:
        raise LookupError(f"no comment write {write_id}")
    if payload is not None:
        found.payload = payload
    found.attempts += 1
    if error is None:
        found.state = CommentWriteState.WRITTEN
        found.last_error = None
        found.written_at = now
    else:
        found.last_error = error
        found.state = CommentWriteState.FAILED if give_up else CommentWriteState.PENDING
    session.flush()
    return found


def jobs_to_settle(session: Session, limit: int = 500) -> list[JobKey]:
    """Measured jobs whose result is missing or stale, and that are not queued.

    That is: jobs with intervals that were never queued; queued ones that have
    no result (their write failed before one was computed); and jobs whose
    stored result accounts a different energy than their intervals now add up
    to (intervals arrived after it was computed, e.g. from an agent that was
    down). These are the jobs whose end the writer may have missed or settled
    too early; the caller asks Slurm which of them have finished.
    """
    energy_j = (
        select(func.sum(EnergyInterval.energy_j))
        .where(EnergyInterval.job_id == JobResult.job_id)
        .correlate_except(EnergyInterval)
        .scalar_subquery()
    )
    accounted_j = JobResult.gpu_energy_j + JobResult.cpu_energy_j + JobResult.dram_energy_j
    has_interval = exists().where(EnergyInterval.job_id == Job.id)
    has_write = exists().where(CommentWrite.job_id == Job.id)
    has_result = exists().where(JobResult.job_id == Job.id)
    stale_result = exists().where(
        JobResult.job_id == Job.id,
        func.abs(accounted_j - energy_j) > _STALE_ABS_J + _STALE_REL * energy_j,
    )
    pending = exists().where(
        and_(CommentWrite.job_id == Job.id, CommentWrite.state == CommentWriteState.PENDING)
    )
    query = (
        select(Cluster.name, Job.slurm_job_id)
        .join(Cluster, Cluster.id == Job.cluster_id)
        .where(has_interval, or_(~has_write, and_(~pending, or_(~has_result, stale_result))))
        .order_by(Job.id)
        .limit(limit)
    )
    return [JobKey(cluster, slurm_job_id) for cluster, slurm_job_id in session.execute(query)]
