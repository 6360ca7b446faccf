"""The jobs of a report with their figures, streamed; the jobs a user may not see.

Units: energy in joules at the devices (``*_energy_j``, before PUE) except
``facility_energy_j`` (after PUE); emissions in grams CO2e (after PUE); carbon
intensity in gCO2e/kWh; times are aware UTC datetimes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Result, or_, select, tuple_
from sqlalchemy.orm import Session

from slurm_carbon.slurm.states import is_waste_state
from slurm_carbon.store.budgets import BudgetActionRecord
from slurm_carbon.store.figures import JobFigures
from slurm_carbon.store.models import BudgetActionRow, Job, JobResult
from slurm_carbon.store.reports.query import JobSelector, ReportQuery, conditions, selector_matches

__all__ = ["JobRow", "foreign_jobs", "iter_jobs"]


@dataclass(frozen=True, slots=True)
class JobRow:
    """One job of a report; ``figures`` is None while its result is pending.

    ``budget_co2e_g`` and ``budget_energy_j`` are the budgets its comment gave
    (grams CO2e, joules; None: none given); ``budget_action`` what was done
    because its forecast exceeded one (None: nothing). ``time_limit_s`` is
    Slurm's time limit (seconds; None: UNLIMITED or not known).
    """

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
    budget_co2e_g: float | None = None
    budget_energy_j: float | None = None
    budget_action: BudgetActionRecord | None = None
    time_limit_s: float | None = None
    het_job_id: int | None = None
    het_job_offset: int | None = None

    @property
    def job_id_text(self) -> str:
        """The id as sacct prints it: ``12_3`` (array task), ``12+1`` (het component) or ``12``."""
        return job_id_text(
            self.slurm_job_id,
            self.array_job_id,
            self.array_task_id,
            self.het_job_id,
            self.het_job_offset,
        )

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
    Job.node_list,
    Job.time_limit_s,
    Job.het_job_id,
    Job.het_job_offset,
)
# The result's id (None: no result yet), then its columns in JobFigures' order.
_FIGURE_COLUMNS = (JobResult.id, *(getattr(JobResult, f.name) for f in fields(JobFigures)))
# The budgets, then the action's columns in BudgetActionRecord's order (job_id None: no action).
_BUDGET_COLUMNS = (
    Job.budget_co2e_g,
    Job.budget_energy_j,
    *(getattr(BudgetActionRow, f.name) for f in fields(BudgetActionRecord)),
)


def _row(values: Sequence[Any]) -> JobRow:
    (
        row_id,
        slurm_job_id,
        array_job_id,
        array_task_id,
        name,
        user_name,
        account,
        partition,
        state,
        start_time,
        end_time,
        requested_gpus,
        node_list,
        time_limit_s,
        het_job_id,
        het_job_offset,
    ) = values[: len(_JOB_COLUMNS)]
    result_id, *figures = values[len(_JOB_COLUMNS) : -len(_BUDGET_COLUMNS)]
    budget_co2e_g, budget_energy_j, *action = values[-len(_BUDGET_COLUMNS) :]
    return JobRow(
        row_id=row_id,
        slurm_job_id=slurm_job_id,
        array_job_id=array_job_id,
        array_task_id=array_task_id,
        name=name,
        user_name=user_name,
        account=account,
        partition=partition,
        state=state,
        start_time=start_time,
        end_time=end_time,
        requested_gpus=requested_gpus or 0,
        figures=None if result_id is None else JobFigures(*figures),
        node_list=node_list,
        budget_co2e_g=budget_co2e_g,
        budget_energy_j=budget_energy_j,
        budget_action=None if action[0] is None else BudgetActionRecord(*action),
        time_limit_s=time_limit_s,
        het_job_id=het_job_id,
        het_job_offset=het_job_offset,
    )


def job_id_text(
    slurm_job_id: int,
    array_job_id: int | None,
    array_task_id: int | None,
    het_job_id: int | None,
    het_job_offset: int | None,
) -> str:
    """A job's id as sacct prints it: ``12_3``, ``12+1`` or ``12``."""
    if array_job_id is not None and array_task_id is not None:
        return f"{array_job_id}_{array_task_id}"
    if het_job_id is not None and het_job_offset is not None:
        return f"{het_job_id}+{het_job_offset}"
    return str(slurm_job_id)


def iter_jobs(
    session: Session,
    query: ReportQuery,
    *,
    batch_size: int = 5000,
    after: tuple[int, int] | None = None,
) -> Iterator[JobRow]:
    """The jobs the query selects with their figures, by job id, streamed in batches.

    One SELECT (jobs LEFT JOIN job_results LEFT JOIN budget_actions, at most
    one of each per job); on PostgreSQL a server-side cursor fetches
    ``batch_size`` rows at a time, so memory stays flat however many jobs match.
    The session must stay open while the iterator is consumed. ``after`` (a
    row's ``(slurm_job_id, row_id)``) starts after that row: the read API's
    pages seek there instead of reading and skipping the rows before.
    """
    statement = (
        select(*_JOB_COLUMNS, *_FIGURE_COLUMNS, *_BUDGET_COLUMNS)
        .outerjoin(JobResult, JobResult.job_id == Job.id)
        .outerjoin(BudgetActionRow, BudgetActionRow.job_id == Job.id)
        .where(*conditions(query))
        .order_by(Job.slurm_job_id, Job.id)
        .execution_options(yield_per=batch_size)
    )
    if after is not None:
        statement = statement.where(tuple_(Job.slurm_job_id, Job.id) > tuple_(*after))
    # Core execution (no ORM row processing); now, so that errors come before any output.
    result = session.connection().execute(statement)
    return _rows(result)


def _rows(result: Result[*tuple[Any, ...]]) -> Iterator[JobRow]:
    try:
        for values in result:
            yield _row(values)
    finally:
        result.close()  # a server-side cursor, on PostgreSQL


def foreign_jobs(session: Session, selectors: Sequence[JobSelector], user: str) -> list[str]:
    """The ids (as sacct prints them) of the selected jobs that ``user`` does not own."""
    if not selectors:
        return []
    statement = (
        select(
            Job.slurm_job_id,
            Job.array_job_id,
            Job.array_task_id,
            Job.het_job_id,
            Job.het_job_offset,
        )
        .where(selector_matches(selectors))
        .where(or_(Job.user_name.is_(None), Job.user_name != user))
        .order_by(Job.slurm_job_id)
    )
    return [job_id_text(*ids) for ids in session.execute(statement)]
