"""Read-side queries behind ``slurm-carbon report``: jobs with their figures, and totals.

Each function runs one statement (jobs joined to their results, filtered and
aggregated in SQL) and returns plain dataclasses, never ORM objects::

    query = ReportQuery(users=("alice",), start=month_start, end=month_end)
    for row in iter_jobs(session, query):        # streamed, batch_size rows at a time
        ...
    groups = totals(session, query, by="account")

A job is in a time window when it *ended* in it (``start <= end_time <= end``):
its carbon is settled when it ends, so each job is counted in exactly one
window. That is what the ``jobs(user_name, end_time)`` and ``jobs(end_time)``
indexes serve. A job selected by id (:class:`JobSelector`) is found whatever
its times.

Units: energy in joules at the devices (``*_energy_j``, before PUE) except
``facility_energy_j`` (after PUE); emissions in grams CO2e (after PUE); carbon
intensity in gCO2e/kWh; times are aware UTC datetimes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, Result, and_, case, false, func, or_, select
from sqlalchemy.orm import Session

from slurm_carbon.slurm.states import WASTE_STATES, is_waste_state
from slurm_carbon.store.models import CarbonIntensityPoint, Device, EnergyInterval, Job, JobResult
from slurm_carbon.vocabulary import CiKind, EnergyMethod

__all__ = [
    "CiRecord",
    "GroupBy",
    "GroupTotals",
    "JobFigures",
    "JobRow",
    "JobSelector",
    "ReportQuery",
    "TimelinePoint",
    "ci_series",
    "foreign_jobs",
    "iter_jobs",
    "job_timeline",
    "totals",
]

"""States whose carbon bought no result: summed as "waste" in totals."""

GroupBy = Literal["job", "user", "account", "partition"]

# Part of a CI source's name that says it is a yearly mean (an estimate), e.g.
# "codecarbon-annual"; see slurm_carbon.intensity.base.CiKind.ANNUAL.
_ANNUAL_MARK = "annual"


@dataclass(frozen=True, slots=True)
class JobSelector:
    """A job as ``-j`` names it: ``12`` (a job, or every task of array 12) or ``12_3``."""

    job_id: int
    array_task_id: int | None = None

    def __str__(self) -> str:
        return (
            f"{self.job_id}"
            if self.array_task_id is None
            else f"{self.job_id}_{self.array_task_id}"
        )


@dataclass(frozen=True, slots=True)
class ReportQuery:
    """Which jobs a report covers; an empty tuple or None means "no restriction".

    ``states`` are Slurm's words (``COMPLETED``, ``CANCELLED``...); a stored
    ``CANCELLED by 1000`` matches ``CANCELLED``.
    """

    jobs: tuple[JobSelector, ...] = ()
    users: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    partitions: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True, slots=True)
class JobFigures:
    """A job's computed result (see :class:`~slurm_carbon.store.models.JobResult`)."""

    gpu_energy_j: float
    cpu_energy_j: float
    dram_energy_j: float
    co2e_g: float
    ci_mean_g_per_kwh: float | None
    ci_region: str | None
    ci_source: str | None
    pue: float
    quality: str
    sharing: str
    computed_at: datetime
    other_energy_j: float = 0.0

    @property
    def device_energy_j(self) -> float:
        """GPU + CPU + DRAM energy, and the share of unmeasured node parts, before PUE."""
        return self.gpu_energy_j + self.cpu_energy_j + self.dram_energy_j + self.other_energy_j

    @property
    def facility_energy_j(self) -> float:
        """Energy the facility drew for the job: device energy times PUE."""
        return self.device_energy_j * self.pue

    @property
    def annual_ci(self) -> bool:
        """Whether the carbon intensity was a yearly mean rather than the hour's."""
        return self.ci_source is not None and _ANNUAL_MARK in self.ci_source.lower()

    @property
    def estimated(self) -> bool:
        """Whether the figures are an estimate: estimated energy or a yearly-mean CI."""
        return self.quality == EnergyMethod.ESTIMATED.value or self.annual_ci


@dataclass(frozen=True, slots=True)
class JobRow:
    """One job of a report; ``figures`` is None while its result is pending."""

    row_id: int
    slurm_job_id: int
    array_job_id: int | None
    array_task_id: int | None
    name: str | None
    user_name: str | None
    account: str | None
    partition: str | None
    state: str | None
    start_time: datetime | None
    end_time: datetime | None
    requested_gpus: int
    figures: JobFigures | None
    node_list: str | None = None

    @property
    def job_id_text(self) -> str:
        """The id as sacct prints it: ``12_3`` for an array task, else ``12``."""
        if self.array_job_id is not None and self.array_task_id is not None:
            return f"{self.array_job_id}_{self.array_task_id}"
        return str(self.slurm_job_id)

    @property
    def elapsed(self) -> timedelta | None:
        """Wall time from start to end, if both are known."""
        if self.start_time is None or self.end_time is None:
            return None
        return self.end_time - self.start_time

    @property
    def waste(self) -> bool:
        """Whether the job ended in one of :data:`~slurm_carbon.slurm.states.WASTE_STATES`."""
        return is_waste_state(self.state)


