"""The writer against a fake Slurm that behaves as 22.05 does, on SQLite and PostgreSQL.

The fake (:class:`slurm_carbon.slurm.fake.FakeSlurm`, held to the command-line
client by tests/unit/slurm/test_slurm_contract.py) lists jobs as ``sacct -j``
does, lower-cases what it is asked to write (sacctmgr 22.05), and can be told
to refuse writes or to report a record that is not final yet.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from slurm_carbon.config import BudgetsConfig
from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.service.budgets import BudgetReviewer
from slurm_carbon.service.site import StaticSite
from slurm_carbon.service.writer import Backoff, Writer
from slurm_carbon.slurm.fake import FakeSlurm
from slurm_carbon.store import (
    BudgetActionRow,
    CommentWrite,
    CommentWriteState,
    Job,
    JobResult,
    ReportedDevice,
    ReportedInterval,
    SessionFactory,
    ingest_batch,
)
from slurm_carbon.store.progress import ProgressPoint, add_progress
from slurm_carbon.vocabulary import CiKind, CiSignal, DeviceKind, EnergyMethod, Sharing
from tests.builders import JOB_START, FakeClock, slurm_job

T0 = JOB_START
CLUSTER = "sclocal"
GPU = ReportedDevice("GPU-aaaa", DeviceKind.GPU, minor=0)
CPU = ReportedDevice("cpu-estimate", DeviceKind.CPU)
PUE = 1.5
REPO = Path(__file__).resolve().parents[3]


class Hourly:
    """A carbon-intensity provider: 100 gCO2e/kWh in T0's hour, 300 in the next, ..."""

    name = "hourly-test"

    def history(self, region: str, start: datetime, end: datetime) -> list[CiPoint]:
        assert region == "SE"
        return [
            CiPoint(
                region,
                T0 + timedelta(hours=h),
                3600,
                100.0 + 200 * h,
                self.name,
                CiKind.ACTUAL,
                CiSignal.AVERAGE,
                T0 + timedelta(hours=h),
            )
            for h in range(4)
            if T0 + timedelta(hours=h + 1) > start and T0 + timedelta(hours=h) < end
        ]

    def forecast(self, region: str, start: datetime, hours: int) -> list[CiPoint]:
        raise NotImplementedError


def measure(session: Session, raw: int, *, hours: Sequence[int] = (0, 1)) -> None:
    """One 10-minute GPU interval (0.1 kWh) and one CPU interval (0.05 kWh) per hour."""
    intervals = []
    for hour in hours:
        start = T0 + timedelta(hours=hour)
        end = start + timedelta(minutes=10)
        for device, energy_j in ((GPU, 360_000.0), (CPU, 180_000.0)):
            method = EnergyMethod.COUNTER if device is GPU else EnergyMethod.ESTIMATED
            intervals.append(
                ReportedInterval(raw, device, start, end, energy_j, method, Sharing.EXCLUSIVE)
            )
    ingest_batch(session, CLUSTER, "vm", intervals)
    session.commit()


def expected_co2e(hours: Sequence[int] = (0, 1)) -> float:
    return sum((0.1 + 0.05) * (100.0 + 200 * h) * PUE for h in hours)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0 + timedelta(hours=3))


def make_writer(
    factory: SessionFactory,
    slurm: FakeSlurm,
    clock: FakeClock,
    spool: Path | None = None,
    **options: Any,
) -> Writer:
    return Writer(
        factory,
        slurm,
        StaticSite("SE", PUE),
        Hourly(),
        spool=spool,
        backoff=Backoff(first_s=10, factor=2, max_s=60, max_attempts=4),
        clock=clock.utc,
        **options,
    )


def hand_off(spool: Path, raw: int) -> Path:
    ended = spool / "ended"
    ended.mkdir(parents=True, exist_ok=True)
    path = ended / f"{raw}.end"
    path.write_text(f"JOB_ID={raw}\n")
    return path


def write_of(session: Session, raw: int) -> CommentWrite:
    session.expire_all()
    return session.execute(
        select(CommentWrite).join(Job, Job.id == CommentWrite.job_id).where(Job.slurm_job_id == raw)
    ).scalar_one()


