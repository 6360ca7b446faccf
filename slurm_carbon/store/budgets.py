"""Budget actions in the store: recorded once per job, read per job or for many.

A job is acted on at most once: :func:`record_budget_action` inserts with
``ON CONFLICT (job_id) DO NOTHING`` and returns what is stored, the existing
record if there was one, so two writers racing on one job act once. The
action is recorded (outcome ``pending``) before it is carried out and its
outcome set afterwards (:func:`set_budget_outcome`), all in the caller's
transaction. Units: ``budget`` and ``forecast*`` in grams CO2e (kind ``co2e``)
or joules (kind ``energy``); ``progress`` 0..1.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from slurm_carbon.store.models import BudgetActionRow
from slurm_carbon.store.repositories import _insert
from slurm_carbon.vocabulary import BudgetAction, BudgetKind, BudgetOutcome

__all__ = [
    "IDS_PER_QUERY",
    "BudgetActionRecord",
    "budget_action",
    "budget_actions",
    "record_budget_action",
    "set_budget_outcome",
]


@dataclass(frozen=True)
class BudgetActionRecord:
    """An action taken on a job (``jobs.id``) whose forecast exceeded its budget.

    Attributes:
        job_id: The job's row id (``jobs.id``).
        action: ``notify`` or ``cancel``.
        at: When it was decided (aware UTC).
        kind: Which budget was exceeded.
        budget: The budget. Units: grams CO2e or joules, by ``kind``.
        forecast: The forecast total it was compared with (same unit)...
        forecast_low: ...and its 90 % interval.
        forecast_high: (the interval's upper bound)
        progress: The job's progress then, 0..1 (None: not reported).
        reason: One line saying why, e.g. ``forecast 7.2kg (6.1kg-8.0kg) > budget 5kg``.
        outcome: ``pending`` until carried out, then ``done`` or ``failed``.
        outcome_message: What carrying it out said (e.g. scancel's error).
    """

    job_id: int
    action: BudgetAction
    at: datetime
    kind: BudgetKind
    budget: float
    forecast: float
    forecast_low: float
    forecast_high: float
    progress: float | None
    reason: str
    outcome: BudgetOutcome = BudgetOutcome.PENDING
    outcome_message: str | None = None


IDS_PER_QUERY = 500
"""Job ids in one ``IN (...)``: under the 999 bound variables SQLite allowed before 3.32."""

_COLUMNS = tuple(getattr(BudgetActionRow, field.name) for field in fields(BudgetActionRecord))


def record_budget_action(
    session: Session, record: BudgetActionRecord
) -> tuple[BudgetActionRecord, bool]:
    """Store ``record`` unless its job has one; return what is stored and whether it is new."""
    statement = (
        _insert(session, BudgetActionRow)
        .values(asdict(record))
        .on_conflict_do_nothing(index_elements=["job_id"])
        .returning(BudgetActionRow.id)
    )
    created = session.execute(statement).first() is not None
    # Inserted now or before: the job has its record.
    return budget_actions(session, [record.job_id])[record.job_id], created


def set_budget_outcome(
    session: Session, job_id: int, outcome: BudgetOutcome, message: str | None = None
) -> None:
    """Set how carrying out job ``job_id``'s pending action went (a settled one is kept)."""
    session.execute(
        update(BudgetActionRow)
        .where(BudgetActionRow.job_id == job_id)
        .where(BudgetActionRow.outcome == BudgetOutcome.PENDING)
        .values(outcome=outcome, outcome_message=message)
    )


def budget_action(session: Session, job_id: int) -> BudgetActionRecord | None:
    """The action taken on job ``job_id`` (``jobs.id``), if any."""
    return budget_actions(session, [job_id]).get(job_id)


def budget_actions(session: Session, job_ids: Iterable[int]) -> dict[int, BudgetActionRecord]:
    """The actions taken on ``job_ids`` (``jobs.id``), by job; jobs without one are left out.

    Asked :data:`IDS_PER_QUERY` ids at a time.
    """
    wanted = list(job_ids)
    found: dict[int, BudgetActionRecord] = {}
    for first in range(0, len(wanted), IDS_PER_QUERY):
        chunk = wanted[first : first + IDS_PER_QUERY]
        rows = session.execute(select(*_COLUMNS).where(BudgetActionRow.job_id.in_(chunk)))
        found.update((row.job_id, BudgetActionRecord(*row)) for row in rows)
    return found
