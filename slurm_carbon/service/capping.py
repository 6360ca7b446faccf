"""Deciding each running GPU job's power cap, once a period, by the site's policy.

:meth:`CapDecider.decide` is called by the writer's sweep for every running job
(:meth:`~slurm_carbon.service.queueing.Queuer._running`). For a job:

1. its partition's policy (:meth:`~slurm_carbon.config.policies.CappingConfig.policy_for`)
   is ``none``, its comment says ``carbon_cap=off`` (or holds capping words that
   cannot be read), or it has no stored GPU interval: nothing;
2. a decision of the site's policy for the current period (``[now floored to
   period_min, + period_min)``, periods aligned on the epoch) is stored already: nothing;
3. its power profile: the one stored for the GPU model of its devices and its
   workload key (:func:`~slurm_carbon.control.profiling.workload_key`); without
   one, it is learned online (:mod:`slurm_carbon.service.profiling`): while the
   job is profiled, the limit the profiling state machine asks for is its
   decision (policy ``profiling``, for a short lease, not the period); once
   settled, the profile is saved (source ``learned``; from the GPUs' busy clock
   when the job reports no progress, an estimate: ``learned:busy-clock-estimate``)
   and the site's policy decides from then on, from now when a profiling lease
   is still in force. A job that reports no progress and whose GPUs report no
   busy clock is not profiled, and nothing is decided for it (logged once per
   job: ``slurm-carbon profile import`` gives a profile);
4. the limit: ``static``: :func:`~slurm_carbon.control.policies.static_index`;
   ``carbon``: :func:`~slurm_carbon.control.policies.plan_carbon` with the mean
   carbon intensity of each period ahead over :data:`CAP_HORIZON`
   (:func:`~slurm_carbon.service.ci_forecast.ci_ahead`; with nothing stored for
   the region, the static limit) and the slowdown so far; ``chase`` (a baseline
   for comparison, without a slowdown budget):
   :func:`~slurm_carbon.control.policies.plan_chase`, the replay's function, with
   the period's mean intensity (``ci_ahead``) and MaxCI the highest stored actual
   in force over the week up to the period's start
   (:data:`~slurm_carbon.control.policies.CHASE_MAX_CI_WINDOW_S`);
5. one :class:`~slurm_carbon.store.caps.CapDecisionRecord` for all the job's
   GPUs, with a one-line reason, recorded once (a second replica records nothing).

**The slowdown so far** is measured against the job's own profile: each stored
interval with a known limit ``cap_w`` did ``throughput(cap_w) / throughput(max)``
of the work the highest limit would have done in it, and the time since the
last one (not shipped yet) runs at its limit, still in force; the time lost is
the rest, and the nominal time (at the highest limit) is the run time less it.
A job that reported progress ``f`` (at least
:data:`~slurm_carbon.forecast.energy.MIN_PROGRESS`) needs the nominal time *at
the report* over ``f`` in all (the report reaches the store late), and its
deadline is ``(1 + max_slowdown)`` times that from its start, less what a
decision reaching the GPUs one cap poll late can cost (a poll,
:data:`~slurm_carbon.channel.CAP_POLL_S`, at the profile's slowest limit). A
job that reported none is assumed to have incurred no slowdown, and its budget
is kept over each window: the window's work at the highest limit within ``(1 +
max_slowdown)`` times the window.

The reason says the time lost so far against the time the budget allows over
the whole job (e.g. ``120 s lost so far (5.3% of the work done) of the 570 s
allowed (2.5% of 22800 s of work)``): lost while dirty, early on, the time lost
is a larger share of the work done so far than the budget is of the whole work,
and the job still ends within it.

Units: watts, seconds, gCO2e/kWh; times aware UTC.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np

from slurm_carbon.accounting.job_words import BadJobWord, parse_job_words
from slurm_carbon.channel import CAP_POLL_S
from slurm_carbon.config.policies import CappingConfig, CappingPolicy
from slurm_carbon.control.policies import (
    CHASE_MAX_CI_WINDOW_S,
    LimitGrid,
    plan_carbon,
    plan_chase,
    static_index,
)
from slurm_carbon.control.profiling import workload_key
from slurm_carbon.control.slowdown import CappedSpan, Slowdown, measured_slowdown, nominal_s
from slurm_carbon.errors import ConfigError
from slurm_carbon.forecast.energy import MIN_PROGRESS
from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.sensors.profiles import PowerProfile
from slurm_carbon.service.ci_forecast import FORECAST_HORIZON, ci_ahead
from slurm_carbon.service.profiling import gpu_observations, learn_online, profiling_decision
from slurm_carbon.service.site import Site
from slurm_carbon.slurm import SlurmJob
from slurm_carbon.store import Session, SessionFactory, transaction
from slurm_carbon.store.caps import (
    CapDecisionRecord,
    cap_timeline,
    gpu_min_limit_w,
    interval_busy_clocks,
    interval_caps,
    record_decision,
)
from slurm_carbon.store.intensity import ci_series, latest_actual_source
from slurm_carbon.store.profiles import StoredProfile, save_profile, stored_profile
from slurm_carbon.store.progress import job_progress
from slurm_carbon.store.results import StoredInterval, find_job, job_intervals
from slurm_carbon.text import escape_control
from slurm_carbon.vocabulary import (
    PROFILE_LEARNED,
    PROFILE_LEARNED_BUSY_CLOCK,
    PROFILING_POLICY,
    CiSignal,
    DeviceKind,
    ProfilingPhase,
)

__all__ = ["CAP_HORIZON", "CapDecider", "job_slowdown", "period_of"]

logger = logging.getLogger(__name__)

CAP_HORIZON = FORECAST_HORIZON
"""How far ahead the ``carbon`` policy plans: our carbon-intensity forecast's horizon."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def period_of(now: datetime, period: timedelta) -> tuple[datetime, datetime]:
    """The period holding ``now``: periods of ``period`` aligned on the epoch."""
    start = now - (now - _EPOCH) % period
    return start, start + period