def result_of(session: Session, raw: int) -> JobResult:
    session.expire_all()
    return session.execute(
        select(JobResult).join(Job, Job.id == JobResult.job_id).where(Job.slurm_job_id == raw)
    ).scalar_one()


def test_handed_over_job_gets_its_result_stored_and_written(
    session: Session, factory: SessionFactory, clock: FakeClock, tmp_path: Path
) -> None:
    measure(session, 101)
    slurm = FakeSlurm(slurm_job(101))
    handoff = hand_off(tmp_path, 101)

    report = make_writer(factory, slurm, clock, tmp_path).run_once()

    assert (report.queued, report.written, report.retried) == (1, 1, 0)
    assert not handoff.exists()
    result = result_of(session, 101)
    assert result.co2e_g == pytest.approx(expected_co2e())  # 0.15 kWh x (100 + 300) x 1.5 = 90
    assert result.co2e_g == pytest.approx(90.0)
    assert result.gpu_energy_j == pytest.approx(720_000.0)
    assert result.cpu_energy_j == pytest.approx(360_000.0)
    assert result.ci_mean_g_per_kwh == pytest.approx(200.0)
    assert (result.ci_region, result.ci_source) == ("SE", "hourly-test")
    assert result.pue == pytest.approx(PUE)
    assert (result.quality, result.sharing) == ("estimated", "exclusive")
    payload = "sc1:co2e_g=90;kwh=0.45;ci=200;pue=1.5;q=est"
    assert slurm.writes == [("101", payload, True)]
    write = write_of(session, 101)
    assert (write.state, write.attempts, write.payload, write.last_error) == (
        CommentWriteState.WRITTEN,
        1,
        payload,
        None,
    )
    assert write.written_at == clock.utc()
    job = session.execute(select(Job).where(Job.slurm_job_id == 101)).scalar_one()
    assert (job.name, job.user_name, job.account, job.partition) == (
        "train|resnet",
        "alice",
        "carbon",
        "debug",
    )
    assert (job.state, job.requested_gpus, job.comment) == ("COMPLETED", 1, "carbon_budget=5kg")
    assert job.end_time == T0 + timedelta(hours=2)


def test_a_record_not_final_yet_is_tried_again_after_the_backoff(
    session: Session, factory: SessionFactory, clock: FakeClock, tmp_path: Path
) -> None:
    measure(session, 102)
    # 22.05 lists a job as ended before its start record arrives: ReqTRES still empty.
    slurm = FakeSlurm(slurm_job(102, req_tres=""))
    hand_off(tmp_path, 102)
    writer = make_writer(factory, slurm, clock, tmp_path)

    first = writer.run_once()

    assert (first.queued, first.written, first.retried) == (1, 0, 1)
    assert slurm.writes == []
    write = write_of(session, 102)
    assert (write.state, write.attempts) == (CommentWriteState.PENDING, 1)
    assert "not final" in (write.last_error or "")

    slurm.set(102, req_tres="cpu=1,gres/gpu=1")
    clock.advance(9)
    assert writer.run_once().written == 0  # backoff: 10 s after the first failure
    assert write_of(session, 102).attempts == 1
    clock.advance(1)
    assert writer.run_once().written == 1

    write = write_of(session, 102)
    assert (write.state, write.attempts, write.last_error) == (CommentWriteState.WRITTEN, 2, None)
    assert [job_id for job_id, *_ in slurm.writes] == ["102"]


def test_a_foreign_admin_comment_is_kept_and_only_our_part_replaced(
    session: Session, factory: SessionFactory, clock: FakeClock, tmp_path: Path
) -> None:
    measure(session, 103)
    measure(session, 104)
    slurm = FakeSlurm(
        slurm_job(103, admin_comment="Checked by OPS"),
        slurm_job(104, admin_comment="ticket 7 sc1:co2e_g=1.0;kwh=0.00;ci=1;pue=1.00;q=meas"),
    )
    hand_off(tmp_path, 103)
    hand_off(tmp_path, 104)

    assert make_writer(factory, slurm, clock, tmp_path).run_once().written == 2

    payload = "sc1:co2e_g=90;kwh=0.45;ci=200;pue=1.5;q=est"
    assert slurm.writes == [
        ("103", f"Checked by OPS {payload}", True),
        ("104", f"ticket 7 {payload}", True),
    ]
    # What 22.05 keeps: the foreign text lower-cased, ours as written.
    assert slurm.records[103].admin_comment == f"checked by ops {payload}"


