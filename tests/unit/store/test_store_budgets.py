"""Budget actions in the store: one per job, ever; read back per job and for many."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from slurm_carbon.store import upsert_job
from slurm_carbon.store.budgets import (
    IDS_PER_QUERY,
    BudgetActionRecord,
    budget_action,
    budget_actions,
    record_budget_action,
    set_budget_outcome,
)
from slurm_carbon.vocabulary import BudgetAction, BudgetKind, BudgetOutcome
from tests.unit.store.conftest import Ids

AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def cancel(job_id: int) -> BudgetActionRecord:
    return BudgetActionRecord(
        job_id=job_id,
        action=BudgetAction.CANCEL,
        at=AT,
        kind=BudgetKind.CO2E,
        budget=5000.0,
        forecast=7200.0,
        forecast_low=6100.0,
        forecast_high=8000.0,
        progress=0.12,
        reason="forecast 7.2kg (6.1kg-8.0kg) > budget 5kg",
    )


def test_an_action_is_recorded_once_and_a_second_is_a_no_op(session: Session, ids: Ids) -> None:
    first, created = record_budget_action(session, cancel(ids.job_id))
    notify = dataclasses.replace(cancel(ids.job_id), action=BudgetAction.NOTIFY, budget=1.0)
    second, created_again = record_budget_action(session, notify)

    assert (created, created_again) == (True, False)
    assert first == second == cancel(ids.job_id)
    assert budget_action(session, ids.job_id) == cancel(ids.job_id)


def test_the_outcome_is_set_once(session: Session, ids: Ids) -> None:
    record_budget_action(session, cancel(ids.job_id))

    set_budget_outcome(session, ids.job_id, BudgetOutcome.FAILED, "scancel: no running job 4242")
    set_budget_outcome(session, ids.job_id, BudgetOutcome.DONE)

    stored = budget_action(session, ids.job_id)
    assert stored is not None
    assert (stored.outcome, stored.outcome_message) == (
        BudgetOutcome.FAILED,
        "scancel: no running job 4242",
    )


def test_many_jobs_are_read_in_chunks(session: Session, ids: Ids) -> None:
    jobs = [upsert_job(session, ids.cluster_id, 10_000 + n).id for n in range(IDS_PER_QUERY + 2)]
    for job_id in jobs[::2]:
        record_budget_action(session, cancel(job_id))

    found = budget_actions(session, [*jobs, ids.job_id])

    assert sorted(found) == jobs[::2]
    assert budget_actions(session, []) == {}
    assert budget_action(session, ids.job_id) is None


def test_none_is_never_stored(session: Session, ids: Ids) -> None:
    with pytest.raises(IntegrityError):
        record_budget_action(
            session, dataclasses.replace(cancel(ids.job_id), action=BudgetAction.NONE)
        )
