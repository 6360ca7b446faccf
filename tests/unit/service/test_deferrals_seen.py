"""A carbon_defer job's decision recorded when the service first sees it pending or running."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from slurm_carbon.cli.report_detail import deferral_text
from slurm_carbon.errors import SlurmError
from slurm_carbon.service.first_seen import FIRST_SEEN_STATES, SEEN_AHEAD, record_first_seen
from slurm_carbon.slurm import JobQuery, SlurmJob
from slurm_carbon.slurm.fake import FakeSlurm
from slurm_carbon.store import SessionFactory
from slurm_carbon.store.deferrals import DeferralRecord, job_deferral
from slurm_carbon.store.models import Deferral
from slurm_carbon.store.results import find_job
from tests.builders import JOB_START, FakeClock
from tests.unit.service.test_capping import measure
from tests.unit.service.test_deferrals import (
    END,
    HOUR,
    ISSUED,
    SITE,
    SUBMIT,
    deferred,
    settle,
    stored_forecast,
)
from tests.unit.service.test_writer import make_writer

SEEN = SUBMIT + timedelta(minutes=5)  # the writer's first sweep after the submission
# A forecast issued after the submission and before the sweep: the one held when first seen.
ISSUED_AFTER = SUBMIT + timedelta(minutes=2)
VALLEY = [410.0] * 6 + [90.0] * 2 + [300.0] * 10  # 10:00 at 90 against 410 at submit


class Sacct(FakeSlurm):
    """FakeSlurm that also answers ``sacct -s <states> -S <start>``, and counts the calls."""

    def __init__(self, *jobs: SlurmJob) -> None:
        super().__init__(*jobs)
        self.queries: list[JobQuery] = []
        self.fail: str | None = None

    def jobs(self, query: JobQuery) -> list[SlurmJob]:
        self.queries.append(query)
        if self.fail is not None:
            raise SlurmError(self.fail)
        if not query.states:
            return super().jobs(query)
        return list(self.records.values())  # sacct lists those in a state since -S


def pending(raw: int, comment: str = "carbon_defer=12h") -> SlurmJob:
    return replace(
        deferred(raw, comment),
        state="PENDING",
        start_time=None,
        end_time=None,
        elapsed_s=0,
        node_list="None assigned",
    )


def stored(session: Session, raw: int) -> DeferralRecord | None:
    job = find_job(session, "sclocal", raw)
    return None if job is None else job_deferral(session, job.id)


def test_a_pending_jobs_decision_is_recorded_from_the_forecast_held_when_first_seen(
    session: Session, factory: SessionFactory
) -> None:
    stored_forecast(session, VALLEY, ISSUED_AFTER)
    slurm = Sacct(pending(401))

    assert record_first_seen(factory, slurm, SITE, SEEN) == 1

    (query,) = slurm.queries
    # Pending jobs eligible up to 7 days and an hour ahead are listed (slurmdbd's -E).
    assert (query.states, query.start, query.end) == (FIRST_SEEN_STATES, SEEN, SEEN + SEEN_AHEAD)
    assert timedelta(days=7) < SEEN_AHEAD
    found = stored(session, 401)
    assert found is not None
    assert found.asked_s == 12 * 3600
    assert (found.submit_time, found.eligible_time, found.recorded_at) == (
        SUBMIT,
        JOB_START,
        SEEN,
    )
    assert found.expected_saving_pct == pytest.approx(100 * (1 - 90 / 410))
    # Issued after the submission: a recomputation from what was held then would not use it.
    assert (found.forecast_source, found.forecast_issued) == ("uk", ISSUED_AFTER)
    assert found.first_seen
    assert found.measured_saving_g is None


def test_seen_again_and_settled_the_decision_stays_as_first_recorded(
    session: Session, factory: SessionFactory
) -> None:
    measure(session, 402, profile=False)
    stored_forecast(session, VALLEY, ISSUED_AFTER)
    slurm = Sacct(pending(402))
    record_first_seen(factory, slurm, SITE, SEEN)
    first = stored(session, 402)
    stored_forecast(session, [500.0] * 6 + [50.0] * 2 + [300.0] * 10, SEEN + timedelta(minutes=1))
    slurm.records[402] = replace(
        pending(402), state="RUNNING", start_time=JOB_START, node_list="vm"
    )

    assert record_first_seen(factory, slurm, SITE, SEEN + HOUR) == 0
    assert stored(session, 402) == first
    settled = settle(session, deferred(402))

    assert settled is not None
    # The eligible time, expectation and forecast as first seen; the measured saving added.
    assert replace(settled, measured_saving_g=None, measured_saving_pct=None) == first
    assert settled.first_seen
    assert settled.measured_saving_pct == pytest.approx(75.0)  # as in test_deferrals
    assert session.scalar(select(func.count()).select_from(Deferral)) == 1


def test_the_writers_sweep_records_a_pending_jobs_decision_and_a_pass_without_it_none(
    session: Session, factory: SessionFactory
) -> None:
    stored_forecast(session, VALLEY, ISSUED_AFTER)
    slurm = Sacct(pending(410))
    writer = make_writer(factory, slurm, FakeClock(SEEN))

    writer.run_once(sweep=False)
    assert stored(session, 410) is None
    writer.run_once()

    found = stored(session, 410)
    assert found is not None
    assert (found.recorded_at, found.first_seen) == (SEEN, True)


def test_a_running_job_first_seen_is_recorded(session: Session, factory: SessionFactory) -> None:
    stored_forecast(session, VALLEY, ISSUED)
    running = replace(pending(403), state="RUNNING", start_time=JOB_START, node_list="vm")

    assert record_first_seen(factory, Sacct(running), SITE, JOB_START + HOUR) == 1

    found = stored(session, 403)
    assert found is not None
    assert (found.first_seen, found.forecast_issued) == (True, ISSUED)


def test_a_job_first_seen_after_it_ended_is_recomputed_at_settle(
    session: Session, factory: SessionFactory
) -> None:
    measure(session, 404, profile=False)
    stored_forecast(session, VALLEY, ISSUED)
    ended = deferred(404)

    # Listed, but it has ended: left to the settle.
    assert record_first_seen(factory, Sacct(ended), SITE, END) == 0
    found = settle(session, ended)

    assert found is not None
    assert not found.first_seen
    assert (found.recorded_at, found.forecast_issued) == (END, ISSUED)


@pytest.mark.parametrize(
    "job",
    [
        pending(405, comment="carbon_budget=5kg"),  # asks for no deferral
        pending(406, comment="carbon_defer=8y"),  # one the lua refuses
    ],
    ids=["no carbon_defer", "a refused word"],
)
def test_nothing_is_recorded_for(session: Session, factory: SessionFactory, job: SlurmJob) -> None:
    assert record_first_seen(factory, Sacct(job), SITE, SEEN) == 0
    assert session.scalar(select(func.count()).select_from(Deferral)) == 0


ARRAY = 420  # an array's id: its record's raw id until split, then its last task's


def array_job(raw: int, task: int | None) -> SlurmJob:
    """Array ARRAY's pending record (``420_[0-3]``, not split into tasks) or its task."""
    job_id = f"{ARRAY}_[0-3]" if task is None else f"{ARRAY}_{task}"
    return replace(pending(raw), job_id=job_id, array_job_id=ARRAY, array_task_id=task)