def test_array_tasks_are_addressed_as_array_underscore_task(
    session: Session, factory: SessionFactory, clock: FakeClock, tmp_path: Path
) -> None:
    # Array 264 of two tasks: 264_0 got raw id 265, the last task 264_1 the array's id 264.
    measure(session, 265, hours=[0])
    measure(session, 264, hours=[1])
    task0 = slurm_job(265, job_id="264_0", array_job_id=264, array_task_id=0)
    task1 = slurm_job(264, job_id="264_1", array_job_id=264, array_task_id=1)
    slurm = FakeSlurm(task0, task1)
    hand_off(tmp_path, 264)
    hand_off(tmp_path, 265)

    assert make_writer(factory, slurm, clock, tmp_path).run_once().written == 2

    written = {job_id: text for job_id, text, _ in slurm.writes}
    assert set(written) == {"264_0", "264_1"}
    assert written["264_0"].startswith("sc1:co2e_g=22.5;")  # 0.15 kWh x 100 x 1.5
    assert written["264_1"].startswith("sc1:co2e_g=67.5;")  # 0.15 kWh x 300 x 1.5
    assert result_of(session, 265).co2e_g == pytest.approx(expected_co2e([0]))
    job = session.execute(select(Job).where(Job.slurm_job_id == 265)).scalar_one()
    assert (job.array_job_id, job.array_task_id) == (264, 0)


def test_failed_writes_count_attempts_back_off_and_give_up(
    session: Session, factory: SessionFactory, clock: FakeClock, tmp_path: Path
) -> None:
    measure(session, 105)
    slurm = FakeSlurm(slurm_job(105))
    slurm.refuse = "sacctmgr modify of job 105 failed: Access/permission denied"
    hand_off(tmp_path, 105)
    writer = make_writer(factory, slurm, clock, tmp_path)

    seen = []
    for step_s in (0, 10, 20, 40):  # backoff 10, 20, 40 s; the 4th try is the last
        clock.advance(step_s)
        report = writer.run_once()
        write = write_of(session, 105)
        seen.append((write.attempts, write.state, report.retried, report.failed))
        clock.advance(step_s and -1)
        assert writer.run_once().errors == []  # nothing due a second early
        clock.advance(step_s and 1)

    assert seen == [
        (1, CommentWriteState.PENDING, 1, 0),
        (2, CommentWriteState.PENDING, 1, 0),
        (3, CommentWriteState.PENDING, 1, 0),
        (4, CommentWriteState.FAILED, 0, 1),
    ]
    assert write_of(session, 105).last_error == slurm.refuse
    assert len(slurm.writes) == 4
    clock.advance(3600)
    assert writer.run_once().errors == []
    assert len(slurm.writes) == 4
    assert result_of(session, 105).co2e_g == pytest.approx(90.0)  # the result is kept


def test_a_read_back_that_differs_is_a_failed_try(
    session: Session, factory: SessionFactory, clock: FakeClock, tmp_path: Path
) -> None:
    measure(session, 106)
    slurm = FakeSlurm(slurm_job(106, admin_comment="ops"))
    slurm.ignore_writes = True
    hand_off(tmp_path, 106)

    report = make_writer(factory, slurm, clock, tmp_path).run_once()

    assert (report.written, report.retried) == (0, 1)
    write = write_of(session, 106)
    assert write.state == CommentWriteState.PENDING
    assert write.last_error == "job 106: sacct reads back 'ops'"


