"""End to end on the real cluster: shims -> agent (simulated GPUs) -> service -> PostgreSQL.

Ground truth comes from the simulator: ``slurm-carbon sim work`` records the
energy each GPU used while the workload ran; outside it a GPU draws its idle
power. Over the window the stored intervals cover, a GPU therefore used
``run energy + idle power x (window - run time)``.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from slurm_carbon.sensors.sim import state_path
from slurm_carbon.store import make_engine, session_factory
from slurm_carbon.store.results import find_job, job_intervals
from tests.integration.conftest import SLURM_CARBON, Rig

pytestmark = pytest.mark.integration

DEADLINE_S = 90


def ground_truth(rig: Rig, job_id: str) -> dict[str, Any]:
    truth: dict[str, Any] = json.loads((rig.work / f"run-{job_id}.json").read_text())
    return truth


def stored(rig: Rig, job_id: str) -> list[tuple[str, str, float, float, float, str, str]]:
    """(uuid, kind, start, end, energy_j, method, sharing) of every stored interval."""
    engine = make_engine(rig.service.db_url)
    try:
        with session_factory(engine)() as session:
            job = find_job(session, "sclocal", int(job_id))
            rows = [] if job is None else job_intervals(session, job.id)
    finally:
        engine.dispose()
    return [
        (
            row.device_uuid,
            str(row.kind),
            row.start.timestamp(),
            row.end.timestamp(),
            row.energy_j,
            str(row.method),
            str(row.sharing),
        )
        for row in rows
    ]


def expected_gpu_energy_j(rig: Rig, job_id: str) -> dict[str, float]:
    """What each of the job's GPUs used over the window its stored intervals cover."""
    truth = ground_truth(rig, job_id)
    rows = [row for row in stored(rig, job_id) if row[1] == "gpu"]
    expected = {}
    for gpu in truth["gpus"]:
        spans = [(start, end) for uuid, _, start, end, *_ in rows if uuid == gpu["uuid"]]
        window_s = max(end for _, end in spans) - min(start for start, _ in spans)
        state = json.loads(state_path(rig.sim_dir, gpu["minor"]).read_text())
        idle_w = state["profile"]["idle_power_w"]
        expected[gpu["uuid"]] = gpu["energy_j"] + idle_w * (window_s - truth["duration_s"])
    return expected


def gpu_energy_j(rig: Rig, job_id: str) -> dict[str, float]:
    totals: dict[str, float] = {}
    for uuid, kind, _, _, energy, *_ in stored(rig, job_id):
        if kind == "gpu":
            totals[uuid] = totals.get(uuid, 0.0) + energy
    return totals


def wait_delivered(rig: Rig, job_id: str) -> dict[str, float]:
    """Wait until the job's final intervals are stored; return energy per GPU."""
    rig.cluster.wait_for_job(job_id, fields=("JobID", "State", "ReqTRES"), filled=["ReqTRES"])
    deadline = time.monotonic() + DEADLINE_S
    measured: dict[str, float] = {}
    while time.monotonic() < deadline:
        measured = gpu_energy_j(rig, job_id)
        if measured and not rig.agent_holds(job_id):
            return measured
        time.sleep(0.5)
    pytest.fail(f"job {job_id}: not delivered in {DEADLINE_S} s: {measured}\n{rig.log_tails()}")


def gpu_limit_w(rig: Rig, minor: int) -> float:
    limit_mw: float = json.loads(state_path(rig.sim_dir, minor).read_text())["limit_mw"]
    return limit_mw / 1000


def assert_within_1_percent(measured: dict[str, float], expected: dict[str, float]) -> None:
    assert measured.keys() == expected.keys()
    for uuid, energy_j in measured.items():
        assert energy_j == pytest.approx(expected[uuid], rel=0.01), (uuid, measured, expected)