def running(job: SlurmJob) -> SlurmJob:
    return replace(job, state="RUNNING", start_time=JOB_START, node_list="vm")


def test_a_pending_array_is_recorded_whole_and_each_task_inherits_its_decision(
    session: Session, factory: SessionFactory
) -> None:
    stored_forecast(session, VALLEY, ISSUED_AFTER)

    assert record_first_seen(factory, Sacct(array_job(ARRAY, None)), SITE, SEEN) == 1
    whole = stored(session, ARRAY)
    assert whole is not None
    assert (whole.first_seen, whole.recorded_at, whole.forecast_issued) == (
        True,
        SEEN,
        ISSUED_AFTER,
    )
    assert whole.expected_saving_pct == pytest.approx(100 * (1 - 90 / 410))

    # An hour on, a later forecast (a fresh decision would expect 90 %); task 0 split off
    # and running as job 421, the others still the array's record.
    stored_forecast(session, [500.0] * 6 + [50.0] * 2 + [300.0] * 10, SEEN + HOUR / 2)
    split = Sacct(running(array_job(421, 0)), replace(array_job(ARRAY, None), job_id="420_[1-3]"))
    assert record_first_seen(factory, split, SITE, SEEN + HOUR) == 1
    task = stored(session, 421)
    assert task is not None
    assert task.job_id != whole.job_id
    assert replace(task, job_id=whole.job_id) == whole  # the array's decision, as first seen

    # The last task keeps the array's id (Slurm's record becomes it): already decided.
    last = Sacct(running(array_job(ARRAY, 3)))
    assert record_first_seen(factory, last, SITE, SEEN + 2 * HOUR) == 0
    assert stored(session, ARRAY) == whole


