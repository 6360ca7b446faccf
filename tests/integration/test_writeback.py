"""End to end on the real cluster: a job's result, computed and written into its AdminComment.

Simulated GPUs -> agent -> service -> SQLite or PostgreSQL; EpilogSlurmctld hands the
ended job to ``slurm-carbon writer`` (its own process, region SE with the
embedded annual figure, PUE 1.2), which writes with sacctmgr once sacct's
record is final. Everything is read back through sacct.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from slurm_carbon.intensity.embedded import EmbeddedAnnual
from slurm_carbon.store import (
    CommentWrite,
    CommentWriteState,
    EnergyInterval,
    Job,
    JobResult,
    make_engine,
    session_factory,
)
from tests.integration.conftest import Rig

pytestmark = [
    pytest.mark.integration,
    # The store's two backends, with the service and the writer as separate processes.
    pytest.mark.parametrize("service_process", ["sqlite", "postgresql"], indirect=True),
]

REGION, PUE = "SE", 1.2
DEADLINE_S = 120


@dataclass
class Stored:
    """What the database holds for one job."""

    energy_j: list[float]
    result: JobResult | None
    write: CommentWrite | None


def start_writer(rig: Rig) -> None:
    rig.start(
        "writer",
        *("writer", "--url", rig.service.db_url, "--spool", str(rig.spool)),
        *("--region", REGION, "--pue", str(PUE), "--poll-s", "0.5", "--sweep-s", "2"),
        *("--settle-delay-s", "8", "--log-level", "DEBUG"),
    )


def stored(rig: Rig, raw_id: int) -> Stored:
    engine = make_engine(rig.service.db_url)
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


def raw_ids(rig: Rig, job_id: str, tasks: int = 1) -> dict[str, int]:
    """Slurm's job id (``7_1`` for a task) -> raw id, once all rows are final."""
    rows = rig.cluster.wait_for_job(
        job_id,
        tasks=tasks,
        fields=("JobID", "JobIDRaw", "State", "ReqTRES"),
        filled=["ReqTRES"],
    )
    return {row["JobID"]: int(row["JobIDRaw"]) for row in rows}


def wait_written(rig: Rig, raw_id: int) -> Stored:
    """Until the job's comment is written from a result that accounts all its energy."""
    deadline = time.monotonic() + DEADLINE_S
    found = stored(rig, raw_id)
    while time.monotonic() < deadline:
        found = stored(rig, raw_id)
        if (
            found.write is not None
            and found.write.state == CommentWriteState.WRITTEN
            and found.result is not None
            and not rig.agent_holds(raw_id)
            and total_j(found.result) == pytest.approx(sum(found.energy_j), rel=1e-9)
        ):
            return found
        time.sleep(0.5)
    pytest.fail(f"job {raw_id}: no comment written in {DEADLINE_S} s: {found}\n{rig.log_tails()}")


def admin_comment(rig: Rig, job_id: str) -> str:
    rows = rig.cluster.sacct(job_id, ["JobID", "AdminComment"])
    return next(row["AdminComment"] for row in rows if row["JobID"] == job_id)


def total_j(result: JobResult) -> float:
    return result.gpu_energy_j + result.cpu_energy_j + result.dram_energy_j


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
    start_writer(rig)
    gpu_job = rig.submit_work("--gres=gpu:2", units=6)
    foreign_job = rig.submit_work("--gres=gpu:1", "--hold", units=2)
    rig.cluster.run("scontrol", "update", f"jobid={foreign_job}", "AdminComment=Checked by OPS")
    rig.cluster.run("scontrol", "release", foreign_job)

    gpu = wait_written(rig, raw_ids(rig, gpu_job)[gpu_job])
    foreign = wait_written(rig, raw_ids(rig, foreign_job)[foreign_job])

    comment = admin_comment(rig, gpu_job)
    assert gpu.write is not None
    assert comment == gpu.write.payload  # nothing foreign: ours alone
    assert_comment_matches_result(comment, gpu)
    assert gpu.result is not None
    assert gpu.result.gpu_energy_j > 0
    assert gpu.write.attempts >= 1
    kept = admin_comment(rig, foreign_job)
    # Slurm 22.05's sacctmgr lower-cases the whole comment; the text itself survives.
    assert kept.startswith("checked by ops sc1:"), kept
    assert_comment_matches_result(kept, foreign)


def test_each_array_task_gets_its_own_comment(rig: Rig) -> None:
    start_writer(rig)
    array = rig.submit_work("--array=0-1", "--gres=gpu:1", units=3)

    tasks = raw_ids(rig, array, tasks=2)

    assert set(tasks) == {f"{array}_0", f"{array}_1"}
    for task, raw_id in tasks.items():
        written = wait_written(rig, raw_id)
        assert_comment_matches_result(admin_comment(rig, task), written)
    first, second = (stored(rig, raw).result for raw in tasks.values())
    assert first is not None
    assert second is not None
    assert first.co2e_g != second.co2e_g  # each its own figures


def test_jobs_that_ended_while_the_writer_was_down_get_theirs_when_it_starts(rig: Rig) -> None:
    handed_over = rig.submit_work("--gres=gpu:1", units=2)
    lost_handoff = rig.submit_work("--gres=gpu:1", units=2)
    raw_handed = raw_ids(rig, handed_over)[handed_over]
    raw_lost = raw_ids(rig, lost_handoff)[lost_handoff]
    rig.wait_for((rig.spool / "ended" / f"{raw_lost}.end").exists, "hand-off")
    (rig.spool / "ended" / f"{raw_lost}.end").unlink()  # only the sweep can find this one
    rig.wait_for(
        lambda: not rig.agent_holds(raw_handed) and not rig.agent_holds(raw_lost),
        "agent delivered both",
        timeout_s=60,
    )
    assert stored(rig, raw_handed).write is None
    assert admin_comment(rig, handed_over) == ""

    start_writer(rig)

    for job_id, raw_id in ((handed_over, raw_handed), (lost_handoff, raw_lost)):
        written = wait_written(rig, raw_id)
        assert_comment_matches_result(admin_comment(rig, job_id), written)
    assert not (rig.spool / "ended" / f"{raw_handed}.end").exists()


def test_ours_is_merged_back_after_a_tool_that_replaces_the_whole_comment(rig: Rig) -> None:
    start_writer(rig)
    job_id = rig.submit_work("--gres=gpu:1", units=2)
    raw_id = raw_ids(rig, job_id)[job_id]
    written = wait_written(rig, raw_id)
    assert written.write is not None
    ours = written.write.payload

    # Princeton Jobstats' EpilogSlurmctld: the whole field replaced, with sacctmgr.
    rig.cluster.run(
        "sacctmgr", "-i", "modify", "job", "where", f"jobid={job_id}",
        "set", "AdminComment=JS1:H4sIAAAAAAAAAw==",
    )  # fmt: skip

    deadline = time.monotonic() + DEADLINE_S
    comment = admin_comment(rig, job_id)
    while comment != f"js1:h4siaaaaaaaaaw== {ours}" and time.monotonic() < deadline:
        time.sleep(0.5)
        comment = admin_comment(rig, job_id)
    # 22.05's sacctmgr lower-cased theirs when they wrote it; ours follows theirs.
    assert comment == f"js1:h4siaaaaaaaaaw== {ours}", rig.log_tails()
