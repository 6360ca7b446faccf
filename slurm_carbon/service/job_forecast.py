"""A running job's forecast: energy and CO2e so far, remaining and in total, from the store.

:func:`forecast_job` (a job as Slurm lists it) and :func:`forecast_stored` (a
stored job, as the report lists it) gather what the pure forecasters need:

- the footprint so far, as the job's result is computed
  (:func:`~slurm_carbon.service.results.stored_footprint`: its own intervals,
  its share of unmeasured node parts, CI x PUE);
- its periods: those spans grouped by interval start, energy summed per device
  kind over all devices; each period's progress is the job's reports
  interpolated to the period's end (carried on at the latest rate after the
  last report; see :func:`_progress_at`);
- the carbon intensity ahead of its region
  (:func:`~slurm_carbon.service.ci_forecast.ci_ahead`), or, when none is
  stored, the series the footprint used with its latest value carried forward
  (persistence; ``ci_source`` then says so).

The remaining energy is :func:`slurm_carbon.forecast.forecast_remaining`
(no power cap is stored yet, so every period is uncapped); the remaining CO2e
is :func:`slurm_carbon.forecast.remaining_co2e` over ``[now, forecast end)``.
A job that reported no progress is bounded by its time limit instead (method
``time_limit``: its mean power so far until the limit, at most its highest
period's power until then; a bound, not a confident forecast); with no time
limit either (UNLIMITED, or not known) it has no forecast (:class:`NoForecast`).

Units: energy in joules at the devices (before PUE), emissions in grams CO2e
(after PUE), times aware UTC.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from slurm_carbon.accounting import EnergySpan
from slurm_carbon.forecast import MeasuredPeriod, forecast_remaining, remaining_co2e
from slurm_carbon.forecast.carbon import MAX_AHEAD_S
from slurm_carbon.forecast.energy import MIN_PROGRESS
from slurm_carbon.intensity.base import CiPoint, IntensityProvider
from slurm_carbon.service.ci_forecast import ci_ahead
from slurm_carbon.service.results import JobFootprint, NoEnergy, stored_footprint
from slurm_carbon.service.site import Site
from slurm_carbon.slurm import SlurmJob
from slurm_carbon.store import Session
from slurm_carbon.store.caps import interval_caps
from slurm_carbon.store.progress import ProgressPoint, job_progress
from slurm_carbon.store.results import find_job
from slurm_carbon.units import J_PER_KWH
from slurm_carbon.vocabulary import TIME_LIMIT_BOUND

__all__ = [
    "CARRIED_CI",
    "EXTRAPOLATED_SHARE",
    "JobForecast",
    "NoForecast",
    "forecast_from_footprint",
    "forecast_job",
    "forecast_stored",
]

#: Appended to ``ci_source`` when no carbon intensity ahead is stored: the
#: footprint's own series, its latest value carried forward.
CARRIED_CI = " (latest carried forward: no forecast stored)"
#: How far towards the end of the work the progress after the last report is carried
#: (:func:`_progress_at`): never to 1, which would say the job is done.
EXTRAPOLATED_SHARE = 0.5


class NoForecast(NoEnergy):
    """Nothing to forecast from: the job reported no progress and its time limit is not known.

    A :class:`~slurm_carbon.service.results.NoEnergy`, so that whoever handles
    "nothing stored yet" handles this too.
    """


@dataclass(frozen=True)
class JobForecast:
    """A running job's footprint so far and forecast ahead, with 90 % intervals.

    Attributes:
        at: When it was made (aware UTC).
        progress: The latest fraction the job reported; None: it did not say.
        method: How the remaining energy was forecast
            (:attr:`slurm_carbon.forecast.EnergyForecast.method`).
        energy_so_far_j: Energy at the devices so far. Units: joules.
        co2e_so_far_g: Emissions so far (after PUE). Units: grams CO2e.
        remaining_energy_j: Forecast energy still to come. Units: joules.
        remaining_energy_low_j: Low end of its 90 % interval. Units: joules.
        remaining_energy_high_j: High end. Units: joules.
        remaining_co2e_g: Forecast emissions still to come. Units: grams CO2e.
        remaining_co2e_low_g: Low end of its 90 % interval. Units: grams CO2e.
        remaining_co2e_high_g: High end. Units: grams CO2e.
        end_time: Forecast end; None without progress (a time-limit bound).
        ci_source: Where the carbon intensity ahead came from.
    """

    at: datetime
    progress: float | None
    method: str
    energy_so_far_j: float
    co2e_so_far_g: float
    remaining_energy_j: float
    remaining_energy_low_j: float
    remaining_energy_high_j: float
    remaining_co2e_g: float
    remaining_co2e_low_g: float
    remaining_co2e_high_g: float
    end_time: datetime | None
    ci_source: str

    @property
    def bound(self) -> bool:
        """Whether it is a bound by the time limit (no progress), not a confident forecast."""
        return self.method == TIME_LIMIT_BOUND

    @property
    def total_energy_j(self) -> float:
        """So far plus remaining. Units: joules."""
        return self.energy_so_far_j + self.remaining_energy_j

    @property
    def total_energy_low_j(self) -> float:
        """So far plus the remaining interval's low end. Units: joules."""
        return self.energy_so_far_j + self.remaining_energy_low_j

    @property
    def total_energy_high_j(self) -> float:
        """So far plus the remaining interval's high end. Units: joules."""
        return self.energy_so_far_j + self.remaining_energy_high_j

    @property
    def total_co2e_g(self) -> float:
        """So far plus remaining. Units: grams CO2e."""
        return self.co2e_so_far_g + self.remaining_co2e_g

    @property
    def total_co2e_low_g(self) -> float:
        """So far plus the remaining interval's low end. Units: grams CO2e."""
        return self.co2e_so_far_g + self.remaining_co2e_low_g

    @property
    def total_co2e_high_g(self) -> float:
        """So far plus the remaining interval's high end. Units: grams CO2e."""
        return self.co2e_so_far_g + self.remaining_co2e_high_g


