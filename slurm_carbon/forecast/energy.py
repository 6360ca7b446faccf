"""Remaining energy of a running job: a cap-aware forecast and the Carbontracker baseline.

The baseline (:func:`baseline_remaining_j`, Carbontracker's predictor) assumes
the rest of the job costs what the part done so far cost per unit of work:
``energy so far / progress x (1 - progress)``. It is biased as soon as the GPU
power cap changes, since energy per unit of work depends on the cap.

:func:`forecast_remaining` is cap-aware. Work and GPU energy are modelled per
cap by a power curve (a measured profile, or, without one, the rates observed
so far at each cap): at cap ``c`` the job does ``k * throughput(c)`` of its
work per second and draws ``m * P(c)`` watts, where ``k`` and ``m`` are fitted
on the measured periods (ratios of sums). The remaining GPU energy is then
``sum_t m * P(cap_t) * work_t / (k * throughput(cap_t))`` over the caps in
force now and planned ahead; other device kinds (CPU, DRAM) draw their past
mean power for the remaining time.

The interval comes from the spread, between measured periods, of the job's
energy per unit of work relative to the curve (its standard error shrinks with
the periods seen and with the periods still to come), plus a fixed allowance
for caps the job has not run at yet (the curve's shape is then trusted, not
measured on this job); it is never narrower than :data:`MIN_REL`.

Without progress (less than :data:`MIN_PROGRESS`), the forecast is bounded by the
time limit: the job runs at most ``time_left_s`` more at its past power, so the
point is past mean power x time left, the interval ``[0, highest period power x
time left]``.

Units: energy in joules (``_j``), power in watts (``_w``), time in seconds (``_s``);
progress and work are fractions of the job (0..1).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from slurm_carbon.vocabulary import DeviceKind

__all__ = [
    "FIRST_PERIODS_REL",
    "MIN_PROGRESS",
    "MIN_REL",
    "UNSEEN_CAP_REL",
    "UNSEEN_CAP_REL_NO_PROFILE",
    "Z_90",
    "CapChange",
    "EnergyForecast",
    "MeasuredPeriod",
    "PowerCurve",
    "baseline_remaining_j",
    "forecast_remaining",
]

#: Two-sided 90 % quantile of the normal distribution: intervals are 90 % intervals.
Z_90 = 1.645
#: Relative half-width when fewer than two progress segments are measured, so no
#: spread can be estimated: Carbontracker's paper reports up to 19.1 % error
#: after one epoch.
FIRST_PERIODS_REL = 0.20
#: The least progress a forecast is made from: below it, the work done so far is too
#: little to scale up (a job's first report, a few seconds in, says 0.0001 and would
#: forecast ten thousand times what it used), and the job counts as reporting none.
MIN_PROGRESS = 0.01
#: The narrowest relative half-width claimed: what the spread between segments cannot
#: show (progress interpolated between reports, the agent's sampling at interval
#: edges) is not zero although a steady job's segments agree (on the local cluster a
#: simulated job's segments agreed to 0.04 % and the forecast was 0.13 % off).
MIN_REL = 0.01
#: Relative error of a measured profile's energy per unit of work when carried
#: from the caps a job ran at to a cap it has not run at yet. Zeus measured each
#: configuration once; a job is not the profiled run, so its curve may tilt.
UNSEEN_CAP_REL = 0.03
#: The same without a profile: the nearest observed cap stands in for an unseen
#: one, which can be far off (Zeus V100 ResNet-50: energy per epoch moves ~25 %
#: between 100 W and 250 W).
UNSEEN_CAP_REL_NO_PROFILE = 0.25
#: Caps closer than this are the same cap. Units: watts.
_SAME_CAP_W = 0.5
#: The cap of a period without one, for the observed curve: above any board. Units: watts.
_NO_CAP_W = 1e6
#: Floor of observed rates, so that a cap with no work seen does not divide by zero.
_TINY = 1e-12


class CurvePoint(Protocol):
    """Power and throughput at one cap (``sensors.profiles.ProfilePoint`` fits)."""

    @property
    def power_w(self) -> float:
        """Average draw. Units: watts."""
        ...

    @property
    def throughput(self) -> float:
        """Work per second, in the curve's own unit. Units: units/s."""
        ...


