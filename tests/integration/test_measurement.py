"""End to end on the real cluster: shims -> agent (simulated GPUs) -> service -> PostgreSQL.

Ground truth comes from the simulator: ``slurm-carbon sim work`` records the
energy each GPU used while the workload ran; outside it a GPU draws its idle
power. Over the window the stored intervals cover, a GPU therefore used
``run energy + idle power x (window - run time)``.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from slurm_carbon.sensors.sim import state_path
from slurm_carbon.store import (
    Device,
    EnergyInterval,
    Job,
    issue_token,
    make_engine,
    session_factory,
)

pytestmark = pytest.mark.integration

SLURM_CARBON = str(Path(sys.executable).with_name("slurm-carbon"))
CLUSTER = "sclocal"
DEADLINE_S = 90


@dataclass
class Rig:
    """The local cluster with 4 simulated GPUs, a service and an agent of our own."""

    cluster: Any
    service: Any
    db_url: str
    work: Path
    agent: subprocess.Popen[bytes] | None = None
    agent_logs: list[Path] = field(default_factory=list)

    @property
    def sim_dir(self) -> Path:
        return self.work / "sim"

    @property
    def spool(self) -> Path:
        return Path(self.cluster.env["SLURM_CARBON_SPOOL"])

    def start_agent(self) -> None:
        assert self.agent is None or self.agent.poll() is not None
        log = self.work / f"agent-{len(self.agent_logs)}.log"
        self.agent_logs.append(log)
        with log.open("wb") as output:
            self.agent = subprocess.Popen(
                [SLURM_CARBON, "agent", "run", "--spool", str(self.spool)]
                + ["--state", str(self.work / "agent"), "--service-url", self.service.url]
                + ["--token-file", str(self.work / "token"), "--cluster", CLUSTER]
                + ["--node", self.cluster.node_name, "--gpu-backend", "sim"]
                + ["--sim-dir", str(self.sim_dir), "--sample-s", "0.2", "--interval-s", "5"]
                + ["--tdp-w", "100", "--log-level", "DEBUG"],
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        # Energy before an agent's first reading of a GPU cannot be known: start jobs after it.
        wait_for(lambda: self._gpus_read() == 4, "agent's first reading of the 4 GPUs", self)

    def _gpus_read(self) -> int:
        try:
            with sqlite3.connect(self.work / "agent" / "agent.db") as spool:
                query = "SELECT count(*) FROM reading WHERE device LIKE 'GPU-%'"
                return int(spool.execute(query).fetchone()[0])
        except sqlite3.OperationalError:  # not created yet
            return 0

    def kill_agent(self, sig: signal.Signals = signal.SIGKILL) -> None:
        assert self.agent is not None
        self.agent.send_signal(sig)
        self.agent.wait(timeout=30)

    def logs(self) -> str:
        return "\n".join(f"--- {log}\n{log.read_text()[-3000:]}" for log in self.agent_logs)

    def submit_work(self, gpus: int, units: float) -> str:
        return self.cluster.sbatch(
            f"--gres=gpu:{gpus}",
            f"--wrap={SLURM_CARBON} sim work --dir {self.sim_dir} --units {units}"
            f" --tick 0.05 --result {self.work}/run-$SLURM_JOB_ID.json",
        )

    def ground_truth(self, job_id: str) -> dict[str, Any]:
        return json.loads((self.work / f"run-{job_id}.json").read_text())

    def stored(self, job_id: str) -> list[tuple[str, str, float, float, float, str, str]]:
        """(uuid, kind, start, end, energy_j, method, sharing) of every stored interval."""
        engine = make_engine(self.db_url)
        try:
            with session_factory(engine)() as session:
                rows = session.execute(
                    select(
                        Device.uuid,
                        Device.kind,
                        EnergyInterval.interval_start,
                        EnergyInterval.interval_end,
                        EnergyInterval.energy_j,
                        EnergyInterval.method,
                        EnergyInterval.sharing,
                    )
                    .join(Device, EnergyInterval.device_id == Device.id)
                    .join(Job, EnergyInterval.job_id == Job.id)
                    .where(Job.slurm_job_id == int(job_id))
                ).all()
        finally:
            engine.dispose()
        return [
            (uuid, str(kind), start.timestamp(), end.timestamp(), energy, str(method), str(share))
            for uuid, kind, start, end, energy, method, share in rows
        ]

    def expected_gpu_energy_j(self, job_id: str) -> dict[str, float]:
        """What each of the job's GPUs used over the window its stored intervals cover."""
        truth = self.ground_truth(job_id)
        rows = [row for row in self.stored(job_id) if row[1] == "gpu"]
        expected = {}
        for gpu in truth["gpus"]:
            spans = [(start, end) for uuid, _, start, end, *_ in rows if uuid == gpu["uuid"]]
            window_s = max(end for _, end in spans) - min(start for start, _ in spans)
            idle_w = json.loads(state_path(self.sim_dir, gpu["minor"]).read_text())["profile"][
                "idle_power_w"
            ]
            expected[gpu["uuid"]] = gpu["energy_j"] + idle_w * (window_s - truth["duration_s"])
        return expected

    def gpu_energy_j(self, job_id: str) -> dict[str, float]:
        totals: dict[str, float] = {}
        for uuid, kind, _, _, energy, *_ in self.stored(job_id):
            if kind == "gpu":
                totals[uuid] = totals.get(uuid, 0.0) + energy
        return totals

    def wait_delivered(self, job_id: str) -> dict[str, float]:
        """Wait until the job's final intervals are stored; return energy per GPU."""
        self.cluster.wait_for_job(job_id, fields=("JobID", "State", "ReqTRES"), filled=["ReqTRES"])
        deadline = time.monotonic() + DEADLINE_S
        measured: dict[str, float] = {}
        while time.monotonic() < deadline:
            measured = self.gpu_energy_j(job_id)
            if measured and not self._outbox_or_job_left(job_id):
                return measured
            time.sleep(0.5)
        pytest.fail(
            f"job {job_id}: not all delivered after {DEADLINE_S} s: {measured}\n{self.logs()}"
        )

    def _outbox_or_job_left(self, job_id: str) -> bool:
        """Whether the agent still tracks the job or holds intervals it has not shipped."""
        jobs = self.spool / "jobs"
        if (jobs / f"{job_id}.start").exists() or (jobs / f"{job_id}.stop").exists():
            return True
        with sqlite3.connect(self.work / "agent" / "agent.db") as spool:
            return bool(spool.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def gpu_limit_w(self, minor: int) -> float:
        return json.loads(state_path(self.sim_dir, minor).read_text())["limit_mw"] / 1000


@pytest.fixture
def rig(slurm_cluster: Any, service_process: Any, tmp_path: Path) -> Iterator[Rig]:
    run = lambda *args: subprocess.run([SLURM_CARBON, *args], check=True, capture_output=True)  # noqa: E731
    run("sim", "init", "--dir", str(tmp_path / "sim"), "--gpus", "4")
    engine = make_engine(service_process.db_url)
    try:
        with session_factory(engine).begin() as session:
            token = issue_token(session, CLUSTER, slurm_cluster.node_name)
    finally:
        engine.dispose()
    (tmp_path / "token").write_text(token + "\n")
    (tmp_path / "token").chmod(0o600)
    # Hand-off files of earlier sessions' jobs are not ours to account.
    for old in (Path(slurm_cluster.env["SLURM_CARBON_SPOOL"]) / "jobs").glob("*"):
        old.unlink()
    rig = Rig(slurm_cluster, service_process, service_process.db_url, tmp_path)
    rig.start_agent()
    try:
        yield rig
    finally:
        if rig.agent is not None and rig.agent.poll() is None:
            rig.kill_agent(signal.SIGTERM)


def assert_within_1_percent(measured: dict[str, float], expected: dict[str, float]) -> None:
    assert measured.keys() == expected.keys()
    for uuid, energy_j in measured.items():
        assert energy_j == pytest.approx(expected[uuid], rel=0.01), (uuid, measured, expected)


def test_gpu_job_is_measured_on_exactly_its_gpus_against_ground_truth(rig: Rig) -> None:
    job_id = rig.submit_work(gpus=2, units=6)

    measured = rig.wait_delivered(job_id)

    truth = rig.ground_truth(job_id)
    assert truth["completed"]
    assert set(measured) == {gpu["uuid"] for gpu in truth["gpus"]}
    assert len(measured) == 2
    assert_within_1_percent(measured, rig.expected_gpu_energy_j(job_id))
    rows = rig.stored(job_id)
    gpu_rows = [row for row in rows if row[1] == "gpu"]
    assert {(method, sharing) for *_, method, sharing in gpu_rows} == {("counter", "exclusive")}
    assert len(gpu_rows) >= 4  # 6 s of work in 5 s intervals: at least two per GPU
    other = {(kind, method) for _, kind, _, _, _, method, _ in rows if kind != "gpu"}
    assert other == {("cpu", "estimated"), ("dram", "estimated")}


def test_agent_sigkill_and_service_outage_lose_no_joule_and_count_none_twice(rig: Rig) -> None:
    job_id = rig.submit_work(gpus=2, units=12)
    time.sleep(4)
    rig.kill_agent()
    rig.service.stop()
    time.sleep(2)
    rig.start_agent()
    time.sleep(6)
    rig.service.start()

    measured = rig.wait_delivered(job_id)

    assert_within_1_percent(measured, rig.expected_gpu_energy_j(job_id))
    starts = [(uuid, start) for uuid, _, start, *_ in rig.stored(job_id)]
    assert len(starts) == len(set(starts))


def test_a_cap_is_restored_after_job_end_after_agent_crash_and_after_epilog_twice(
    rig: Rig,
) -> None:
    job_id = rig.submit_work(gpus=1, units=30)
    rig.cluster.wait_for_hooks(job_id, ["prolog"])
    calls = {c.hook: c for c in rig.cluster.hook_calls() if c.fields.get("job") == job_id}
    minor = int(calls["prolog"].fields["gpus"])
    default_w = rig.gpu_limit_w(minor)

    def cap(watts: int) -> None:
        subprocess.run(
            [SLURM_CARBON, "agent", "set-cap", "--spool", str(rig.spool)]
            + ["--job", job_id, "--gpu", str(minor), "--watts", str(watts)],
            check=True,
            capture_output=True,
        )
        wait_for(lambda: rig.gpu_limit_w(minor) == watts, f"cap {watts} W on GPU {minor}", rig)

    cap(150)
    rig.kill_agent()
    assert rig.gpu_limit_w(minor) == 150  # a crashed agent leaves the cap...
    rig.start_agent()
    wait_for(lambda: rig.gpu_limit_w(minor) == default_w, "restore at agent start", rig)

    cap(120)
    rig.cluster.run("scancel", job_id)
    rig.cluster.wait_for_job(job_id)
    wait_for(lambda: rig.gpu_limit_w(minor) == default_w, "restore at job end", rig)

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
    assert rig.gpu_limit_w(minor) == default_w
    assert rig.agent is not None
    assert rig.agent.poll() is None


def test_with_the_agent_down_jobs_run_and_the_node_stays_idle(rig: Rig) -> None:
    rig.kill_agent()

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


def wait_for(condition: Any, what: str, rig: Rig, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not after {timeout_s} s\n{rig.logs()}")
        time.sleep(0.1)