def forecast_job(
    session: Session, job: SlurmJob, *, site: Site, intensity: IntensityProvider, now: datetime
) -> JobForecast:
    """The forecast of a running job as Slurm lists it; nothing is written.

    Raises:
        NoEnergy: nothing of the job is stored.
        NoForecast: it reported no progress and has no time limit (a kind of NoEnergy).
        IntensityUnavailable: no carbon intensity for its region and time.
    """
    stored = find_job(session, job.cluster, job.job_id_raw)
    if stored is None:
        raise NoEnergy(f"job {job.job_id}: not stored")
    return forecast_stored(
        session,
        stored.id,
        label=job.job_id,
        partition=job.partition,
        node_list=job.node_list,
        start=job.start_time,
        time_limit_s=job.time_limit_s,
        site=site,
        intensity=intensity,
        now=now,
    )


def forecast_stored(  # noqa: PLR0913 (the stored job, as Slurm runs it, and the context)
    session: Session,
    job_id: int,
    *,
    label: str,
    partition: str,
    node_list: str | None,
    start: datetime | None,
    time_limit_s: float | None,
    site: Site,
    intensity: IntensityProvider,
    now: datetime,
) -> JobForecast:
    """The forecast of the stored running job ``job_id`` (``jobs.id``); see the module docstring.

    ``time_limit_s`` is Slurm's time limit (None: UNLIMITED or not known), from
    ``start``. Units: seconds.

    Raises:
        NoEnergy: nothing of the job is stored.
        NoForecast: it reported no progress and has no time limit (a kind of NoEnergy).
        IntensityUnavailable: no carbon intensity for its region and time.
    """
    found = stored_footprint(
        session,
        job_id,
        label=label,
        partition=partition,
        node_list=node_list,
        run=(start, now),
        site=site,
        intensity=intensity,
    )
    return forecast_from_footprint(
        session, job_id, found, label=label, start=start, time_limit_s=time_limit_s, now=now
    )


def forecast_from_footprint(  # noqa: PLR0913 (the stored job, its footprint, as Slurm runs it)
    session: Session,
    job_id: int,
    found: JobFootprint,
    *,
    label: str,
    start: datetime | None,
    time_limit_s: float | None,
    now: datetime,
) -> JobForecast:
    """The forecast of the stored running job ``job_id`` from its footprint so far.

    ``found`` is :func:`~slurm_carbon.service.results.stored_footprint` over
    ``[start, now)``: the writer's sweep computes it once for this and the live value.

    Raises:
        NoForecast: it reported no progress and has no time limit (a kind of NoEnergy).
    """
    reported = job_progress(session, job_id)
    periods = _periods(found.spans, reported, interval_caps(session, job_id))
    time_left_s = _time_left_s(start, time_limit_s, now)
    done = max((period.progress or 0.0 for period in periods), default=0.0)
    if time_left_s is None and done < MIN_PROGRESS:
        raise NoForecast(
            f"job {label}: no progress reported, and no time limit (UNLIMITED or not known)"
        )
    energy = forecast_remaining(periods, time_left_s=time_left_s)
    ahead, ci_source = _ci_ahead(session, found, now, energy.remaining_high_s)
    carbon = remaining_co2e(energy, now, ahead, found.pue)
    return JobForecast(
        at=now,
        progress=reported[-1].fraction if reported else None,
        method=energy.method,
        energy_so_far_j=found.figures.device_kwh * J_PER_KWH,
        co2e_so_far_g=found.figures.co2e_g,
        remaining_energy_j=energy.total_j,
        remaining_energy_low_j=energy.low_j,
        remaining_energy_high_j=energy.high_j,
        remaining_co2e_g=carbon.co2e_g,
        remaining_co2e_low_g=carbon.low_g,
        remaining_co2e_high_g=carbon.high_g,
        end_time=(
            None
            if energy.method == TIME_LIMIT_BOUND
            else now + timedelta(seconds=min(energy.remaining_s, MAX_AHEAD_S))
        ),
        ci_source=ci_source,
    )


