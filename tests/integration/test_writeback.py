"""End to end on the real cluster: a job's result, computed and written into its AdminComment.

Simulated GPUs -> agent -> service -> PostgreSQL; EpilogSlurmctld hands the
ended job to ``slurm-carbon writer`` (its own process, region SE with the
embedded annual figure, PUE 1.2), which writes with sacctmgr once sacct's
record is final. Everything is read back through sacct.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from slurm_carbon.intensity.embedded import EmbeddedAnnual
from slurm_carbon.store import (
    CommentWrite,
    CommentWriteState,
    EnergyInterval,
    Job,
    JobResult,
    issue_token,
    make_engine,
    session_factory,
)

pytestmark = [
    pytest.mark.integration,
    # The store's two backends, with the service and the writer as separate processes.
    pytest.mark.parametrize("service_process", ["sqlite", "postgresql"], indirect=True),
]

SLURM_CARBON = str(Path(sys.executable).with_name("slurm-carbon"))
CLUSTER = "sclocal"
REGION, PUE = "SE", 1.2
DEADLINE_S = 120


@dataclass
class Stored:
    """What the database holds for one job."""

    energy_j: list[float]
    result: JobResult | None
    write: CommentWrite | None


@dataclass
class Rig:
    """The local cluster, 4 simulated GPUs, the service, an agent and the writer."""

    cluster: Any
    db_url: str
    service_url: str
    work: Path
    agent: subprocess.Popen[bytes] | None = None
    writer: subprocess.Popen[bytes] | None = None
    logs: list[Path] = field(default_factory=list)

    @property
    def spool(self) -> Path:
        return Path(self.cluster.env["SLURM_CARBON_SPOOL"])

    def _start(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = self.work / f"{name}-{len(self.logs)}.log"
        self.logs.append(log)
        with log.open("wb") as output:
            return subprocess.Popen(
                [SLURM_CARBON, *args], stdout=output, stderr=subprocess.STDOUT, env=self.cluster.env
            )

    def start_agent(self) -> None:
        self.agent = self._start(
            "agent",
            ["agent", "run", "--spool", str(self.spool), "--state", str(self.work / "agent")]
            + ["--service-url", self.service_url, "--token-file", str(self.work / "token")]
            + ["--cluster", CLUSTER, "--node", self.cluster.node_name, "--gpu-backend", "sim"]
            + ["--sim-dir", str(self.work / "sim"), "--sample-s", "0.2", "--interval-s", "5"]
            + ["--tdp-w", "100"],
        )
        wait_for(lambda: self._gpus_read() == 4, "agent's first reading of the 4 GPUs", self)

    def _gpus_read(self) -> int:
        try:
            with sqlite3.connect(self.work / "agent" / "agent.db") as spool:
                query = "SELECT count(*) FROM reading WHERE device LIKE 'GPU-%'"
                return int(spool.execute(query).fetchone()[0])
        except sqlite3.OperationalError:
            return 0

    def start_writer(self) -> None:
        self.writer = self._start(
            "writer",
            ["writer", "--url", self.db_url, "--spool", str(self.spool)]
            + ["--region", REGION, "--pue", str(PUE), "--poll-s", "0.5", "--sweep-s", "2"]
            + ["--settle-delay-s", "8", "--log-level", "DEBUG"],
        )

    @staticmethod
    def stop(process: subprocess.Popen[bytes] | None) -> None:
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def log_tails(self) -> str:
        return "\n".join(f"--- {log}\n{log.read_text()[-3000:]}" for log in self.logs)

    def submit_work(self, *sbatch: str, units: float = 4) -> str:
        return self.cluster.sbatch(
            *sbatch,
            f"--wrap={SLURM_CARBON} sim work --dir {self.work / 'sim'} --units {units} --tick 0.05",
        )

    def stored(self, raw_id: int) -> Stored:
        engine = make_engine(self.db_url)
        try:
            with session_factory(engine)() as session:
                job = session.execute(
                    select(Job).where(Job.slurm_job_id == raw_id)
                ).scalar_one_or_none()
                if job is None:
                    return Stored([], None, None)
                energy = session.execute(
                    select(EnergyInterval.energy_j).where(EnergyInterval.job_id == job.id)
                ).scalars()
                result = session.execute(
                    select(JobResult).where(JobResult.job_id == job.id)
                ).scalar_one_or_none()
                write = session.execute(
                    select(CommentWrite).where(CommentWrite.job_id == job.id)
                ).scalar_one_or_none()
                return Stored(list(energy), result, write)
        finally:
            engine.dispose()

    def raw_ids(self, job_id: str, tasks: int = 1) -> dict[str, int]:
        """Slurm's job id (``7_1`` for a task) -> raw id, once all rows are final."""
        rows = self.cluster.wait_for_job(
            job_id,
            tasks=tasks,
            fields=("JobID", "JobIDRaw", "State", "ReqTRES"),
            filled=["ReqTRES"],
        )
        return {row["JobID"]: int(row["JobIDRaw"]) for row in rows}

    def wait_written(self, raw_id: int) -> Stored:
        """Until the job's comment is written from a result that accounts all its energy."""
        deadline = time.monotonic() + DEADLINE_S
        stored = self.stored(raw_id)
        while time.monotonic() < deadline:
            stored = self.stored(raw_id)
            if (
                stored.write is not None
                and stored.write.state == CommentWriteState.WRITTEN
                and stored.result is not None
                and not self.agent_holds(raw_id)
                and total_j(stored.result) == pytest.approx(sum(stored.energy_j), rel=1e-9)
            ):
                return stored
            time.sleep(0.5)
        pytest.fail(
            f"job {raw_id}: no comment written after {DEADLINE_S} s: {stored}\n{self.log_tails()}"
        )

    def agent_holds(self, raw_id: int) -> bool:
        jobs = self.spool / "jobs"
        if (jobs / f"{raw_id}.start").exists() or (jobs / f"{raw_id}.stop").exists():
            return True
        with sqlite3.connect(self.work / "agent" / "agent.db") as spool:
            return bool(spool.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def admin_comment(self, job_id: str) -> str:
        rows = self.cluster.sacct(job_id, ["JobID", "AdminComment"])
        return next(row["AdminComment"] for row in rows if row["JobID"] == job_id)


def total_j(result: JobResult) -> float:
    return result.gpu_energy_j + result.cpu_energy_j + result.dram_energy_j


def wait_for(condition: Callable[[], bool], what: str, rig: Rig, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not after {timeout_s} s\n{rig.log_tails()}")
        time.sleep(0.2)


@pytest.fixture
def rig(slurm_cluster: Any, service_process: Any, tmp_path: Path) -> Iterator[Rig]:
    subprocess.run(
        [SLURM_CARBON, "sim", "init", "--dir", str(tmp_path / "sim"), "--gpus", "4"],
        check=True,
        capture_output=True,
    )
    engine = make_engine(service_process.db_url)
    try:
        with session_factory(engine).begin() as session:
            token = issue_token(session, CLUSTER, slurm_cluster.node_name)
    finally:
        engine.dispose()
    (tmp_path / "token").write_text(token + "\n")
    (tmp_path / "token").chmod(0o600)
    spool = Path(slurm_cluster.env["SLURM_CARBON_SPOOL"])
    # Hand-offs of earlier sessions' jobs are not ours.
    for old in [*(spool / "jobs").glob("*"), *(spool / "ended").glob("*")]:
        old.unlink()
    rig = Rig(slurm_cluster, service_process.db_url, service_process.url, tmp_path)
    rig.start_agent()
    try:
        yield rig
    finally:
        rig.stop(rig.writer)
        rig.stop(rig.agent)


def payload_fields(comment: str) -> dict[str, str]:
    ours = [word for word in comment.split() if word.startswith("sc1:")]
    assert len(ours) == 1, comment
    return dict(item.split("=", 1) for item in ours[0].removeprefix("sc1:").split(";"))


def assert_comment_matches_result(comment: str, stored: Stored) -> None:
    """The comment's co2e_g is the stored result's, which is sum(E_t x CI_t x PUE) by hand."""
    assert stored.result is not None
    assert stored.write is not None
    assert comment.rsplit(maxsplit=1)[-1] == stored.write.payload
    fields = payload_fields(comment)
    assert float(fields["co2e_g"]) == pytest.approx(stored.result.co2e_g, rel=5e-4)
    ci = EmbeddedAnnual().figure(REGION).ci_g_per_kwh
    by_hand = sum(energy_j / 3.6e6 * ci * PUE for energy_j in stored.energy_j)
    assert stored.result.co2e_g == pytest.approx(by_hand, rel=1e-9)
    assert stored.result.co2e_g > 0
    assert (stored.result.ci_region, stored.result.ci_source) == (REGION, "codecarbon-annual")
    assert stored.result.pue == pytest.approx(PUE)
    assert (fields["pue"], fields["q"]) == ("1.2", "est")  # CPU and DRAM are estimated


def test_a_gpu_job_gets_its_result_and_a_foreign_comment_survives(rig: Rig) -> None:
    rig.start_writer()
    gpu_job = rig.submit_work("--gres=gpu:2", units=6)
    foreign_job = rig.submit_work("--gres=gpu:1", "--hold", units=2)
    rig.cluster.run("scontrol", "update", f"jobid={foreign_job}", "AdminComment=Checked by OPS")
    rig.cluster.run("scontrol", "release", foreign_job)

    gpu = rig.wait_written(rig.raw_ids(gpu_job)[gpu_job])
    foreign = rig.wait_written(rig.raw_ids(foreign_job)[foreign_job])

    comment = rig.admin_comment(gpu_job)
    assert gpu.write is not None
    assert comment == gpu.write.payload  # nothing foreign: ours alone
    assert_comment_matches_result(comment, gpu)
    assert gpu.result is not None
    assert gpu.result.gpu_energy_j > 0
    assert gpu.write.attempts >= 1
    kept = rig.admin_comment(foreign_job)
    # Slurm 22.05's sacctmgr lower-cases the whole comment; the text itself survives.
    assert kept.startswith("checked by ops sc1:"), kept
    assert_comment_matches_result(kept, foreign)


def test_each_array_task_gets_its_own_comment(rig: Rig) -> None:
    rig.start_writer()
    array = rig.submit_work("--array=0-1", "--gres=gpu:1", units=3)

    tasks = rig.raw_ids(array, tasks=2)

    assert set(tasks) == {f"{array}_0", f"{array}_1"}
    for task, raw_id in tasks.items():
        stored = rig.wait_written(raw_id)
        assert_comment_matches_result(rig.admin_comment(task), stored)
    first, second = (rig.stored(raw).result for raw in tasks.values())
    assert first is not None
    assert second is not None
    assert first.co2e_g != second.co2e_g  # each its own figures


def test_jobs_that_ended_while_the_writer_was_down_get_theirs_when_it_starts(rig: Rig) -> None:
    handed_over = rig.submit_work("--gres=gpu:1", units=2)
    lost_handoff = rig.submit_work("--gres=gpu:1", units=2)
    raw_handed = rig.raw_ids(handed_over)[handed_over]
    raw_lost = rig.raw_ids(lost_handoff)[lost_handoff]
    wait_for((rig.spool / "ended" / f"{raw_lost}.end").exists, "hand-off", rig)
    (rig.spool / "ended" / f"{raw_lost}.end").unlink()  # only the sweep can find this one
    wait_for(
        lambda: not rig.agent_holds(raw_handed) and not rig.agent_holds(raw_lost),
        "agent delivered both",
        rig,
        timeout_s=60,
    )
    assert rig.stored(raw_handed).write is None
    assert rig.admin_comment(handed_over) == ""

    rig.start_writer()

    for job_id, raw_id in ((handed_over, raw_handed), (lost_handoff, raw_lost)):
        stored = rig.wait_written(raw_id)
        assert_comment_matches_result(rig.admin_comment(job_id), stored)
    assert not (rig.spool / "ended" / f"{raw_handed}.end").exists()
