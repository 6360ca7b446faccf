"""job_budgets: the budgets stored from a job's comment (both databases)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from slurm_carbon.service.results import store_job
from slurm_carbon.store.forecast_inputs import StoredBudgets, job_budgets
from tests.builders import slurm_job


def test_the_budgets_given_and_none_for_a_job_without(session: Session) -> None:
    given = store_job(session, slurm_job(5, comment="carbon_budget=5kg energy_budget=2kWh"))
    without = store_job(session, slurm_job(6, comment=""))

    assert job_budgets(session, given) == StoredBudgets(5000.0, 7.2e6)
    assert job_budgets(session, without) == StoredBudgets()
    assert job_budgets(session, given + without + 1) == StoredBudgets()