def _time_left_s(start: datetime | None, time_limit_s: float | None, now: datetime) -> float | None:
    """Seconds from ``now`` to the job's time limit (0 once past it); None without a limit."""
    if start is None or time_limit_s is None:
        return None
    return max(0.0, (start + timedelta(seconds=time_limit_s) - now).total_seconds())


def _periods(
    spans: Sequence[EnergySpan],
    reported: Sequence[ProgressPoint],
    caps: Mapping[datetime, float] | None = None,
) -> list[MeasuredPeriod]:
    """The spans grouped by start, kinds summed; progress at each end (:func:`_progress_at`).

    ``caps`` is the GPUs' mean power limit per start where every GPU reported
    one (:func:`~slurm_carbon.store.caps.interval_caps`); other periods have no
    cap, which the forecaster reads as the highest limit. Units: watts.
    """
    caps = caps or {}
    by_start: dict[datetime, tuple[datetime, dict[str, float]]] = {}
    for span in sorted(spans, key=lambda s: s.start):
        end, energy_j = by_start.get(span.start, (span.end, {}))
        kind = str(span.device_kind)
        energy_j[kind] = energy_j.get(kind, 0.0) + span.energy_j
        by_start[span.start] = (max(end, span.end), energy_j)
    first = min(by_start, default=None)
    return [
        MeasuredPeriod(
            duration_s=(end - start).total_seconds(),
            energy_j=energy_j,
            cap_w=caps.get(start),
            progress=_progress_at(reported, end, first),
        )
        for start, (end, energy_j) in by_start.items()
    ]


def _progress_at(
    reported: Sequence[ProgressPoint], end: datetime, first: datetime | None
) -> float | None:
    """The job's progress at ``end``, from its reports (oldest first).

    Reports and periods do not end together (a job reports every epoch, the agent
    ships every interval): taking the latest report as the progress at a period's
    end would count the work done since that report twice, once in the energy so
    far and once in what is left. So the progress is interpolated between the
    reports around ``end``, before the first one from no work at the first
    measured period's start ``first`` (a job whose first report comes after the
    last stored interval is forecast all the same), and after the last report
    carried on at the rate of the last two (of the last report since ``first``
    when there is one report), which is the constant rate the forecaster
    assumes; it stops :data:`EXTRAPOLATED_SHARE` of the way to 1. None: no
    report at all.
    """
    before = [p for p in reported if p.time <= end]
    if not before:  # from no work at the first measured instant to the first report
        if first is None or not reported or reported[0].time <= first or end <= first:
            return None
        share = (end - first) / (reported[0].time - first)
        return share * reported[0].fraction
    last = before[-1]
    after = next((p for p in reported if p.time > end), None)
    if after is not None:
        share = (end - last.time) / (after.time - last.time)
        return last.fraction + share * (after.fraction - last.fraction)
    since, done = (before[-2].time, before[-2].fraction) if len(before) > 1 else (first, 0.0)
    if since is None or since >= last.time or last.fraction <= done:
        return last.fraction
    rate = (last.fraction - done) / (last.time - since).total_seconds()
    carried = last.fraction + rate * (end - last.time).total_seconds()
    return min(carried, last.fraction + EXTRAPOLATED_SHARE * (1 - last.fraction))


def _ci_ahead(
    session: Session, found: JobFootprint, now: datetime, ahead_s: float
) -> tuple[list[CiPoint], str]:
    """The carbon intensity ahead and where it came from (the footprint's series carried)."""
    end = now + timedelta(seconds=min(max(ahead_s, 1.0), MAX_AHEAD_S))
    points = ci_ahead(session, found.region, now, end, now)
    if points:
        return points, ",".join(sorted({p.source for p in points}))
    sources = ",".join(sorted({p.source for p in found.points}))
    return list(found.points), sources + CARRIED_CI
