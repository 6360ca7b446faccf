"""What a running job's forecast is shown beside: the budgets its owner gave.

Units: emissions in grams CO2e, energy in joules.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from slurm_carbon.store.models import Job

__all__ = ["StoredBudgets", "job_budgets"]


@dataclass(frozen=True, slots=True)
class StoredBudgets:
    """A job's budgets as stored from its comment; None: not given."""

    co2e_g: float | None = None
    energy_j: float | None = None


def job_budgets(session: Session, job_id: int) -> StoredBudgets:
    """The budgets of job ``job_id`` (``jobs.id``); none for a job not stored."""
    query = select(Job.budget_co2e_g, Job.budget_energy_j).where(Job.id == job_id)
    row = session.execute(query).one_or_none()
    return StoredBudgets() if row is None else StoredBudgets(row[0], row[1])