def test_gpu_job_is_measured_on_exactly_its_gpus_against_ground_truth(rig: Rig) -> None:
    job_id = rig.submit_work("--gres=gpu:2", units=6)

    measured = wait_delivered(rig, job_id)

    truth = ground_truth(rig, job_id)
    assert truth["completed"]
    assert set(measured) == {gpu["uuid"] for gpu in truth["gpus"]}
    assert len(measured) == 2
    assert_within_1_percent(measured, expected_gpu_energy_j(rig, job_id))
    rows = stored(rig, job_id)
    gpu_rows = [row for row in rows if row[1] == "gpu"]
    assert {(method, sharing) for *_, method, sharing in gpu_rows} == {("counter", "exclusive")}
    assert len(gpu_rows) >= 4  # 6 s of work in 5 s intervals: at least two per GPU
    other = {(kind, method) for _, kind, _, _, _, method, _ in rows if kind != "gpu"}
    assert other == {("cpu", "estimated"), ("dram", "estimated")}


def test_agent_sigkill_and_service_outage_lose_no_joule_and_count_none_twice(rig: Rig) -> None:
    job_id = rig.submit_work("--gres=gpu:2", units=12)
    time.sleep(4)
    rig.stop("agent", signal.SIGKILL)
    rig.service.stop()
    time.sleep(2)
    rig.start_agent()
    time.sleep(6)
    rig.service.start()

    measured = wait_delivered(rig, job_id)

    assert_within_1_percent(measured, expected_gpu_energy_j(rig, job_id))
    starts = [(uuid, start) for uuid, _, start, *_ in stored(rig, job_id)]
    assert len(starts) == len(set(starts))


def test_a_cap_is_restored_after_job_end_after_agent_crash_and_after_epilog_twice(
    rig: Rig,
) -> None:
    job_id = rig.submit_work("--gres=gpu:1", units=30)
    rig.cluster.wait_for_hooks(job_id, ["prolog"])
    calls = {c.hook: c for c in rig.cluster.hook_calls() if c.fields.get("job") == job_id}
    minor = int(calls["prolog"].fields["gpus"])
    default_w = gpu_limit_w(rig, minor)

    def cap(watts: int) -> None:
        subprocess.run(
            [SLURM_CARBON, "agent", "set-cap", "--socket", str(rig.work / "agent.sock")]
            + ["--job", job_id, "--gpu", str(minor), "--watts", str(watts)],
            check=True,
            capture_output=True,
        )
        rig.wait_for(lambda: gpu_limit_w(rig, minor) == watts, f"cap {watts} W on GPU {minor}")

    cap(150)
    rig.stop("agent", signal.SIGKILL)
    assert gpu_limit_w(rig, minor) == 150  # a crashed agent leaves the cap...
    rig.start_agent()
    rig.wait_for(lambda: gpu_limit_w(rig, minor) == default_w, "restore at agent start")

    cap(120)
    rig.cluster.run("scancel", job_id)
    rig.cluster.wait_for_job(job_id)
    rig.wait_for(lambda: gpu_limit_w(rig, minor) == default_w, "restore at job end")

    epilog = Path(__file__).resolve().parents[2] / "epilog" / "slurm-carbon-epilog"
    again = subprocess.run(
        [str(epilog)],
        env={"SLURM_JOB_ID": job_id, "SLURM_CARBON_SPOOL": str(rig.spool)},
        capture_output=True,
        timeout=10,
        check=False,
    )
    assert again.returncode == 0
    time.sleep(1)
    assert gpu_limit_w(rig, minor) == default_w
    assert rig.processes["agent"].poll() is None


def test_with_the_agent_down_jobs_run_and_the_node_stays_idle(rig: Rig) -> None:
    rig.stop("agent", signal.SIGKILL)

    job_id = rig.cluster.sbatch("--gres=gpu:2", "--wrap=true")
    rows = rig.cluster.wait_for_job(job_id)

    assert rows[0]["State"] == "COMPLETED"
    calls = rig.cluster.wait_for_hooks(job_id, ["prolog", "epilog"])
    assert calls["prolog"].fields["job"] == job_id
    state = rig.cluster.run("sinfo", "-h", "-n", rig.cluster.node_name, "-o", "%T").strip()
    assert state == "idle"
    # The hand-off waits for the agent: both files are there for it when it returns.
    assert (rig.spool / "jobs" / f"{job_id}.start").exists()
    assert (rig.spool / "jobs" / f"{job_id}.stop").exists()