class PowerCurve(Protocol):
    """Power and throughput as functions of the cap (``sensors.profiles.PowerProfile`` fits)."""

    @property
    def max_limit_w(self) -> float:
        """The highest limit: the cap of a period that has none. Units: watts."""
        ...

    def at(self, limit_w: float) -> CurvePoint:
        """Power and throughput at ``limit_w``."""
        ...


@dataclass(frozen=True)
class MeasuredPeriod:
    """One measured interval of a running job.

    Attributes:
        duration_s: Its length. Units: seconds, > 0.
        energy_j: Energy per device kind (``"gpu"``, ``"cpu"``, ``"dram"``). Units: joules.
        cap_w: The GPU power cap in force, ``None`` for none (the curve's
            highest limit). Units: watts.
        progress: Fraction of the job's work done at the period's end, ``None``
            when the job did not say.
    """

    duration_s: float
    energy_j: Mapping[str, float]
    cap_w: float | None = None
    progress: float | None = None


@dataclass(frozen=True)
class CapChange:
    """A planned cap: from ``after_s`` seconds after the last period on, ``cap_w`` holds."""

    after_s: float
    cap_w: float


@dataclass(frozen=True)
class EnergyForecast:
    """Remaining energy and time of a job, with 90 % intervals.

    Attributes:
        remaining_j: Point forecast per device kind. Units: joules.
        total_j: Their sum. Units: joules.
        low_j: Lower end of the interval of ``total_j``. Units: joules.
        high_j: Upper end. Units: joules.
        remaining_s: Time until the job ends. Units: seconds.
        remaining_low_s: Lower end of its interval. Units: seconds.
        remaining_high_s: Upper end. Units: seconds.
        method: ``"profile"`` (a power curve given), ``"observed"`` (the rates
            seen per cap) or ``"time_limit"`` (no progress: a bound).
    """

    remaining_j: Mapping[str, float]
    total_j: float
    low_j: float
    high_j: float
    remaining_s: float
    remaining_low_s: float
    remaining_high_s: float
    method: str


def baseline_remaining_j(energy_so_far_j: float, progress: float) -> float:
    """Carbontracker's predictor: energy so far / progress x remaining progress. Units: joules."""
    if not 0 < progress <= 1:
        raise ValueError(f"progress {progress!r} not in (0, 1]")
    return energy_so_far_j / progress * (1 - progress)


@dataclass(frozen=True)
class _Segment:
    """Periods between two progress reports, with what the curve expects of them."""

    duration_s: float
    work: float
    gpu_j: float
    curve_work: float
    curve_gpu_j: float


@dataclass(frozen=True)
class _ObservedPoint:
    power_w: float
    throughput: float


@dataclass(frozen=True)
class _ObservedCurve:
    """Without a profile: the job's own rates per cap; an unseen cap takes the nearest's."""

    rates: tuple[tuple[float, _ObservedPoint], ...]
    max_limit_w: float

    def at(self, limit_w: float) -> _ObservedPoint:
        return min(self.rates, key=lambda pair: abs(pair[0] - limit_w))[1]


