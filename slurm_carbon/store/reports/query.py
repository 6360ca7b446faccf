"""Which jobs a report covers: :class:`ReportQuery`, :class:`JobSelector`, and their SQL conditions.

A job is in a time window when it *ended* in it (``start <= end_time <= end``):
its carbon is settled when it ends, so each job is counted in exactly one
window. That is what the ``jobs(user_name, end_time)`` and ``jobs(end_time)``
indexes serve. A job selected by id (:class:`JobSelector`) is found whatever
its times.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import ColumnElement, and_, false, or_

from slurm_carbon.store.models import Job

__all__ = ["GroupBy", "JobSelector", "ReportQuery", "conditions", "selector_matches"]

GroupBy = Literal["job", "user", "account", "partition", "day"]
"""What totals may be grouped by; ``day`` is the UTC day a job ended (``2024-03-14``)."""


@dataclass(frozen=True, slots=True)
class JobSelector:
    """A job as ``-j`` names it: ``12``, ``12_3`` (an array task) or ``12+1`` (a het component).

    ``12`` is job 12, every task of array 12, or every component of het job 12.
    """

    job_id: int
    array_task_id: int | None = None
    het_job_offset: int | None = None

    def __str__(self) -> str:
        if self.array_task_id is not None:
            return f"{self.job_id}_{self.array_task_id}"
        if self.het_job_offset is not None:
            return f"{self.job_id}+{self.het_job_offset}"
        return f"{self.job_id}"


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


def _state_matches(states: Iterable[str]) -> ColumnElement[bool]:
    clauses: list[ColumnElement[bool]] = []
    for state in states:
        clauses.append(Job.state == state)
        clauses.append(Job.state.like(f"{state} %"))
    return or_(*clauses) if clauses else false()


def selector_matches(selectors: Sequence[JobSelector]) -> ColumnElement[bool]:
    """The condition that a job is one of ``selectors`` (an array's or het job's id: all of it)."""
    clauses: list[ColumnElement[bool]] = []
    for selector in selectors:
        if selector.het_job_offset is not None:
            clauses.append(
                and_(
                    Job.het_job_id == selector.job_id,
                    Job.het_job_offset == selector.het_job_offset,
                )
            )
        elif selector.array_task_id is None:
            clauses.append(Job.slurm_job_id == selector.job_id)
            clauses.append(Job.array_job_id == selector.job_id)
            clauses.append(Job.het_job_id == selector.job_id)
        else:
            clauses.append(
                and_(
                    Job.array_job_id == selector.job_id,
                    Job.array_task_id == selector.array_task_id,
                )
            )
    return or_(*clauses)


def conditions(query: ReportQuery) -> list[ColumnElement[bool]]:
    """The WHERE conditions (on ``jobs``) of the jobs ``query`` selects."""
    found: list[ColumnElement[bool]] = []
    if query.jobs:
        found.append(selector_matches(query.jobs))
    if query.users:
        found.append(Job.user_name.in_(query.users))
    if query.accounts:
        found.append(Job.account.in_(query.accounts))
    if query.partitions:
        found.append(Job.partition.in_(query.partitions))
    if query.states:
        found.append(_state_matches(query.states))
    if query.start is not None:
        found.append(Job.end_time >= query.start)
    if query.end is not None:
        found.append(Job.end_time <= query.end)
    return found
