"""store_job stores the budgets of the job's comment, read as job_submit.lua checks it."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from slurm_carbon.service.results import store_job
from slurm_carbon.store import Session
from slurm_carbon.store.models import Job
from tests.builders import slurm_job


def stored_budget(session: Session, job_id: int) -> float | None:
    return session.execute(select(Job.budget_co2e_g).where(Job.id == job_id)).scalar_one()


def stored_energy_budget(session: Session, job_id: int) -> float | None:
    return session.execute(select(Job.budget_energy_j).where(Job.id == job_id)).scalar_one()


def test_the_budgets_of_the_comment_are_stored_in_grams_and_joules(session: Session) -> None:
    job_id = store_job(
        session, slurm_job(41, comment="resnet carbon_budget=5kg energy_budget=2kWh")
    )

    assert stored_budget(session, job_id) == 5000.0
    assert stored_energy_budget(session, job_id) == 7.2e6


def test_an_energy_budget_alone_is_stored_without_a_carbon_budget(session: Session) -> None:
    job_id = store_job(session, slurm_job(44, comment="energy_budget=1.5MWh"))

    assert stored_budget(session, job_id) is None
    assert stored_energy_budget(session, job_id) == 5.4e9


def test_a_comment_without_a_budget_stores_none(session: Session) -> None:
    job_id = store_job(session, slurm_job(42, comment="no budget"))

    assert stored_budget(session, job_id) is None


def test_a_budget_the_submit_check_would_refuse_is_not_stored_and_is_logged(
    session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="slurm_carbon.service.results"):
        job_id = store_job(session, slurm_job(43, comment="carbon_budget=-1kg"))

    assert stored_budget(session, job_id) is None
    assert stored_energy_budget(session, job_id) is None
    assert 'job=43 gives no budget: bad budget "carbon_budget=-1kg"' in caplog.text