def test_a_task_first_seen_after_it_ended_inherits_the_arrays_decision_at_settle(
    session: Session, factory: SessionFactory
) -> None:
    measure(session, 422, profile=False)
    stored_forecast(session, VALLEY, ISSUED_AFTER)
    record_first_seen(factory, Sacct(array_job(ARRAY, None)), SITE, SEEN)
    whole = stored(session, ARRAY)
    assert whole is not None

    task = replace(deferred(422), job_id=f"{ARRAY}_2", array_job_id=ARRAY, array_task_id=2)
    found = settle(session, task)

    # Recomputed, it would have had no forecast issued by the submission (ISSUED_AFTER).
    assert found is not None
    assert replace(found, job_id=whole.job_id, measured_saving_g=None) == replace(
        whole, measured_saving_pct=found.measured_saving_pct
    )
    assert found.first_seen
    assert found.measured_saving_pct == pytest.approx(75.0)  # as in test_deferrals


def test_auto_is_recorded_with_the_delay_the_lua_resolved(
    session: Session, factory: SessionFactory
) -> None:
    # The site's default is 12 h; the lua resolved auto to 3 h from its advice file.
    job = pending(408, comment="carbon_defer=auto carbon_defer_resolved=10800s")

    record_first_seen(factory, Sacct(job), SITE, SEEN)

    found = stored(session, 408)
    assert found is not None
    assert found.asked_s == 3 * 3600


def test_a_failing_sacct_records_nothing_and_raises_nothing(
    session: Session, factory: SessionFactory
) -> None:
    slurm = Sacct(pending(409))
    slurm.fail = "sacct: error: slurmdbd unreachable"

    assert record_first_seen(factory, slurm, SITE, SEEN) == 0
    assert session.scalar(select(func.count()).select_from(Deferral)) == 0


def record(first_seen: bool, issued: datetime = ISSUED_AFTER) -> DeferralRecord:
    return DeferralRecord(
        job_id=1,
        asked_s=12 * 3600,
        submit_time=SUBMIT,
        eligible_time=JOB_START,
        counterfactual_start=SUBMIT,
        expected_saving_pct=31.2,
        forecast_source="uk",
        forecast_issued=issued,
        recorded_at=SEEN,
        first_seen=first_seen,
    )


def test_the_report_line_says_whether_the_expectation_was_first_seen_or_recomputed() -> None:
    issued = ISSUED_AFTER.astimezone().strftime("%Y-%m-%d %H:%M")

    seen = deferral_text(record(first_seen=True))
    recomputed = deferral_text(record(first_seen=False))

    assert f"expected ~31 % less (forecast uk issued {issued}, when the job was first seen)" in seen
    assert f"expected ~31 % less (recomputed from the forecast uk issued {issued})" in recomputed
