"""Deferral decisions in the store: one per job, recorded once, its measured saving beside it.

A job submitted with ``carbon_defer=<delay>|auto`` had its begin time set by
``job_submit.lua``. The service records the decision once
(:func:`record_deferral`: a second record of the same job, by a second replica or a
second pass, is a no-op): the delay asked, the submit time, the begin time Slurm holds,
the counterfactual start (the submit time: "start as soon as possible") and the expected
saving with the forecast it came from: from the forecasts held when the service first
saw the job pending or running, or, for a job first seen after it ended, recomputed
from what was held at its submission. Which of the two is not a column: a decision
recorded before the job's end (``recorded_at`` against ``jobs.end_time``) was recorded
when first seen, as :func:`job_deferral` reads it back (``first_seen``). Once the job
has ended its measured saving is set (:func:`set_measured_saving`, again at each
recomputed result). ``report -j`` reads it back (:func:`job_deferral`), and
``report``'s totals sum the measured savings of the jobs it selects
(:func:`deferral_totals`; by user or account, :func:`deferral_groups`).
Units: seconds, grams CO2e, percent; aware UTC times.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, case, func, select, update
from sqlalchemy.orm import Session

from slurm_carbon.store.models import Deferral, Job, JobResult
from slurm_carbon.store.reports.query import ReportQuery, conditions
from slurm_carbon.store.repositories import _insert

__all__ = [
    "DeferralGroupBy",
    "DeferralRecord",
    "DeferralTotals",
    "deferral_groups",
    "deferral_totals",
    "job_deferral",
    "record_deferral",
    "set_measured_saving",
]


@dataclass(frozen=True)
class DeferralRecord:
    """A job's deferral decision, and its saving once measured.

    Attributes:
        job_id: The job's row id (``jobs.id``).
        asked_s: The delay the user allowed (``auto``: the site's default). Units: s.
        submit_time: When the job was submitted.
        eligible_time: The begin time Slurm holds (None: not known, a held job).
        counterfactual_start: The start the user asked for without deferral: the
            submit time.
        expected_saving_pct: The saving of the cleanest start within the delay against
            starting at submission, from the forecast below (None: no series covered the
            job). Units: percent.
        forecast_source: The source of that series (None with no expectation).
        forecast_issued: Its issue time (None with no expectation).
        recorded_at: When the decision was recorded.
        measured_saving_g: The job's emissions at the counterfactual start minus its
            actual ones (None until measured). Units: grams CO2e.
        measured_saving_pct: ``measured_saving_g`` as a percentage of the emissions at
            the counterfactual start (None until measured, or those are 0).
        first_seen: True when the decision was recorded when the service first saw the
            job pending or running (the expectation from the forecasts held then); False
            when recomputed after it ended from what was held at submission. Read back
            by :func:`job_deferral` (recorded before the job's end); not stored.
    """

    job_id: int
    asked_s: int
    submit_time: datetime
    eligible_time: datetime | None
    counterfactual_start: datetime
    expected_saving_pct: float | None
    forecast_source: str | None
    forecast_issued: datetime | None
    recorded_at: datetime
    measured_saving_g: float | None = None
    measured_saving_pct: float | None = None
    first_seen: bool = False


def record_deferral(session: Session, record: DeferralRecord) -> bool:
    """Store ``record`` unless the job's deferral is stored; return whether new."""
    statement = (
        _insert(session, Deferral)
        .values(
            job_id=record.job_id,
            asked_s=record.asked_s,
            submit_time=record.submit_time,
            eligible_time=record.eligible_time,
            counterfactual_start=record.counterfactual_start,
            expected_saving_pct=record.expected_saving_pct,
            forecast_source=record.forecast_source,
            forecast_issued=record.forecast_issued,
            recorded_at=record.recorded_at,
            measured_saving_g=record.measured_saving_g,
            measured_saving_pct=record.measured_saving_pct,
        )
        .on_conflict_do_nothing(index_elements=["job_id"])
        .returning(Deferral.id)
    )
    return session.execute(statement).first() is not None


def set_measured_saving(
    session: Session, job_id: int, saving_g: float, saving_pct: float | None
) -> bool:
    """Set the measured saving of the job's stored deferral; return whether it has one."""
    statement = (
        update(Deferral)
        .where(Deferral.job_id == job_id)
        .values(measured_saving_g=saving_g, measured_saving_pct=saving_pct)
        .returning(Deferral.id)
    )
    return session.execute(statement).first() is not None


def job_deferral(session: Session, job_id: int) -> DeferralRecord | None:
    """The job's deferral decision, None when it was not deferred (or not recorded)."""
    found = session.execute(
        select(Deferral, Job.end_time)
        .join(Job, Job.id == Deferral.job_id)
        .where(Deferral.job_id == job_id)
    ).one_or_none()
    if found is None:
        return None
    row, end = found
    return DeferralRecord(
        job_id=row.job_id,
        asked_s=row.asked_s,
        submit_time=row.submit_time,
        eligible_time=row.eligible_time,
        counterfactual_start=row.counterfactual_start,
        expected_saving_pct=row.expected_saving_pct,
        forecast_source=row.forecast_source,
        forecast_issued=row.forecast_issued,
        recorded_at=row.recorded_at,
        measured_saving_g=row.measured_saving_g,
        measured_saving_pct=row.measured_saving_pct,
        first_seen=end is None or row.recorded_at < end,
    )


@dataclass(frozen=True)
class DeferralTotals:
    """The deferred jobs among a report's, and their measured savings summed.

    Attributes:
        jobs: Jobs with a recorded deferral.
        measured_jobs: Those whose saving is measured (their result settled).
        measured_saving_g: The sum of the measured savings. Units: grams CO2e.
        co2e_at_start_g: The measured jobs' CO2e as they ran (their results), from
            their actual start. Units: grams CO2e.
    """

    jobs: int
    measured_jobs: int
    measured_saving_g: float
    co2e_at_start_g: float = 0.0

    @property
    def co2e_at_submit_g(self) -> float:
        """What the measured jobs' energy would have emitted from their submit time (g)."""
        return self.co2e_at_start_g + self.measured_saving_g


DeferralGroupBy = Literal["user", "account"]


def _sums() -> tuple[ColumnElement[Any], ...]:
    measured = Deferral.measured_saving_g.is_not(None)
    return (
        func.count(Deferral.id),
        func.count(Deferral.measured_saving_g),
        func.sum(Deferral.measured_saving_g),
        func.sum(case((measured, JobResult.co2e_g), else_=0.0)),
    )


def _totals(values: Any) -> DeferralTotals:
    jobs, measured, saving_g, at_start_g = values
    # NULL sums: no deferral, or none measured.
    return DeferralTotals(
        int(jobs), int(measured), float(saving_g or 0.0), float(at_start_g or 0.0)
    )


def deferral_totals(session: Session, query: ReportQuery) -> DeferralTotals:
    """The deferrals of the jobs ``query`` selects, in one aggregate SELECT."""
    statement = (
        select(*_sums())
        .join(Job, Job.id == Deferral.job_id)
        .outerjoin(JobResult, JobResult.job_id == Job.id)
        .where(*conditions(query))
    )
    return _totals(session.execute(statement).one())


def deferral_groups(
    session: Session, query: ReportQuery, by: DeferralGroupBy
) -> dict[str, DeferralTotals]:
    """:func:`deferral_totals` by user or account, one SELECT.

    Only groups with a deferral, and a name: jobs stored without one count in
    :func:`deferral_totals` only (a group the read API cannot be asked for).
    """
    group = {"user": Job.user_name, "account": Job.account}[by]
    statement = (
        select(group, *_sums())
        .join(Job, Job.id == Deferral.job_id)
        .outerjoin(JobResult, JobResult.job_id == Job.id)
        .where(*conditions(query), group.is_not(None))
        .group_by(group)
        .order_by(group)
    )
    return {str(key): _totals(values) for key, *values in session.execute(statement)}