def test_the_sweep_finds_finished_jobs_never_handed_over_and_skips_running_ones(
    session: Session, factory: SessionFactory, clock: FakeClock
) -> None:
    measure(session, 107)
    measure(session, 108)
    running = slurm_job(108, state="RUNNING", end_time=None)
    slurm = FakeSlurm(slurm_job(107), running)
    writer = make_writer(factory, slurm, clock)

    report = writer.run_once()

    assert (report.queued, report.written) == (1, 1)
    assert [job_id for job_id, _, final in slurm.writes if final] == ["107"]
    assert write_of(session, 107).state == CommentWriteState.WRITTEN
    count = select(func.count()).select_from(CommentWrite)
    assert session.execute(count).scalar_one() == 1
    # Once it ends, the next sweep finds it; a written job is not swept again.
    slurm.set(108, state="COMPLETED", end_time=T0 + timedelta(hours=2))
    assert writer.run_once().written == 1
    assert writer.run_once().queued == 0
    assert [job_id for job_id, _, final in slurm.writes if final] == ["107", "108"]


def test_a_running_job_gets_a_live_value_that_keeps_a_foreign_comment(
    session: Session, factory: SessionFactory, clock: FakeClock
) -> None:
    measure(session, 112)
    slurm = FakeSlurm(slurm_job(112, state="RUNNING", end_time=None, admin_comment="ops: keep"))

    make_writer(factory, slurm, clock).run_once()

    ((job_id, text, final),) = slurm.writes
    assert (job_id, final) == ("112", False)
    assert text == f"ops: keep sc1:co2e_g=90;{text.split(';', 1)[1]}"
    assert text.endswith(";live=1")
    assert "fc_co2e_g" not in text  # no progress: its time limit bounds it, no forecast
    assert session.execute(select(func.count()).select_from(JobResult)).scalar_one() == 0


def test_a_running_job_that_reported_progress_carries_its_forecast_total(
    session: Session, factory: SessionFactory, clock: FakeClock
) -> None:
    measure(session, 113)  # 10 minutes at hour 0 and at hour 1: 90 g so far (as above)
    job_id = session.execute(select(Job.id).where(Job.slurm_job_id == 113)).scalar_one()
    # A quarter of the work in each 10 minutes: 20 minutes left at 900 W = 0.3 kWh, at the
    # last intensity (300 g/kWh, carried: no forecast stored) x 1.5 = 135 g ahead.
    add_progress(
        session,
        [
            (job_id, ProgressPoint(T0 + timedelta(minutes=10), 0.25)),
            (job_id, ProgressPoint(T0 + timedelta(hours=1, minutes=10), 0.5)),
        ],
    )
    session.commit()
    slurm = FakeSlurm(slurm_job(113, state="RUNNING", end_time=None))

    make_writer(factory, slurm, clock).run_once()

    ((_, text, _),) = slurm.writes
    assert text.startswith("sc1:co2e_g=90;")
    assert text.endswith(";fc_co2e_g=225;live=1")


def _over_budget(session: Session, raw: int) -> FakeSlurm:
    """A running job forecast at 225 g in all (as above) whose comment gives a 100 g budget."""
    measure(session, raw)
    job_id = session.execute(select(Job.id).where(Job.slurm_job_id == raw)).scalar_one()
    add_progress(
        session,
        [
            (job_id, ProgressPoint(T0 + timedelta(minutes=10), 0.25)),
            (job_id, ProgressPoint(T0 + timedelta(hours=1, minutes=10), 0.5)),
        ],
    )
    session.commit()
    return FakeSlurm(slurm_job(raw, state="RUNNING", end_time=None, comment="carbon_budget=100g"))


@pytest.mark.parametrize(
    ("action", "cancelled", "live_note"),
    [("cancel", True, False), ("notify", False, True), ("none", False, False)],
)
def test_the_sweep_acts_on_a_running_job_over_its_budget_by_policy_once(  # noqa: PLR0917
    session: Session,
    factory: SessionFactory,
    clock: FakeClock,
    action: str,
    cancelled: bool,
    live_note: bool,
) -> None:
    slurm = _over_budget(session, 114)
    budgets = BudgetsConfig.model_validate({"action": action, "min_progress": 0.5})
    writer = make_writer(factory, slurm, clock, budgets=BudgetReviewer(factory, slurm, budgets))

    writer.run_once()
    writer.run_once()

    assert [job_id for job_id, _ in slurm.cancelled] == (["114"] if cancelled else [])
    if cancelled:
        assert slurm.records[114].state == "CANCELLED"
        assert "forecast total 225 g" in slurm.cancelled[0][1]
    else:
        ((_, first, _), (_, second, _)) = slurm.writes
        assert first == second
        note = ";fc_co2e_g=225;budget=over;live=1" if live_note else ";fc_co2e_g=225;live=1"
        assert first.endswith(note)
    stored = session.execute(select(func.count()).select_from(BudgetActionRow)).scalar_one()
    assert stored == (0 if action == "none" else 1)