def forecast_remaining(
    periods: Sequence[MeasuredPeriod],
    *,
    profile: PowerCurve | None = None,
    plan: Sequence[CapChange] = (),
    time_left_s: float | None = None,
) -> EnergyForecast:
    """Forecast a running job's remaining energy per device kind and its end.

    Args:
        periods: The measured periods so far, in order.
        profile: The job's power curve when known (e.g. a Zeus profile).
        plan: Cap changes planned after the last period, by ``after_s``.
        time_left_s: Time until the job's time limit; needed without progress.

    Returns:
        The forecast; see the module docstring for the model.

    Raises:
        ValueError: No periods, a bad value in them, or neither progress nor
            ``time_left_s``.
    """
    if not periods:
        raise ValueError("no measured periods")
    for period in periods:
        _check(period)
    known = [p.progress for p in periods if p.progress is not None]
    done = max(known, default=0.0)
    if done < MIN_PROGRESS:
        if time_left_s is None or not math.isfinite(time_left_s) or time_left_s < 0:
            raise ValueError(
                f"with less than {MIN_PROGRESS:.0%} progress, a time left >= 0 is needed"
            )
        return _bounded_by_time_limit(periods, time_left_s)
    if done >= 1:
        return EnergyForecast(dict.fromkeys(_kinds(periods), 0.0), 0.0, 0.0, 0.0, 0, 0, 0, "done")
    method = "profile" if profile is not None else "observed"
    curve: PowerCurve = profile if profile is not None else _observed_curve(periods)
    segments = _segments(periods, curve)
    work = sum(s.work for s in segments)
    k = work / sum(s.curve_work for s in segments)
    m = sum(s.gpu_j for s in segments) / sum(s.curve_gpu_j for s in segments)
    now_cap = _cap(periods[-1].cap_w, curve)
    seen = {_cap(p.cap_w, curve) for p in periods}
    schedule = _schedule(now_cap, plan)
    remaining_s, gpu_j, unseen_j = _walk(schedule, 1 - done, (k, m), curve, seen)
    elapsed = sum(p.duration_s for p in periods)
    remaining = {
        kind: (gpu_j if kind == DeviceKind.GPU else energy / elapsed * remaining_s)
        for kind, energy in _totals(periods).items()
    }
    remaining.setdefault(DeviceKind.GPU, gpu_j)
    total = sum(remaining.values())
    mean_segment_s = sum(s.duration_s for s in segments) / len(segments)
    future = max(1.0, remaining_s / mean_segment_s)
    energy_rel, time_rel = (max(rel, MIN_REL) for rel in _spreads(segments, k, m, future))
    transfer = UNSEEN_CAP_REL if profile is not None else UNSEEN_CAP_REL_NO_PROFILE
    energy_rel += transfer * (unseen_j / gpu_j if gpu_j > 0 else 0.0)
    time_rel += transfer * (unseen_j / gpu_j if gpu_j > 0 else 0.0)
    return EnergyForecast(
        remaining_j=remaining,
        total_j=total,
        low_j=max(0.0, total * (1 - energy_rel)),
        high_j=total * (1 + energy_rel),
        remaining_s=remaining_s,
        remaining_low_s=max(0.0, remaining_s * (1 - time_rel)),
        remaining_high_s=remaining_s * (1 + time_rel),
        method=method,
    )


def _check(period: MeasuredPeriod) -> None:
    if not (math.isfinite(period.duration_s) and period.duration_s > 0):
        raise ValueError(f"period duration {period.duration_s!r} s not > 0")
    for kind, energy in period.energy_j.items():
        if not (math.isfinite(energy) and energy >= 0):
            raise ValueError(f"period {kind} energy {energy!r} J not >= 0")
    if period.cap_w is not None and not (math.isfinite(period.cap_w) and period.cap_w > 0):
        raise ValueError(f"period cap {period.cap_w!r} W not > 0")
    if period.progress is not None and not 0 <= period.progress <= 1:
        raise ValueError(f"progress {period.progress!r} not in [0, 1]")


def _kinds(periods: Sequence[MeasuredPeriod]) -> list[str]:
    return sorted({kind for p in periods for kind in p.energy_j})


def _totals(periods: Sequence[MeasuredPeriod]) -> dict[str, float]:
    totals = dict.fromkeys(_kinds(periods), 0.0)
    for period in periods:
        for kind, energy in period.energy_j.items():
            totals[kind] += energy
    return totals


def _cap(cap_w: float | None, curve: PowerCurve) -> float:
    return curve.max_limit_w if cap_w is None else cap_w


def _observed_curve(periods: Sequence[MeasuredPeriod]) -> _ObservedCurve:
    """Work and GPU power per cap, from the progress segments spent at one cap."""
    by_cap: dict[float, list[float]] = {}  # cap -> [seconds, work, gpu J]
    previous = 0.0
    pending: list[MeasuredPeriod] = []
    for period in periods:
        pending.append(period)
        if period.progress is None:
            continue
        caps = {_NO_CAP_W if p.cap_w is None else p.cap_w for p in pending}
        if len(caps) == 1:  # a segment that straddles a change says nothing of either cap
            acc = by_cap.setdefault(caps.pop(), [0.0, 0.0, 0.0])
            acc[0] += sum(p.duration_s for p in pending)
            acc[1] += max(0.0, period.progress - previous)
            acc[2] += sum(p.energy_j.get(DeviceKind.GPU, 0.0) for p in pending)
        previous = max(previous, period.progress)
        pending = []
    if not by_cap:  # every segment straddles a change: one rate for all caps
        seconds = sum(p.duration_s for p in periods)
        gpu_j = sum(p.energy_j.get(DeviceKind.GPU, 0.0) for p in periods)
        by_cap[_NO_CAP_W] = [seconds, previous, gpu_j]
    rates = tuple(
        (cap, _ObservedPoint(max(gpu_j / seconds, _TINY), max(work / seconds, _TINY)))
        for cap, (seconds, work, gpu_j) in sorted(by_cap.items())
    )
    return _ObservedCurve(rates, max_limit_w=_NO_CAP_W)