def _period_means(
    points: Sequence[CiPoint], start: datetime, period: timedelta, count: int
) -> list[float]:
    """The time-weighted mean intensity of each of ``count`` periods from ``start``.

    A period no point covers takes the mean of all that are covered.
    """
    sums, weights = np.zeros(count), np.zeros(count)
    for point in points:
        point_end = point.time + timedelta(seconds=point.step_s)
        for index in range(count):
            low = max(point.time, start + index * period)
            high = min(point_end, start + (index + 1) * period)
            if high > low:
                seconds = (high - low).total_seconds()
                sums[index] += point.ci_g_per_kwh * seconds
                weights[index] += seconds
    covered = weights > 0
    overall = float(sums.sum() / weights.sum())
    return [float(s / w) if c else overall for s, w, c in zip(sums, weights, covered, strict=True)]


def _chase(  # noqa: PLR0913 (the grid, where, and the period)
    session: Session, grid: LimitGrid, *, region: str, start: datetime, end: datetime, now: datetime
) -> tuple[int | None, str]:
    """Chase's limit for ``[start, end)`` and its reason; None: no intensity (the static limit)."""
    points = ci_ahead(session, region, start, end, now)
    if not points:
        return None, f"no carbon intensity for {region}: the static limit"
    ci = _period_means(points, start, end - start, 1)[0]
    source = latest_actual_source(session, region, start)
    window = timedelta(seconds=CHASE_MAX_CI_WINDOW_S)
    past = (
        []
        if source is None
        else ci_series(session, region, source, start - window, start, signal=CiSignal.AVERAGE)
    )
    decision = plan_chase(grid, ci, [p.ci_g_per_kwh for p in past])
    return decision.index, (
        f"CI {decision.ci_g_per_kwh:.0f} of max {decision.max_ci_g_per_kwh:.0f} g/kWh"
    )


def _gpu_intervals(session: Session, job_id: int) -> list[StoredInterval]:
    return [i for i in job_intervals(session, job_id) if i.kind == DeviceKind.GPU]


def _job_profile(
    session: Session, job: SlurmJob, gpu: Sequence[StoredInterval]
) -> tuple[str | None, str | None, PowerProfile | None]:
    """The job's GPU model, workload key and the profile stored for them (None: not known).

    The profile is named by the key, its model the GPU model, its source the stored one.
    """
    model = next((i.device_model for i in gpu if i.device_model), None)
    key = workload_key(job.name, job.comment)
    found = None if model is None or key is None else stored_profile(session, model, key)
    if found is None:
        return model, key, None
    return model, key, PowerProfile(key or "", found.gpu_model, found.points, 0.0, found.source)


def job_slowdown(
    session: Session, job: SlurmJob, job_id: int
) -> tuple[Slowdown, PowerProfile] | None:
    """A finished capped job's slowdown against its own profile, and that profile.

    Measured (:func:`~slurm_carbon.control.slowdown.measured_slowdown`) over the
    job's run against the profile stored for its GPU model and workload key, the
    one its cap decisions used. None: the job ran no time or was never capped
    (no decision), or no profile is stored, or no interval's limit is known.
    """
    if job.start_time is None or job.end_time is None or not cap_timeline(session, job_id):
        return None
    gpu = _gpu_intervals(session, job_id)
    _, _, profile = _job_profile(session, job, gpu)
    if profile is None:
        return None
    spans = _spans(gpu, interval_caps(session, job_id))
    measured = measured_slowdown(spans, profile, job.start_time, job.end_time)
    return None if measured is None else (measured, profile)