@dataclass(frozen=True, slots=True)
class GroupTotals:
    """Sums over a group of jobs (``key`` None: every job of the report).

    Pending jobs count in ``jobs`` and ``pending_jobs`` but add nothing to the sums.
    """

    key: str | None
    jobs: int
    pending_jobs: int
    estimated_jobs: int
    gpu_energy_j: float
    cpu_energy_j: float
    dram_energy_j: float
    facility_energy_j: float
    co2e_g: float
    waste_co2e_g: float
    other_energy_j: float = 0.0

    @property
    def device_energy_j(self) -> float:
        """GPU + CPU + DRAM energy, and the share of unmeasured node parts, before PUE."""
        return self.gpu_energy_j + self.cpu_energy_j + self.dram_energy_j + self.other_energy_j


@dataclass(frozen=True, slots=True)
class TimelinePoint:
    """A job's energy over one interval, by device kind, with the CI in force then.

    ``ci_g_per_kwh`` is the latest stored actual intensity of the job's CI region
    and source at the interval's start, None when none is stored.
    """

    start: datetime
    end: datetime
    gpu_energy_j: float
    cpu_energy_j: float
    dram_energy_j: float
    ci_g_per_kwh: float | None


@dataclass(frozen=True, slots=True)
class CiRecord:
    """One stored carbon-intensity point. Units: ``ci_g_per_kwh`` in gCO2e/kWh."""

    region: str
    source: str
    time: datetime
    ci_g_per_kwh: float
    kind: str
    signal: str
    issued_at: datetime


def _state_matches(states: Iterable[str]) -> ColumnElement[bool]:
    clauses: list[ColumnElement[bool]] = []
    for state in states:
        clauses.append(Job.state == state)
        clauses.append(Job.state.like(f"{state} %"))
    return or_(*clauses) if clauses else false()


def _selector_matches(selectors: Sequence[JobSelector]) -> ColumnElement[bool]:
    clauses: list[ColumnElement[bool]] = []
    for selector in selectors:
        if selector.array_task_id is None:
            clauses.append(Job.slurm_job_id == selector.job_id)
            clauses.append(Job.array_job_id == selector.job_id)
        else:
            clauses.append(
                and_(
                    Job.array_job_id == selector.job_id,
                    Job.array_task_id == selector.array_task_id,
                )
            )
    return or_(*clauses)