def test_a_notified_jobs_final_comment_keeps_the_budget_note(
    session: Session, factory: SessionFactory, clock: FakeClock
) -> None:
    slurm = _over_budget(session, 116)
    notify = BudgetsConfig(action="notify", min_progress=0.5)
    writer = make_writer(factory, slurm, clock, budgets=BudgetReviewer(factory, slurm, notify))
    writer.run_once()
    slurm.set(116, state="COMPLETED", end_time=T0 + timedelta(hours=2))

    writer.run_once()

    final = slurm.writes[-1][1]
    assert ";live=1" not in final
    assert final.startswith("sc1:co2e_g=90;")
    assert final.endswith(";budget=over")


def test_a_job_within_its_budget_or_not_confident_yet_is_left_alone(
    session: Session, factory: SessionFactory, clock: FakeClock
) -> None:
    slurm = _over_budget(session, 115)
    not_yet = BudgetsConfig(action="cancel", min_progress=0.6, min_runtime_min=10080)
    make_writer(factory, slurm, clock, budgets=BudgetReviewer(factory, slurm, not_yet)).run_once()
    slurm.set(115, comment="carbon_budget=1kg")
    cancel = BudgetsConfig(action="cancel", min_progress=0.5)
    make_writer(factory, slurm, clock, budgets=BudgetReviewer(factory, slurm, cancel)).run_once()

    assert slurm.cancelled == []
    assert slurm.records[115].state == "RUNNING"
    assert session.execute(select(func.count()).select_from(BudgetActionRow)).scalar_one() == 0


def test_an_already_present_payload_is_not_written_again_and_a_requeue_recomputes(
    session: Session, factory: SessionFactory, clock: FakeClock, tmp_path: Path
) -> None:
    measure(session, 109, hours=[0])
    slurm = FakeSlurm(slurm_job(109))
    writer = make_writer(factory, slurm, clock, tmp_path)
    hand_off(tmp_path, 109)
    writer.run_once()
    assert len(slurm.writes) == 1

    hand_off(tmp_path, 109)  # the job ends again, unchanged: already in Slurm
    assert writer.run_once().written == 1
    assert len(slurm.writes) == 1

    measure(session, 109, hours=[1])  # requeued, ran on: recomputed, replaced
    hand_off(tmp_path, 109)
    assert writer.run_once().written == 1
    assert result_of(session, 109).co2e_g == pytest.approx(expected_co2e([0, 1]))
    assert slurm.writes[-1][1].startswith("sc1:co2e_g=90;")
    assert session.execute(select(func.count()).select_from(JobResult)).scalar_one() == 1


def test_a_job_without_energy_is_retried_and_its_handoff_consumed(
    session: Session, factory: SessionFactory, clock: FakeClock, tmp_path: Path
) -> None:
    slurm = FakeSlurm(slurm_job(110))
    handoff = hand_off(tmp_path, 110)

    report = make_writer(factory, slurm, clock, tmp_path).run_once()

    assert (report.queued, report.written, report.retried) == (1, 0, 1)
    assert not handoff.exists()
    assert write_of(session, 110).last_error == "job 110: no energy stored"
    assert slurm.writes == []


def test_a_handoff_for_a_job_sacct_does_not_list_stays(
    factory: SessionFactory, clock: FakeClock, tmp_path: Path
) -> None:
    handoff = hand_off(tmp_path, 111)
    (tmp_path / "ended" / ".111.end.42").write_text("partial")

    assert make_writer(factory, FakeSlurm(), clock, tmp_path).run_once().queued == 0

    assert handoff.exists()


