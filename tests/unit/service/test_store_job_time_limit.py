"""store_job stores the job's time limit, in seconds, as sacct gives it."""

from __future__ import annotations

from sqlalchemy import select

from slurm_carbon.service.results import store_job
from slurm_carbon.store import Session
from slurm_carbon.store.models import Job
from tests.builders import slurm_job


def stored_time_limit(session: Session, job_id: int) -> float | None:
    return session.execute(select(Job.time_limit_s).where(Job.id == job_id)).scalar_one()


def test_the_time_limit_is_stored_in_seconds(session: Session) -> None:
    job_id = store_job(session, slurm_job(51, time_limit_s=300.0))

    assert stored_time_limit(session, job_id) == 300.0


def test_an_unlimited_job_stores_none(session: Session) -> None:
    job_id = store_job(session, slurm_job(52, time_limit_s=None))

    assert stored_time_limit(session, job_id) is None
