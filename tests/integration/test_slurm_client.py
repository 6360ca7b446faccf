"""The command-line Slurm client against the real local cluster."""

from __future__ import annotations

import subprocess
import time

import pytest

from slurm_carbon.errors import SlurmError, SlurmJobNotFound
from slurm_carbon.slurm import CommandLineSlurm, JobQuery, SlurmJob, SubprocessRunner
from tests.integration.conftest import SlurmCluster

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client(slurm_cluster: SlurmCluster) -> CommandLineSlurm:
    return CommandLineSlurm(SubprocessRunner(env=slurm_cluster.env))


def wait_finished(client: CommandLineSlurm, job_id: str, tasks: int = 1) -> list[SlurmJob]:
    deadline = time.monotonic() + 60
    jobs: list[SlurmJob] = []
    while time.monotonic() < deadline:
        jobs = client.jobs(JobQuery(job_ids=[job_id]))
        if len(jobs) == tasks and all(job.finished for job in jobs):
            return jobs
        time.sleep(0.25)
    pytest.fail(f"job {job_id} not finished after 60 s: {jobs}")


def test_gpu_job_is_read_back_with_its_fields(client: CommandLineSlurm) -> None:
    job_id = client.submit(
        ["--gres=gpu:2", "-J", "train|resnet 50", "--comment=carbon_budget=5kg", "--wrap=sleep 1"]
    )

    (job,) = wait_finished(client, job_id)

    assert job.job_id == job_id
    assert job.job_id_raw == int(job_id)
    assert job.name == "train|resnet 50"
    assert job.state == "COMPLETED"
    assert job.exit_code == "0:0"
    assert (job.req_gpus, job.alloc_gpus) == (2, 2)
    assert job.comment == "carbon_budget=5kg"
    assert job.user == "root"
    assert job.partition == "debug"
    assert job.start_time is not None
    assert job.end_time is not None
    assert job.submit_time <= job.start_time <= job.end_time
    assert job.elapsed_s >= 1


def test_time_limits_are_read_back_in_seconds(client: CommandLineSlurm) -> None:
    limited = client.submit(["--time=5", "--wrap=true"])
    unlimited = client.submit(["--wrap=true"])  # the partition's MaxTime is INFINITE

    (five,) = wait_finished(client, limited)
    (none,) = wait_finished(client, unlimited)

    assert (five.time_limit_s, none.time_limit_s) == (300.0, None)


def test_array_tasks_are_read_back_each(client: CommandLineSlurm) -> None:
    array_id = client.submit(["--array=0-2", "--wrap=true"])

    tasks = wait_finished(client, array_id, tasks=3)

    assert sorted(t.job_id for t in tasks) == [f"{array_id}_{i}" for i in range(3)]
    assert {t.array_job_id for t in tasks} == {int(array_id)}
    assert sorted(t.array_task_id or 0 for t in tasks) == [0, 1, 2]
    assert len({t.job_id_raw for t in tasks}) == 3


def test_admin_comment_of_finished_array_task_is_read_back(client: CommandLineSlurm) -> None:
    array_id = client.submit(["--array=0-1", "--wrap=true"])
    wait_finished(client, array_id, tasks=2)

    client.set_admin_comment(f"{array_id}_1", "sc1:co2e_g=812.4;kwh=2.13", finished=True)

    comments = {t.job_id: t.admin_comment for t in client.jobs(JobQuery(job_ids=[array_id]))}
    assert comments == {f"{array_id}_0": "", f"{array_id}_1": "sc1:co2e_g=812.4;kwh=2.13"}


def test_admin_comment_of_running_job_keeps_its_case(
    client: CommandLineSlurm, slurm_cluster: SlurmCluster
) -> None:
    job_id = client.submit(["--wrap=sleep 30"])
    try:
        client.set_admin_comment(job_id, "Live:CO2e_g=1.5", finished=False)
        # slurmctld holds it while the job runs; accounting gets it when the job ends.
        assert client.running_admin_comment(job_id) == "Live:CO2e_g=1.5"
    finally:
        slurm_cluster.run("scancel", job_id)
    (job,) = wait_finished(client, job_id)
    assert job.state == "CANCELLED"
    assert job.admin_comment == "Live:CO2e_g=1.5"


