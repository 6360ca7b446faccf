"""Budgets at submission on the real local cluster: job_submit.lua refuses or accepts them.

Run under the servers' lock: ``flock /tmp/slurm_carbon-servers.lock .venv/bin/pytest ...``.
"""

from __future__ import annotations

import subprocess
import time

import pytest
from sqlalchemy import select

from slurm_carbon.service.results import store_job
from slurm_carbon.slurm import CommandLineSlurm, JobQuery, SlurmJob, SubprocessRunner
from slurm_carbon.store import Session
from slurm_carbon.store.models import Job
from tests.integration.conftest import SlurmCluster

pytestmark = pytest.mark.integration

JOB_DEADLINE_S = 60
"""How long a one-second job may take to show as finished in sacct (it takes ~2-5 s)."""

BANANAS = (
    'sbatch: error: slurm_carbon: bad budget "carbon_budget=5": no unit;'
    " write e.g. carbon_budget=5kg (units g, kg, t; more than 0, at most 1000 t)"
)


def run(cluster: SlurmCluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, env=cluster.env, capture_output=True, text=True, timeout=30, check=False
    )


def finished(cluster: SlurmCluster, job_id: str) -> SlurmJob:
    client = CommandLineSlurm(SubprocessRunner(env=cluster.env))
    deadline = time.monotonic() + JOB_DEADLINE_S
    jobs: list[SlurmJob] = []
    while time.monotonic() < deadline:
        jobs = client.jobs(JobQuery(job_ids=[job_id]))
        if len(jobs) == 1 and jobs[0].finished:
            return jobs[0]
        time.sleep(0.25)
    pytest.fail(f"job {job_id} not finished after {JOB_DEADLINE_S} s: {jobs}")


def test_a_budget_without_a_unit_is_refused_at_sbatch_with_one_line(
    slurm_cluster: SlurmCluster,
) -> None:
    refused = run(slurm_cluster, "sbatch", "--comment=carbon_budget=5 bananas", "--wrap=true")

    assert refused.returncode == 1
    assert refused.stdout == ""
    assert refused.stderr.splitlines() == [
        BANANAS,
        "sbatch: error: Batch job submission failed: Unspecified error",
    ]


def test_an_accepted_budget_is_stored_in_grams_after_the_job(
    slurm_cluster: SlurmCluster, session: Session
) -> None:
    job_id = slurm_cluster.sbatch("--comment=train carbon_budget=5kg", "--wrap=true")

    job = finished(slurm_cluster, job_id)
    row_id = store_job(session, job)

    assert job.comment == "train carbon_budget=5kg"
    stored = session.execute(select(Job.budget_co2e_g).where(Job.id == row_id)).scalar_one()
    assert stored == 5000.0


def test_a_negative_budget_is_refused_by_scontrol_update(slurm_cluster: SlurmCluster) -> None:
    job_id = slurm_cluster.sbatch("--hold", "--comment=carbon_budget=5kg", "--wrap=true")
    try:
        refused = run(
            slurm_cluster, "scontrol", "update", f"jobid={job_id}", "comment=carbon_budget=-1kg"
        )
        kept = slurm_cluster.run("squeue", "-h", "-j", job_id, "-o", "%k")
        accepted = run(
            slurm_cluster, "scontrol", "update", f"jobid={job_id}", "comment=carbon_budget=2kg"
        )
        changed = slurm_cluster.run("squeue", "-h", "-j", job_id, "-o", "%k")
    finally:
        slurm_cluster.run("scancel", job_id)

    # Slurm 22.05's scontrol does not relay the plugin's message on modify (sbatch does):
    # the user sees Slurm's generic error, and the comment keeps its good budget.
    assert (refused.returncode, refused.stderr) == (1, f"Unspecified error for job {job_id}\n")
    assert kept.strip() == "carbon_budget=5kg"
    assert (accepted.returncode, accepted.stderr) == (0, "")
    assert changed.strip() == "carbon_budget=2kg"
