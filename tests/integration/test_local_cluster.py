"""Smoke tests of the private Slurm cluster that deploy/local/cluster runs.

They check the Slurm behaviour the rest of slurm_carbon builds on: fake GPUs are
allocated and accounted, array tasks are separate jobs, the hook shims run with the
job's GPUs, job_submit.lua sees the comment, and AdminComment can be written after
the job ended.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # the fixture's type; test modules import nothing from conftest at run time
    from tests.integration.conftest import SlurmCluster


pytestmark = pytest.mark.integration


def tres(text: str) -> dict[str, str]:
    """``cpu=1,gres/gpu=2,...`` as a dict."""
    return dict(item.split("=", 1) for item in text.split(",") if item)


def test_gpu_job_completes_with_gpus_accounted(slurm_cluster: SlurmCluster) -> None:
    job_id = slurm_cluster.sbatch("--gres=gpu:2", "--wrap", "sleep 1")

    [row] = slurm_cluster.wait_for_job(
        job_id,
        fields=("JobID", "State", "ExitCode", "AllocTRES", "ReqTRES"),
        filled=("AllocTRES", "ReqTRES"),
    )

    assert (row["JobID"], row["State"], row["ExitCode"]) == (job_id, "COMPLETED", "0:0")
    assert tres(row["AllocTRES"])["gres/gpu"] == "2"
    assert tres(row["ReqTRES"])["gres/gpu"] == "2"
    assert tres(row["AllocTRES"])["cpu"] == "1"


def test_array_job_has_one_row_per_task(slurm_cluster: SlurmCluster) -> None:
    array_id = slurm_cluster.sbatch("--array=0-2", "--wrap", "true")

    rows = slurm_cluster.wait_for_job(array_id, tasks=3)

    assert sorted(row["JobID"] for row in rows) == [f"{array_id}_{task}" for task in range(3)]
    assert {row["State"] for row in rows} == {"COMPLETED"}


def test_hooks_log_prolog_and_epilogs_with_the_jobs_gpus(slurm_cluster: SlurmCluster) -> None:
    comment = f"carbon_budget=5kg smoke {uuid.uuid4().hex[:8]}"
    job_id = slurm_cluster.sbatch("--gres=gpu:2", "--comment", comment, "--wrap", "exit 3")
    slurm_cluster.wait_for_job(job_id)

    calls = slurm_cluster.wait_for_hooks(job_id, ("prolog", "epilog", "epilog-slurmctld"))

    for hook in ("prolog", "epilog"):
        gpus = calls[hook].fields["gpus"].split(",")
        assert len(gpus) == 2, calls[hook]
        assert set(gpus) <= {"0", "1", "2", "3"}
        assert calls[hook].fields["cuda"] == calls[hook].fields["gpus"]
    ctld = calls["epilog-slurmctld"].fields
    assert ctld["exit"] == "3:0"
    assert ctld["array_job"] == ""
    assert ctld["comment"] == comment


def test_slurmctld_epilog_sees_array_ids(slurm_cluster: SlurmCluster) -> None:
    array_id = slurm_cluster.sbatch("--array=0-1", "--wrap", "true")
    rows = slurm_cluster.wait_for_job(array_id, tasks=2, fields=("JobID", "State", "JobIDRaw"))
    task_job_ids = {row["JobID"].split("_")[1]: row["JobIDRaw"] for row in rows}

    for task, raw_id in task_job_ids.items():
        call = slurm_cluster.wait_for_hooks(raw_id, ("epilog-slurmctld",))["epilog-slurmctld"]
        assert (call.fields["array_job"], call.fields["array_task"]) == (array_id, task)


def test_job_submit_lua_logs_the_comment(slurm_cluster: SlurmCluster) -> None:
    comment = f"carbon_budget=1kg lua {uuid.uuid4().hex[:8]}"
    job_id = slurm_cluster.sbatch("--hold", "--comment", comment, "--wrap", "true")
    slurm_cluster.run("scancel", job_id)
    log = slurm_cluster.state_dir / "log" / "slurmctld.log"

    assert f"slurm_carbon: submit uid=0 comment={comment}" in log.read_text()


def test_admin_comment_written_after_job_end_is_visible(slurm_cluster: SlurmCluster) -> None:
    job_id = slurm_cluster.sbatch("--wrap", "true")
    [row] = slurm_cluster.wait_for_job(job_id, fields=("JobID", "State", "End"))
    assert row["End"].isdigit()
    payload = f"sc1:co2e_g=812.4;kwh=2.13;ci=381;pue=1.35;q=meas;t={job_id}"

    slurm_cluster.run(
        "sacctmgr", "-i", "modify", "job", "where", f"jobid={job_id}", "set",
        f"AdminComment={payload}",
    )  # fmt: skip

    [after] = slurm_cluster.sacct(job_id, ("JobID", "AdminComment"))
    assert after["AdminComment"] == payload


def test_second_start_is_quick_and_keeps_the_daemons(slurm_cluster: SlurmCluster) -> None:
    pid_files = sorted((slurm_cluster.state_dir / "run").glob("*.pid"))
    before = {path.name: path.read_text() for path in pid_files}
    began = time.monotonic()

    again = slurm_cluster.cluster_script("start")

    assert again.returncode == 0, again.stderr
    assert time.monotonic() - began < 5
    assert "starting" not in again.stdout
    assert {path.name: path.read_text() for path in pid_files} == before
    assert set(before) == {
        f"{d}.pid" for d in ("munged", "mysqld", "slurmdbd", "slurmctld", "slurmd")
    }


def test_status_reports_every_daemon_running(slurm_cluster: SlurmCluster) -> None:
    status = slurm_cluster.cluster_script("status")

    assert status.returncode == 0, status.stdout
    states = dict(line.split(None, 1) for line in status.stdout.splitlines())
    for daemon in ("munged", "mysqld", "slurmdbd", "slurmctld", "slurmd"):
        assert states[daemon].startswith("running (pid "), status.stdout
    assert states[slurm_cluster.node_name] in {"idle", "mixed", "allocated"}


def test_node_is_idle_after_the_jobs(slurm_cluster: SlurmCluster) -> None:
    # Last in the module: every job above has ended and none drained the node.
    slurm_cluster.run("scancel", "--user=root", "--state=PENDING")
    deadline = time.monotonic() + 30
    state = ""
    while time.monotonic() < deadline:
        state = slurm_cluster.run("sinfo", "-h", "-N", "-n", slurm_cluster.node_name, "-o", "%T")
        if state.strip() == "idle":
            break
        time.sleep(0.5)
    assert state.strip() == "idle"
    reason = slurm_cluster.run("sinfo", "-h", "-N", "-n", slurm_cluster.node_name, "-o", "%E")
    assert reason.strip() == "none"
