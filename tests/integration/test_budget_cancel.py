"""Cancelling a job on the real local cluster: what a budget's ``cancel`` action does.

Run under the servers' lock: ``flock /tmp/slurm_carbon-servers.lock .venv/bin/pytest ...``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection
from sqlalchemy.orm import Session, sessionmaker

from slurm_carbon.config import BudgetsConfig
from slurm_carbon.errors import SlurmJobNotFound
from slurm_carbon.service.budgets import BudgetReviewer
from slurm_carbon.service.job_forecast import JobForecast
from slurm_carbon.service.results import store_job
from slurm_carbon.slurm import CommandLineSlurm, JobQuery, SlurmJob, SubprocessRunner
from slurm_carbon.store import budget_action
from slurm_carbon.vocabulary import BudgetAction, BudgetOutcome
from tests.integration.conftest import SlurmCluster

pytestmark = pytest.mark.integration

JOB_DEADLINE_S = 60
"""How long a job may take to start, or to show as ended in sacct (both take ~2-5 s)."""


def wait_for(client: CommandLineSlurm, job_id: str, state: str) -> SlurmJob:
    deadline = time.monotonic() + JOB_DEADLINE_S
    jobs: list[SlurmJob] = []
    while time.monotonic() < deadline:
        jobs = client.jobs(JobQuery(job_ids=[job_id]))
        if len(jobs) == 1 and jobs[0].state == state:
            return jobs[0]
        time.sleep(0.25)
    pytest.fail(f"job {job_id} not {state} after {JOB_DEADLINE_S} s: {jobs}")


def test_cancel_ends_a_running_job_cancelled(slurm_cluster: SlurmCluster) -> None:
    client = CommandLineSlurm(SubprocessRunner(env=slurm_cluster.env))
    job_id = client.submit(["--comment=carbon_budget=1g", "--wrap=sleep 300"])
    wait_for(client, job_id, "RUNNING")

    client.cancel(job_id, "forecast 5 kg over budget 1 g")

    job = wait_for(client, job_id, "CANCELLED")
    assert job.end_time is not None
    assert job.elapsed_s < JOB_DEADLINE_S  # it did not run its 300 s
    with pytest.raises(SlurmJobNotFound, match=f"no running job {job_id}"):
        client.cancel(job_id, "again")


def test_cancel_of_a_job_that_is_not_there_is_not_found(slurm_cluster: SlurmCluster) -> None:
    client = CommandLineSlurm(SubprocessRunner(env=slurm_cluster.env))

    with pytest.raises(SlurmJobNotFound, match="Invalid job id"):
        client.cancel("4000000000", "test")


def test_a_job_far_over_its_budget_is_cancelled_once_with_the_reason_stored(
    slurm_cluster: SlurmCluster, session: Session, request: pytest.FixtureRequest
) -> None:
    client = CommandLineSlurm(SubprocessRunner(env=slurm_cluster.env))
    job_id = client.submit(["--comment=carbon_budget=1g", "--wrap=sleep 300"])
    job = wait_for(client, job_id, "RUNNING")
    request.addfinalizer(lambda: slurm_cluster.run("scancel", job_id))
    # sacct 22.05 lists a running job's comment empty: the client reads it from squeue.
    assert job.comment == "carbon_budget=1g"
    row_id = store_job(session, job)
    session.commit()  # the SAVEPOINT: the reviewer's sessions see the job
    connection = session.get_bind()
    assert isinstance(connection, Connection)
    sessions = sessionmaker(bind=connection, join_transaction_mode="create_savepoint")
    now = datetime.now(UTC)
    forecast = JobForecast(
        at=now,
        progress=0.5,
        method="observed",
        energy_so_far_j=3.6e6,
        co2e_so_far_g=400.0,
        remaining_energy_j=3.6e6,
        remaining_energy_low_j=3.0e6,
        remaining_energy_high_j=4.0e6,
        remaining_co2e_g=400.0,
        remaining_co2e_low_g=300.0,
        remaining_co2e_high_g=500.0,
        end_time=None,
        ci_source="test",
    )
    reviewer = BudgetReviewer(sessions, client, BudgetsConfig(action="cancel"))

    assert reviewer.review(job, forecast, now) is None
    assert reviewer.review(job, forecast, now) is None  # recorded: not again

    assert wait_for(client, job_id, "CANCELLED").elapsed_s < JOB_DEADLINE_S
    stored = budget_action(session, row_id)
    assert stored is not None
    assert (stored.action, stored.outcome, stored.budget) == (
        BudgetAction.CANCEL,
        BudgetOutcome.DONE,
        1.0,
    )
    assert stored.reason.endswith("exceeds the co2e budget 1.00 g")