def test_energy_that_arrives_after_the_result_makes_the_sweep_recompute_and_rewrite(
    session: Session, factory: SessionFactory, clock: FakeClock
) -> None:
    measure(session, 112, hours=[0])
    slurm = FakeSlurm(slurm_job(112, admin_comment="ops"))
    writer = make_writer(factory, slurm, clock)
    assert writer.run_once().written == 1
    assert writer.run_once().queued == 0

    measure(session, 112, hours=[1])  # an agent that was down delivers the rest

    report = writer.run_once()

    assert (report.queued, report.written) == (1, 1)
    assert result_of(session, 112).co2e_g == pytest.approx(expected_co2e([0, 1]))
    assert slurm.records[112].admin_comment.startswith("ops sc1:co2e_g=90;")
    assert write_of(session, 112).attempts == 1  # queued again: attempts start over
    assert writer.run_once().queued == 0


def test_an_ended_job_waits_for_its_last_intervals_without_counting_a_try(
    session: Session, factory: SessionFactory, clock: FakeClock, tmp_path: Path
) -> None:
    measure(session, 113)
    slurm = FakeSlurm(slurm_job(113, end_time=clock.utc() - timedelta(seconds=10)))
    hand_off(tmp_path, 113)
    writer = make_writer(factory, slurm, clock, tmp_path, settle_delay_s=30)

    first = writer.run_once()
    clock.advance(19)
    second = writer.run_once()
    clock.advance(1)
    third = writer.run_once()

    assert [(r.waiting, r.written) for r in (first, second, third)] == [(1, 0), (0, 0), (0, 1)]
    assert write_of(session, 113).attempts == 1


def test_site_policy_skip_leaves_a_foreign_comment_and_disabled_writes_nothing(
    session: Session, factory: SessionFactory, clock: FakeClock
) -> None:
    measure(session, 114)
    measure(session, 115)
    slurm = FakeSlurm(slurm_job(114, admin_comment="Checked by OPS"), slurm_job(115))

    report = make_writer(factory, slurm, clock, foreign="skip").run_once()

    assert (report.written, report.failed) == (1, 1)
    assert [job_id for job_id, *_ in slurm.writes] == ["115"]
    skipped = write_of(session, 114)
    assert skipped.state == CommentWriteState.FAILED
    assert skipped.last_error == "job 114: foreign AdminComment 'Checked by OPS' left alone"
    assert result_of(session, 114).co2e_g == pytest.approx(90.0)

    measure(session, 116)
    slurm.records[116] = slurm_job(116)
    report = make_writer(factory, slurm, clock, write_comments=False).run_once()
    assert (report.written, report.failed) == (0, 1)
    assert len(slurm.writes) == 1
    assert result_of(session, 116).co2e_g == pytest.approx(90.0)


SHIM = REPO / "epilog" / "slurm-carbon-epilog-slurmctld"


