"""A ``carbon_defer`` job's deferral: the decision recorded once, its saving measured.

``job_submit.lua`` set the begin time of a job submitted with ``carbon_defer=<delay>``
(or ``auto``: the advice file's ``defer_default_s``, which the lua writes into the
comment as ``carbon_defer_resolved=<n>s``) to the cleanest start within the delay, from
the partition's advice file. The lua stores nothing; the service records the decision
once per job (:func:`~slurm_carbon.store.deferrals.record_deferral`: a second pass or
replica records nothing): the delay asked, the submit time, the begin time Slurm holds,
the counterfactual start the user asked for (the submit time: "start as soon as
possible"), and the expected saving (:func:`expected_saving`: the CI ahead from
:func:`~slurm_carbon.service.ci_forecast.ci_ahead`, as the advice file is made, and the
same :func:`~slurm_carbon.forecast.advice.cleanest_start`) with the forecast's source
and issue time:

- **when the service first sees the job** pending or running
  (:func:`~slurm_carbon.service.first_seen.record_first_seen`, at each sweep of the
  writer): from the forecasts the store
  holds at that moment;
- else, for a job first seen after it ended, when its result is settled
  (:func:`settle_deferral`, from :func:`~slurm_carbon.service.results.settle_result`,
  which every ended job passes): **recomputed** from what the store held at the submit
  time.

At each settle, the saving measured against the counterfactual start: the job's energy
profile moved to the submit time (:func:`~slurm_carbon.accounting.counterfactual.shifted`)
with the same CI and PUE as its result, an estimate (the job would not have drawn
exactly the same power then); the decision is left as recorded.

Units: seconds, grams CO2e, percent.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from slurm_carbon.accounting.counterfactual import shifted
from slurm_carbon.accounting.job_words import DEFER_AUTO, BadJobWord, parse_job_words
from slurm_carbon.config import SiteConfig
from slurm_carbon.config.policies import AdviceConfig
from slurm_carbon.errors import IntensityUnavailable
from slurm_carbon.forecast.advice import advice_series, cleanest_start
from slurm_carbon.intensity.base import IntensityProvider
from slurm_carbon.service.ci_forecast import ci_ahead
from slurm_carbon.service.site import Site
from slurm_carbon.slurm import SlurmJob
from slurm_carbon.store import Session
from slurm_carbon.store.deferrals import (
    DeferralRecord,
    job_deferral,
    record_deferral,
    set_measured_saving,
)
from slurm_carbon.store.results import find_job
from slurm_carbon.text import escape_control

if TYPE_CHECKING:
    from slurm_carbon.service.results import JobFootprint

__all__ = ["Expected", "asked_delay_s", "expected_saving", "record_decision", "settle_deferral"]

logger = logging.getLogger(__name__)

_S_PER_H = 3600


@dataclass(frozen=True)
class Expected:
    """The saving a deferral was expected to bring at submit time, and from what.

    Attributes:
        saving_pct: ``100 * (1 - mean CI at the cleanest start / mean CI at submit)``
            over the job's time limit. Units: percent.
        source: The series' forecast source (``actual-carried``: the last actual held).
        issued: The series' issue time.
    """

    saving_pct: float
    source: str
    issued: datetime


def asked_delay_s(comment: str, site: Site) -> int | None:
    """The delay ``carbon_defer`` allows in ``comment``, None when it asks for none.

    ``auto`` is the delay ``job_submit.lua`` resolved it to (its ``carbon_defer_resolved``
    word); without one (no advice file at submission: the job was not deferred), the
    site's ``[advice] defer_default_h`` (the default's without a site configuration). A
    comment job_submit.lua would refuse asks for none. Units: seconds.
    """
    try:
        words = parse_job_words(comment)
    except BadJobWord:
        return None
    asked = words.defer_s
    if asked == DEFER_AUTO and words.defer_resolved_s is not None:
        return words.defer_resolved_s
    if asked == DEFER_AUTO:
        advice = site.advice if isinstance(site, SiteConfig) else AdviceConfig()
        return advice.defer_default_h * _S_PER_H
    return asked


def expected_saving(  # noqa: PLR0913 (the job's window, and when it is known)
    session: Session,
    region: str,
    submit: datetime,
    delay_s: int,
    time_limit_s: float,
    *,
    known_at: datetime | None = None,
) -> Expected | None:
    """The saving the cleanest start within ``delay_s`` of ``submit`` promised.

    The CI ahead as the store held it at ``known_at`` (default ``submit``: forecasts
    issued by then, else the last actual carried), as the advice file is made from it,
    from the hour holding ``submit`` to the latest end the job could have; None when
    that series does not cover the job's window starting at ``submit``.
    """
    hour = submit.replace(minute=0, second=0, microsecond=0)
    end = submit + timedelta(seconds=delay_s + time_limit_s)
    now = int(submit.timestamp())
    known = submit if known_at is None else known_at
    series = advice_series(ci_ahead(session, region, hour, end, now=known), now)
    if series is None:
        return None
    best = cleanest_start(series.steps, now, max(1, round(time_limit_s)), delay_s)
    if best is None:
        return None
    issued = datetime.fromtimestamp(series.issued, tz=submit.tzinfo)
    return Expected(best.saving_pct, series.source, issued)


def settle_deferral(  # noqa: PLR0913 (the job, its row and footprint, and the context)
    session: Session,
    job: SlurmJob,
    job_id: int,
    found: JobFootprint,
    *,
    site: Site,
    intensity: IntensityProvider,
    now: datetime,
) -> None:
    """Record a ``carbon_defer`` job's decision unless recorded, and (again) its measured saving.

    Nothing for a job whose comment asks for no deferral. ``found`` is the footprint
    its result was computed from (its spans, CI region and PUE). A decision not recorded
    when the job was first seen is recomputed from what the store held at submission.
    """
    delay_s = asked_delay_s(job.comment, site)
    if delay_s is None:
        return
    if job_deferral(session, job_id) is None:
        record_decision(
            session, job, job_id, delay_s, found.region, known_at=job.submit_time, now=now
        )
    _measure(session, job, job_id, found, intensity)


def _array_decision(session: Session, job: SlurmJob) -> DeferralRecord | None:
    """The decision stored for the array ``job`` is a task of, measured saving left out."""
    if job.array_job_id is None:
        return None
    array = find_job(session, job.cluster, job.array_job_id)
    found = None if array is None else job_deferral(session, array.id)
    if found is None:
        return None
    return replace(found, measured_saving_g=None, measured_saving_pct=None)


def record_decision(  # noqa: PLR0913 (the job, its row, its delay and region, and when)
    session: Session,
    job: SlurmJob,
    job_id: int,
    delay_s: int,
    region: str,
    *,
    known_at: datetime,
    now: datetime,
) -> int:
    """Record the job's decision, the saving expected as known at ``known_at``; 1 if new.

    An array task's decision is its array's when that is stored (recorded when the array
    was first seen pending, not yet split: the same submission, delay and begin time).
    """
    inherited = _array_decision(session, job)
    if inherited is not None:
        new = record_deferral(session, replace(inherited, job_id=job_id))
        if new:
            logger.info("deferral job=%s the decision of array %s", job.job_id, job.array_job_id)
        return int(new)
    expected = None
    if job.time_limit_s is not None:
        expected = expected_saving(
            session, region, job.submit_time, delay_s, job.time_limit_s, known_at=known_at
        )
    new = record_deferral(
        session,
        DeferralRecord(
            job_id=job_id,
            asked_s=delay_s,
            submit_time=job.submit_time,
            eligible_time=job.eligible_time,
            counterfactual_start=job.submit_time,
            expected_saving_pct=None if expected is None else expected.saving_pct,
            forecast_source=None if expected is None else expected.source,
            forecast_issued=None if expected is None else expected.issued,
            recorded_at=now,
        ),
    )
    if new:
        logger.info(
            "deferral job=%s asked_s=%d eligible=%s expected_pct=%s known_at=%s",
            job.job_id,
            delay_s,
            job.eligible_time,
            None if expected is None else f"{expected.saving_pct:.1f}",
            known_at.isoformat(),
        )
    return int(new)


def _measure(
    session: Session,
    job: SlurmJob,
    job_id: int,
    found: JobFootprint,
    intensity: IntensityProvider,
) -> None:
    """Store the saving against starting at submit: the same profile moved there."""
    last = max(span.end for span in found.spans)
    try:
        points = list(intensity.history(found.region, job.submit_time, last))
        moved = shifted(found.spans, points, found.pue, start_at=job.submit_time)
    except (ValueError, IntensityUnavailable) as err:
        logger.info("no measured saving for job=%s: %s", job.job_id, escape_control(str(err)))
        return
    saving_g = -moved.savings_g  # what starting at submit would have emitted more
    if not math.isfinite(saving_g):  # a corrupt stored value: no figure rather than NaN
        logger.warning("no measured saving for job=%s: not finite", job.job_id)
        return
    saving_pct = None if moved.co2e_g <= 0 else 100.0 * saving_g / moved.co2e_g
    set_measured_saving(session, job_id, saving_g, saving_pct)
