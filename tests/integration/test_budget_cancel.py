"""Cancelling a job on the real local cluster: what a budget's ``cancel`` action does.

Run under the servers' lock: ``flock /tmp/slurm_carbon-servers.lock .venv/bin/pytest ...``.
"""

from __future__ import annotations

import time

import pytest

from slurm_carbon.errors import SlurmJobNotFound
from slurm_carbon.slurm import CommandLineSlurm, JobQuery, SlurmJob, SubprocessRunner
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