def _where(query: ReportQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if query.jobs:
        conditions.append(_selector_matches(query.jobs))
    if query.users:
        conditions.append(Job.user_name.in_(query.users))
    if query.accounts:
        conditions.append(Job.account.in_(query.accounts))
    if query.partitions:
        conditions.append(Job.partition.in_(query.partitions))
    if query.states:
        conditions.append(_state_matches(query.states))
    if query.start is not None:
        conditions.append(Job.end_time >= query.start)
    if query.end is not None:
        conditions.append(Job.end_time <= query.end)
    return conditions


_JOB_COLUMNS = (
    Job.id,
    Job.slurm_job_id,
    Job.array_job_id,
    Job.array_task_id,
    Job.name,
    Job.user_name,
    Job.account,
    Job.partition,
    Job.state,
    Job.start_time,
    Job.end_time,
    Job.requested_gpus,
    JobResult.id,
    JobResult.gpu_energy_j,
    JobResult.cpu_energy_j,
    JobResult.dram_energy_j,
    JobResult.co2e_g,
    JobResult.ci_mean_g_per_kwh,
    JobResult.ci_region,
    JobResult.ci_source,
    JobResult.pue,
    JobResult.quality,
    JobResult.sharing,
    JobResult.computed_at,
    JobResult.other_energy_j,
    Job.node_list,
)


def _row(values: Sequence[Any]) -> JobRow:
    figures = None
    if values[12] is not None:
        figures = JobFigures(
            gpu_energy_j=values[13],
            cpu_energy_j=values[14],
            dram_energy_j=values[15],
            co2e_g=values[16],
            ci_mean_g_per_kwh=values[17],
            ci_region=values[18],
            ci_source=values[19],
            pue=values[20],
            quality=str(values[21].value if hasattr(values[21], "value") else values[21]),
            sharing=str(values[22].value if hasattr(values[22], "value") else values[22]),
            computed_at=values[23],
            other_energy_j=values[24],
        )
    return JobRow(
        row_id=values[0],
        slurm_job_id=values[1],
        array_job_id=values[2],
        array_task_id=values[3],
        name=values[4],
        user_name=values[5],
        account=values[6],
        partition=values[7],
        state=values[8],
        start_time=values[9],
        end_time=values[10],
        requested_gpus=values[11] or 0,
        figures=figures,
        node_list=values[25],
    )


def iter_jobs(session: Session, query: ReportQuery, *, batch_size: int = 5000) -> Iterator[JobRow]:
    """The jobs the query selects with their figures, by job id, streamed in batches.

    One SELECT (jobs LEFT JOIN job_results); on PostgreSQL a server-side cursor
    fetches ``batch_size`` rows at a time, so memory stays flat however many
    jobs match. The session must stay open while the iterator is consumed.
    """
    statement = (
        select(*_JOB_COLUMNS)
        .outerjoin(JobResult, JobResult.job_id == Job.id)
        .where(*_where(query))
        .order_by(Job.slurm_job_id)
        .execution_options(yield_per=batch_size)
    )
    # Core execution (no ORM row processing); now, so that errors come before any output.
    result = session.connection().execute(statement)
    return _rows(result)


def _rows(result: Result[*tuple[Any, ...]]) -> Iterator[JobRow]:
    try:
        for values in result:
            yield _row(values)
    finally:
        result.close()  # a server-side cursor, on PostgreSQL


def _group_column(by: GroupBy | None) -> ColumnElement[Any] | None:
    if by is None:
        return None
    if by == "job":
        # An array's tasks are one group under the array's id.
        return func.coalesce(Job.array_job_id, Job.slurm_job_id)
    columns = {"user": Job.user_name, "account": Job.account, "partition": Job.partition}
    return columns[by].expression


def totals(session: Session, query: ReportQuery, by: GroupBy | None = None) -> list[GroupTotals]:
    """Sums over the selected jobs, one :class:`GroupTotals` per group (by key).

    With ``by`` None, a single group with key None (also when no job matched).
    One aggregate SELECT; nothing but the sums leaves the database.
    """
    device_j = (
        JobResult.gpu_energy_j
        + JobResult.cpu_energy_j
        + JobResult.dram_energy_j
        + JobResult.other_energy_j
    )
    waste = or_(*(or_(Job.state == s, Job.state.like(f"{s} %")) for s in WASTE_STATES))
    estimated = or_(
        JobResult.quality == EnergyMethod.ESTIMATED,
        func.lower(JobResult.ci_source).like(f"%{_ANNUAL_MARK}%"),
    )
    group = _group_column(by)
    sums = (
        func.count(Job.id),
        func.count(JobResult.id),
        func.coalesce(func.sum(case((estimated, 1), else_=0)), 0),
        func.coalesce(func.sum(JobResult.gpu_energy_j), 0.0),
        func.coalesce(func.sum(JobResult.cpu_energy_j), 0.0),
        func.coalesce(func.sum(JobResult.dram_energy_j), 0.0),
        func.coalesce(func.sum(device_j * JobResult.pue), 0.0),
        func.coalesce(func.sum(JobResult.co2e_g), 0.0),
        func.coalesce(func.sum(case((waste, JobResult.co2e_g), else_=0.0)), 0.0),
        func.coalesce(func.sum(JobResult.other_energy_j), 0.0),
    )
    columns = sums if group is None else (group, *sums)
    statement = (
        select(*columns).outerjoin(JobResult, JobResult.job_id == Job.id).where(*_where(query))
    )
    if group is not None:
        statement = statement.group_by(group).order_by(group)
    result: list[GroupTotals] = []
    for values in session.execute(statement):
        offset = 0 if group is None else 1
        key = None if group is None else (None if values[0] is None else str(values[0]))
        count, done, est, gpu, cpu, dram, facility, co2e, wasted, other = values[offset:]
        result.append(
            GroupTotals(
                key=key,
                jobs=int(count),
                pending_jobs=int(count) - int(done),
                estimated_jobs=int(est),
                gpu_energy_j=float(gpu),
                cpu_energy_j=float(cpu),
                dram_energy_j=float(dram),
                facility_energy_j=float(facility),
                co2e_g=float(co2e),
                waste_co2e_g=float(wasted),
                other_energy_j=float(other),
            )
        )
    return result


def foreign_jobs(session: Session, selectors: Sequence[JobSelector], user: str) -> list[str]:
    """The ids (as sacct prints them) of the selected jobs that ``user`` does not own."""
    if not selectors:
        return []
    statement = (
        select(Job.slurm_job_id, Job.array_job_id, Job.array_task_id)
        .where(_selector_matches(selectors))
        .where(or_(Job.user_name.is_(None), Job.user_name != user))
        .order_by(Job.slurm_job_id)
    )
    found = []
    for job_id, array_id, task_id in session.execute(statement):
        found.append(
            f"{array_id}_{task_id}" if array_id is not None and task_id is not None else str(job_id)
        )
    return found


def job_timeline(session: Session, row: JobRow) -> list[TimelinePoint]:
    """The job's energy per interval start, by device kind, with the CI then in force.

    Intervals of several devices that start together are summed. The CI is read
    from the stored points of the job's result's region and source (actual
    values), the latest at or before each interval's start; None without a
    result or without such points.
    """
    statement = (
        select(
            EnergyInterval.interval_start,
            func.max(EnergyInterval.interval_end),
            Device.kind,
            func.sum(EnergyInterval.energy_j),
        )
        .join(Device, Device.id == EnergyInterval.device_id)
        .where(EnergyInterval.job_id == row.row_id)
        .group_by(EnergyInterval.interval_start, Device.kind)
        .order_by(EnergyInterval.interval_start)
    )
    by_start: dict[datetime, dict[str, Any]] = {}
    for start, end, kind, energy_j in session.execute(statement):
        point = by_start.setdefault(start, {"end": end, "gpu": 0.0, "cpu": 0.0, "dram": 0.0})
        point["end"] = max(point["end"], end)
        point[str(getattr(kind, "value", kind))] += float(energy_j)
    ci_points = _ci_points(session, row, list(by_start))
    timeline = []
    for start, point in by_start.items():
        ci = None
        for time, value in ci_points:
            if time > start:
                break
            ci = value
        timeline.append(
            TimelinePoint(start, point["end"], point["gpu"], point["cpu"], point["dram"], ci)
        )
    return timeline


def _ci_points(
    session: Session, row: JobRow, starts: list[datetime]
) -> list[tuple[datetime, float]]:
    figures = row.figures
    if figures is None or figures.ci_region is None or figures.ci_source is None or not starts:
        return []
    # The latest point at or before the first start, then every point up to the last.
    first = session.execute(
        select(func.max(CarbonIntensityPoint.time)).where(
            CarbonIntensityPoint.region == figures.ci_region,
            CarbonIntensityPoint.source == figures.ci_source,
            CarbonIntensityPoint.kind == CiKind.ACTUAL,
            CarbonIntensityPoint.time <= min(starts),
        )
    ).scalar_one_or_none()
    statement = (
        select(CarbonIntensityPoint.time, CarbonIntensityPoint.ci_g_per_kwh)
        .where(
            CarbonIntensityPoint.region == figures.ci_region,
            CarbonIntensityPoint.source == figures.ci_source,
            CarbonIntensityPoint.kind == CiKind.ACTUAL,
            CarbonIntensityPoint.time >= (first or min(starts)),
            CarbonIntensityPoint.time <= max(starts),
        )
        .order_by(CarbonIntensityPoint.time, CarbonIntensityPoint.issued_at)
    )
    return [(time, float(value)) for time, value in session.execute(statement)]


def _value(member: Any) -> str:
    return str(getattr(member, "value", member))


def ci_series(
    session: Session, region: str, source: str, start: datetime, end: datetime
) -> list[CiRecord]:
    """Actual CI points of a region and source from the last one at or before ``start`` to ``end``.

    Oldest first; for a time with several issues, the latest issue only.
    """
    where = (
        CarbonIntensityPoint.region == region,
        CarbonIntensityPoint.source == source,
        CarbonIntensityPoint.kind == CiKind.ACTUAL,
    )
    first = session.execute(
        select(func.max(CarbonIntensityPoint.time)).where(
            *where, CarbonIntensityPoint.time <= start
        )
    ).scalar_one_or_none()
    statement = (
        select(
            CarbonIntensityPoint.time,
            CarbonIntensityPoint.ci_g_per_kwh,
            CarbonIntensityPoint.signal,
            CarbonIntensityPoint.issued_at,
        )
        .where(*where, CarbonIntensityPoint.time >= (first or start))
        .where(CarbonIntensityPoint.time <= end)
        .order_by(CarbonIntensityPoint.time, CarbonIntensityPoint.issued_at)
    )
    latest: dict[datetime, CiRecord] = {}
    for time, value, signal, issued_at in session.execute(statement):
        latest[time] = CiRecord(
            region, source, time, float(value), CiKind.ACTUAL.value, _value(signal), issued_at
        )
    return list(latest.values())