def _segments(periods: Sequence[MeasuredPeriod], curve: PowerCurve) -> list[_Segment]:
    segments = []
    previous = 0.0
    seconds = gpu_j = curve_work = curve_gpu_j = 0.0
    for period in periods:
        point = curve.at(_cap(period.cap_w, curve))
        seconds += period.duration_s
        gpu_j += period.energy_j.get(DeviceKind.GPU, 0.0)
        curve_work += point.throughput * period.duration_s
        curve_gpu_j += point.power_w * period.duration_s
        if period.progress is not None and period.progress > previous:
            segments.append(
                _Segment(seconds, period.progress - previous, gpu_j, curve_work, curve_gpu_j)
            )
            previous = period.progress
            seconds = gpu_j = curve_work = curve_gpu_j = 0.0
    return segments


def _schedule(now_cap: float, plan: Sequence[CapChange]) -> list[tuple[float, float]]:
    """(start s, cap W) from now on, starts increasing, the first at 0."""
    for change in plan:
        if not (math.isfinite(change.after_s) and change.after_s >= 0):
            raise ValueError(f"planned change at {change.after_s!r} s not >= 0")
        if not (math.isfinite(change.cap_w) and change.cap_w > 0):
            raise ValueError(f"planned cap {change.cap_w!r} W not > 0")
    schedule = [(0.0, now_cap)]
    for change in sorted(plan, key=lambda c: c.after_s):
        if change.after_s <= schedule[-1][0]:
            schedule[-1] = (schedule[-1][0], change.cap_w)
        else:
            schedule.append((change.after_s, change.cap_w))
    return schedule


def _walk(
    schedule: list[tuple[float, float]],
    left: float,
    scale: tuple[float, float],
    curve: PowerCurve,
    seen: set[float],
) -> tuple[float, float, float]:
    """Seconds and GPU joules to do ``left`` of the work; joules spent at unseen caps.

    ``scale`` is ``(k, m)``: the job's work rate and GPU power relative to the curve.
    """
    k, m = scale
    now = gpu_j = unseen_j = 0.0
    for index, (start, cap) in enumerate(schedule):
        point = curve.at(cap)
        rate = k * point.throughput
        end = schedule[index + 1][0] if index + 1 < len(schedule) else math.inf
        seconds = min(end - start, left / rate)
        energy = m * point.power_w * seconds
        gpu_j += energy
        if all(abs(cap - other) > _SAME_CAP_W for other in seen):
            unseen_j += energy
        left -= rate * seconds
        now = start + seconds
        if left <= 1e-12 * rate:
            break
    return now, gpu_j, unseen_j


def _spreads(
    segments: Sequence[_Segment], k: float, m: float, future: float
) -> tuple[float, float]:
    """Relative half-widths of remaining energy and remaining time."""
    if len(segments) < 2:
        return FIRST_PERIODS_REL, FIRST_PERIODS_REL
    # Each segment's work rate and energy per work, relative to the fitted k and m/k.
    rate = [s.work / s.curve_work / k for s in segments]
    per_work = [(s.gpu_j / s.curve_gpu_j) / (s.work / s.curve_work) / (m / k) for s in segments]
    weights = [s.curve_work for s in segments]
    scale = math.sqrt(1 / _effective_count(weights) + 1 / future)
    return Z_90 * statistics.pstdev(per_work) * scale, Z_90 * statistics.pstdev(rate) * scale


def _effective_count(weights: Sequence[float]) -> float:
    """Kish's effective sample size of weighted segments."""
    return sum(weights) ** 2 / sum(w * w for w in weights)


def _bounded_by_time_limit(periods: Sequence[MeasuredPeriod], time_left_s: float) -> EnergyForecast:
    elapsed = sum(p.duration_s for p in periods)
    remaining = {kind: energy / elapsed * time_left_s for kind, energy in _totals(periods).items()}
    highest_w = max(sum(p.energy_j.values()) / p.duration_s for p in periods)
    total = sum(remaining.values())
    return EnergyForecast(
        remaining_j=remaining,
        total_j=total,
        low_j=0.0,
        high_j=highest_w * time_left_s,
        remaining_s=time_left_s,
        remaining_low_s=0.0,
        remaining_high_s=time_left_s,
        method="time_limit",
    )