def _spans(gpu: Sequence[StoredInterval], caps: dict[datetime, float]) -> list[CappedSpan]:
    """The job's GPU intervals with the limit in force over each (None: not known)."""
    return [CappedSpan(i.start, i.end, caps.get(i.start)) for i in gpu]


class CapDecider:
    """Decides running GPU jobs' power caps each period (see the module docstring).

    Args:
        factory: Sessions on the store.
        capping: The site's ``[capping]`` policy.
        site: Where a job's region comes from.
    """

    def __init__(self, factory: SessionFactory, capping: CappingConfig, site: Site) -> None:
        self._factory = factory
        self._capping = capping
        self._site = site
        self._noted: set[tuple[str, int]] = set()

    def decide(self, job: SlurmJob, now: datetime) -> CapDecisionRecord | None:
        """Record the job's cap for the period holding ``now``; the new record, else None."""
        policy = self._capping.policy_for(job.partition)
        if policy.policy == "none" or job.alloc_gpus <= 0 or job.start_time is None:
            return None
        try:
            if not parse_job_words(job.comment).cap:
                return None
        except BadJobWord:
            return None
        with transaction(self._factory) as session:
            record = self._decision(session, job, policy, now)
            if record is None or not record_decision(session, record):
                return None
        logger.info(
            "cap job=%s %g W until %s: %s",
            job.job_id,
            record.power_limit_w,
            record.period_end.isoformat(),
            escape_control(record.reason),
        )
        return record

    def _decision(
        self, session: Session, job: SlurmJob, policy: CappingPolicy, now: datetime
    ) -> CapDecisionRecord | None:
        stored = find_job(session, job.cluster, job.job_id_raw)
        if stored is None:
            return None
        period = timedelta(minutes=policy.period_min)
        start, end = period_of(now, period)
        timeline = cap_timeline(session, stored.id)
        decided = [d for d in timeline if d.policy != PROFILING_POLICY]
        if any(start <= d.period_start < end for d in decided):
            return None
        gpu = _gpu_intervals(session, stored.id)
        model, key, found = _job_profile(session, job, gpu)
        if found is not None:
            profile = found
        else:
            learned = self._learned(
                session,
                job,
                job_id=stored.id,
                gpu=gpu,
                model=model,
                key=key,
                timeline=timeline,
                now=now,
            )
            if not isinstance(learned, PowerProfile):
                return learned
            profile = learned
        latest = timeline[-1] if timeline else None
        if latest is not None and latest.policy == PROFILING_POLICY and latest.period_end > now:
            start = now  # after the profiling lease in force (the latest decision holds)
        grid = LimitGrid.of(profile)
        static = static_index(grid, policy.max_slowdown)
        budget = f"{policy.max_slowdown:.1%}"
        if policy.policy == "static":
            index = static
            why = f"least energy per unit of work within {budget} slowdown ({key})"
        elif policy.policy == "chase":
            region = self._site.region_for(job.partition, gpu[0].node)
            chase, why = _chase(session, grid, region=region, start=start, end=end, now=now)
            index = static if chase is None else chase
        else:
            carbon, why = self._carbon(
                session,
                job_id=stored.id,
                job=job,
                gpu=gpu,
                profile=profile,
                policy=policy,
                start=start,
                now=now,
            )
            index = static if carbon is None else carbon
        limit_w = float(grid.limits_w[index])
        return CapDecisionRecord(
            job_id=stored.id,
            device=None,
            period_start=start,
            period_end=end,
            power_limit_w=limit_w,
            policy=str(policy.policy),
            reason=f"{policy.policy}: {limit_w:g} W, {why}",
            decided_at=now,
        )

    def _learned(  # noqa: PLR0913 (the job, its intervals, what its profile is stored under)
        self,
        session: Session,
        job: SlurmJob,
        *,
        job_id: int,
        gpu: Sequence[StoredInterval],
        model: str | None,
        key: str | None,
        timeline: Sequence[CapDecisionRecord],
        now: datetime,
    ) -> PowerProfile | CapDecisionRecord | None:
        """Profiling online (``service.profiling``): the profile learned, else the decision.

        A settled profile is saved (source ``learned``, or
        ``learned:busy-clock-estimate``) when the job has a GPU model
        and a workload key; a job without them uses it for itself only.
        """
        missing = f"no power profile for GPU model {model!r}, workload key {key!r}"
        progress = job_progress(session, job_id)
        busy = interval_busy_clocks(session, job_id)
        if not progress and not busy:
            self._note_once(
                job,
                f"{missing}; not profiled: the job reports no progress and its GPUs no busy clock",
            )
            return None
        observations = gpu_observations(gpu, interval_caps(session, job_id), progress, busy)
        assert job.start_time is not None  # noqa: S101 (checked by decide)
        profiler = learn_online(
            observations,
            job.start_time,
            ended=job.end_time is not None,
            min_limit_w=gpu_min_limit_w(session, job_id),
        )
        if profiler is None:
            self._note_once(job, f"{missing}; not profiled yet: no GPU limit reported")
            return None
        if profiler.phase in (ProfilingPhase.WARMING_UP, ProfilingPhase.PROFILING):
            latest = timeline[-1] if timeline else None
            return profiling_decision(profiler, job_id=job_id, latest=latest, now=now)
        if not profiler.cacheable:
            return None  # ended mid-profiling: nothing to keep
        name = key or job.name
        source = PROFILE_LEARNED_BUSY_CLOCK if profiler.estimated else PROFILE_LEARNED
        try:
            profile = PowerProfile(name, model or "", profiler.points, 0.0, source)
        except ConfigError as error:
            self._note_once(job, f"the profile learned is not usable: {error}")
            return None
        if model is not None and key is not None:
            save_profile(session, StoredProfile(model, key, source, now, profile.points))
            logger.info(
                "learned the power profile of %s / %s from job=%s: %d limits",
                escape_control(model),
                escape_control(key),
                job.job_id,
                len(profile.points),
            )
        return profile

    def _carbon(  # noqa: PLR0913 (the job, its profile and the period)
        self,
        session: Session,
        *,
        job_id: int,
        job: SlurmJob,
        gpu: Sequence[StoredInterval],
        profile: PowerProfile,
        policy: CappingPolicy,
        start: datetime,
        now: datetime,
    ) -> tuple[int | None, str]:
        """Our policy's limit and its reason; None: no intensity ahead (the static limit)."""
        period = timedelta(minutes=policy.period_min)
        count = max(1, int(CAP_HORIZON / period))
        region = self._site.region_for(job.partition, gpu[0].node)
        points = ci_ahead(session, region, start, start + count * period, now)
        if not points:
            return None, f"no carbon intensity ahead for {region}: the static limit"
        ci = _period_means(points, start, period, count)
        assert job.start_time is not None  # noqa: S101 (checked by decide)
        elapsed_s = (now - job.start_time).total_seconds()
        spans = _spans(gpu, interval_caps(session, job_id))
        nominal = nominal_s(spans, profile, job.start_time, now)
        reported = job_progress(session, job_id)
        grid = LimitGrid.of(profile)
        top = float(grid.throughput[-1])
        done = reported[-1].fraction if reported else 0.0
        # The fraction is of the work done when it was reported (it reaches the store late).
        done_s = (
            nominal_s(spans, profile, job.start_time, min(reported[-1].time, now))
            if reported
            else 0.0
        )
        if done >= MIN_PROGRESS and nominal > 0 and done_s > 0:
            total_s = done_s / done
            work_left = top * (total_s - nominal)
            # A decision reaches the GPUs at the agent's next pull, up to CAP_POLL_S
            # late: keep in reserve what the limit in force until then can cost.
            late_s = CAP_POLL_S * (1 - float(grid.throughput.min()) / top)
            time_left_s = (1 + policy.max_slowdown) * total_s - elapsed_s - late_s
            # The budget is of the whole job's work: the time lost so far may be a
            # larger share of the work done so far (capped while dirty, early on).
            so_far = (
                f"{elapsed_s - nominal:.0f} s lost so far"
                f" ({elapsed_s / nominal - 1:.1%} of the work done) of the"
                f" {policy.max_slowdown * total_s:.0f} s allowed"
                f" ({policy.max_slowdown:.1%} of {total_s:.0f} s of work)"
            )
        else:  # no progress: none incurred, the budget kept over the window
            window_s = count * period.total_seconds()
            work_left = top * window_s
            time_left_s = (1 + policy.max_slowdown) * window_s
            so_far = f"no progress reported: {policy.max_slowdown:.1%} kept over each window"
        decision = plan_carbon(grid, ci, period.total_seconds(), work_left, time_left_s)
        return decision.index, (
            f"CI {ci[0]:.0f} g/kWh now vs {np.mean(ci):.0f} mean ahead, {so_far}"
        )

    def _note_once(self, job: SlurmJob, why: str) -> None:
        if (job.cluster, job.job_id_raw) not in self._noted:
            self._noted.add((job.cluster, job.job_id_raw))
            logger.info("no cap for job=%s: %s", job.job_id, escape_control(why))