def test_errors_carry_slurms_words(client: CommandLineSlurm) -> None:
    with pytest.raises(SlurmJobNotFound):
        client.set_admin_comment("999999", "x", finished=True)
    with pytest.raises(SlurmJobNotFound, match="Invalid job id"):
        client.set_admin_comment("999999", "x", finished=False)
    with pytest.raises(
        SlurmError, match=r"sbatch failed: .*Requested node configuration is not available"
    ):
        client.submit(["--gres=gpu:9", "--wrap=true"])


HOSTILE_COMMENT = "x\x1fops-approved=yes"


def test_job_submit_lua_refuses_a_comment_with_a_control_character(
    slurm_cluster: SlurmCluster,
) -> None:
    refused = subprocess.run(
        ["sbatch", f"--comment={HOSTILE_COMMENT}", "--wrap=true"],
        env=slurm_cluster.env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert refused.returncode == 1
    assert refused.stderr.splitlines()[0] == (
        "sbatch: error: slurm_carbon: the comment holds a control character"
        " (byte 0x1f at 2); use printable text only"
    )
    job_id = slurm_cluster.sbatch("--hold", "--comment=fine", "--wrap=true")
    try:
        modified = subprocess.run(
            ["scontrol", "update", f"jobid={job_id}", f"comment={HOSTILE_COMMENT}"],
            env=slurm_cluster.env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        shown = slurm_cluster.run("squeue", "-h", "-j", job_id, "-O", "comment:0")
    finally:
        slurm_cluster.run("scancel", job_id)
    assert modified.returncode == 1
    assert shown.strip() == "fine"


def test_user_and_foreign_text_cannot_move_a_field(
    client: CommandLineSlurm, slurm_cluster: SlurmCluster
) -> None:
    # Job names and AdminComments do not pass job_submit.lua's check: the parser holds alone.
    name = "n\x1fops-approved=yes\nsclocal\x1f1\x1f1\x1froot"
    held = "Foreign\x1fa b\n   AdminComment=forged"
    job_id = client.submit([f"--job-name={name}", "--comment=budget", "--wrap=sleep 30"])
    try:
        deadline = time.monotonic() + 30
        while [j.state for j in client.jobs(JobQuery(job_ids=[job_id]))] != ["RUNNING"]:
            assert time.monotonic() < deadline, f"job {job_id} did not start"
            time.sleep(0.25)
        client.set_admin_comment(job_id, held.replace("\n", " "), finished=False)
        slurm_cluster.run("scontrol", "update", f"jobid={job_id}", f"AdminComment={held}")
        assert client.running_admin_comment(job_id) == held
    finally:
        slurm_cluster.run("scancel", job_id)

    (job,) = wait_finished(client, job_id)

    assert (job.job_id, job.name, job.comment) == (job_id, name, "budget")
    assert job.admin_comment == held
    assert (job.state, job.partition, job.user) == ("CANCELLED", "debug", "root")


def test_queued_array_records_and_tasks_are_read_with_their_comments(
    client: CommandLineSlurm, slurm_cluster: SlurmCluster
) -> None:
    """sacct 22.05 lists a queued job's comment empty; squeue's, matched by raw id, fills it."""
    later = client.submit(
        ["--array=0-1", "--begin=now+600", "--comment=carbon_budget=5kg", "--wrap=true"]
    )
    running = client.submit(["--array=0-1", "--comment=carbon_budget=6kg", "--wrap=sleep 30"])
    try:
        deadline = time.monotonic() + 30
        tasks = client.jobs(JobQuery(job_ids=[running]))
        while [job.state for job in tasks] != ["RUNNING"] * 2 and time.monotonic() < deadline:
            time.sleep(0.25)
            tasks = client.jobs(JobQuery(job_ids=[running]))
        pending = client.jobs(JobQuery(job_ids=[later]))
    finally:
        slurm_cluster.run("scancel", later, running)

    assert [(job.job_id, job.state, job.comment) for job in pending] == [
        (f"{later}_[0-1]", "PENDING", "carbon_budget=5kg")
    ]
    assert sorted((job.job_id, job.state, job.comment) for job in tasks) == [
        (f"{running}_{task}", "RUNNING", "carbon_budget=6kg") for task in range(2)
    ]