def run_shim(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/usr/bin/env", "-i", *(f"{k}={v}" for k, v in env.items()), str(SHIM)],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )


def test_epilog_slurmctld_shim_hands_the_job_over_atomically(tmp_path: Path) -> None:
    done = run_shim(
        {
            "SLURM_JOB_ID": "265",
            "SLURM_ARRAY_JOB_ID": "264",
            "SLURM_ARRAY_TASK_ID": "0",
            "SLURM_JOB_EXIT_CODE2": "0:0",
            "SLURM_JOB_COMMENT": "x\ny",
            "SLURM_CLUSTER_NAME": "sclocal",
            "SLURM_CARBON_SPOOL": str(tmp_path),
        }
    )

    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    handoff = tmp_path / "ended" / "265.end"
    lines = handoff.read_text().splitlines()
    assert lines[:5] == [
        "JOB_ID=265",
        "ARRAY_JOB_ID=264",
        "ARRAY_TASK_ID=0",
        "EXIT_CODE=0:0",
        "CLUSTER=sclocal",
    ]
    assert lines[5].startswith("TIME=")
    assert sorted(p.name for p in (tmp_path / "ended").iterdir()) == ["265.end"]
    assert oct(handoff.stat().st_mode & 0o777) == "0o600"


def test_epilog_slurmctld_shim_exits_0_when_it_cannot_hand_over(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("")
    env = {"SLURM_JOB_ID": "7", "SLURM_CARBON_SPOOL": str(blocked)}
    assert run_shim(env).returncode == 0
    assert run_shim({"SLURM_JOB_ID": "7;rm", "SLURM_CARBON_SPOOL": str(tmp_path)}).returncode == 0
    assert not (tmp_path / "ended").exists() or not list((tmp_path / "ended").iterdir())
    assert os.access(SHIM, os.X_OK)


class BrokenPartition(StaticSite):
    """The site's policy fails (a bug, bad data) for partition ``broken``."""

    def pue_at(self, partition: str, when: datetime) -> float:
        if partition == "broken":
            raise RuntimeError("no PUE for partition broken")
        return super().pue_at(partition, when)


def test_one_jobs_error_does_not_stop_the_others_nor_loop_hot(
    session: Session,
    factory: SessionFactory,
    clock: FakeClock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for raw in (121, 122, 123):
        measure(session, raw)
        hand_off(tmp_path, raw)
    # Two intervals of 1.7e308 J: the sum is infinite.
    huge = ReportedInterval(
        121,
        GPU,
        T0 + timedelta(hours=1, minutes=20),
        T0 + timedelta(hours=1, minutes=21),
        1.7e308,
        EnergyMethod.COUNTER,
        Sharing.EXCLUSIVE,
    )
    ingest_batch(session, CLUSTER, "vm", [huge, dataclasses.replace(huge, device=CPU)])
    session.commit()
    slurm = FakeSlurm(slurm_job(121), slurm_job(122, partition="broken"), slurm_job(123))
    writer = Writer(
        factory,
        slurm,
        BrokenPartition("SE", PUE),
        Hourly(),
        spool=tmp_path,
        backoff=Backoff(first_s=10, factor=2, max_s=60, max_attempts=4),
        clock=clock.utc,
    )

    with caplog.at_level(logging.WARNING):
        report = writer.run_once()

    assert (report.queued, report.written) == (3, 1)
    assert [job_id for job_id, *_ in slurm.writes] == ["123"]
    infinite, broken = write_of(session, 121), write_of(session, 122)
    assert infinite.state == CommentWriteState.FAILED  # no retry can make it finite
    assert "job 121: result not finite" in (infinite.last_error or "")
    assert (broken.state, broken.attempts) == (CommentWriteState.PENDING, 1)
    assert broken.last_error == "job 122: RuntimeError: no PUE for partition broken"
    assert session.execute(select(func.count()).select_from(JobResult)).scalar_one() == 1
    logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any(m.startswith("job 121: result not finite") for m in logged)
    assert any("job 122: RuntimeError: no PUE for partition broken" in m for m in logged)
    assert all("\n" not in m for m in logged)

    clock.advance(5)
    again = writer.run_once(sweep=False)  # the next passes (the sweep runs every sweep_s)
    assert (again.written, again.retried, again.failed) == (0, 0, 0)  # backoff, not a hot loop
    assert write_of(session, 122).attempts == 1


def test_a_comment_another_tool_overwrote_gets_ours_merged_back_a_bounded_number_of_times(
    session: Session, factory: SessionFactory, clock: FakeClock, tmp_path: Path
) -> None:
    measure(session, 131)
    slurm = FakeSlurm(slurm_job(131))
    hand_off(tmp_path, 131)
    writer = make_writer(factory, slurm, clock, tmp_path)
    assert writer.run_once().written == 1
    payload = slurm.writes[-1][1]

    # Jobstats' EpilogSlurmctld replaces the whole field (sacctmgr lower-cases it on 22.05).
    slurm.set(131, admin_comment="js1:abcd")
    clock.advance(60)
    report = writer.run_once()

    assert (report.queued, report.written) == (1, 1)
    assert slurm.writes[-1] == ("131", f"js1:abcd {payload}", True)
    assert slurm.records[131].admin_comment == f"js1:abcd {payload}"
    assert write_of(session, 131).state == CommentWriteState.WRITTEN
    clock.advance(60)
    assert writer.run_once().queued == 0  # ours is there: nothing to do

    for round_ in range(1, 4):  # a tool that keeps replacing it: we merge back twice, then stop
        slurm.set(131, admin_comment=f"js1:round{round_}")
        clock.advance(60)
        writer.run_once()
    assert [text for _, text, _ in slurm.writes[2:]] == [f"js1:round1 {payload}"]
    assert slurm.records[131].admin_comment == "js1:round3"
