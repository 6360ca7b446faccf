"""Sums over the jobs of a report, by job, user, account, partition or day, in one SELECT.

Units: energy in joules at the devices (``*_energy_j``, before PUE) except
``facility_energy_j`` (after PUE); emissions in grams CO2e (after PUE).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, String, case, func, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from slurm_carbon.slurm.states import WASTE_STATES
from slurm_carbon.store.models import Job, JobResult
from slurm_carbon.store.reports.query import GroupBy, ReportQuery, conditions
from slurm_carbon.vocabulary import EnergyMethod

__all__ = ["GroupTotals", "totals"]


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


class _UtcDay(FunctionElement[str]):
    """The UTC day (``YYYY-MM-DD``) of a stored time, as text, on either backend."""

    type = String()
    inherit_cache = True
    name = "utc_day"


@compiles(_UtcDay, "sqlite")
def _utc_day_sqlite(element: _UtcDay, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite holds UTC times as text, "YYYY-MM-DD HH:MM:SS.ffffff" (store.types.UTCDateTime).
    return f"substr({compiler.process(element.clauses, **kw)}, 1, 10)"


@compiles(_UtcDay, "postgresql")
def _utc_day_postgresql(element: _UtcDay, compiler: SQLCompiler, **kw: Any) -> str:
    when = compiler.process(element.clauses, **kw)
    return f"to_char({when} AT TIME ZONE 'UTC', 'YYYY-MM-DD')"


def _group_column(by: GroupBy | None) -> ColumnElement[Any] | None:
    if by is None:
        return None
    if by == "day":
        return _UtcDay(Job.end_time)
    if by == "job":
        # An array's tasks, or a het job's components, are one group under its id.
        return func.coalesce(Job.array_job_id, Job.het_job_id, Job.slurm_job_id)
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
        JobResult.ci_annual,
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
        select(*columns).outerjoin(JobResult, JobResult.job_id == Job.id).where(*conditions(query))
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
