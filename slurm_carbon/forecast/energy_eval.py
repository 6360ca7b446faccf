"""Replay simulated jobs on a power profile and score remaining-energy forecasts.

Each simulated job differs from the profile it is forecast with, as a real job
would: its throughput and GPU power are the profile's scaled by unknown
factors (another batch size, another GPU count), tilted across caps (a job is
not the profiled run), and noisy from period to period. It also draws a
constant CPU+DRAM power. Jobs run in scenarios:

* ``constant_cap``: one cap, drawn at random, for the whole job;
* ``cap_changes``: the job starts uncapped (the highest limit), then its cap
  changes every few periods to a random one, as a carbon-aware controller
  would once the grid gets dirtier; the
  forecaster is told the caps planned ahead (the control layer plans them),
  the Carbontracker baseline cannot use them.

After 10 %, 25 % and 50 % of the work, both forecast the remaining energy of
the whole job (all device kinds); the score is the mean absolute percentage
error against the simulated truth, and, for ours, how often the truth fell in
the 90 % interval.

Units: seconds, joules, watts; progress and shares are fractions.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from slurm_carbon.forecast.energy import (
    CapChange,
    MeasuredPeriod,
    PowerCurve,
    baseline_remaining_j,
    forecast_remaining,
)
from slurm_carbon.vocabulary import DeviceKind

__all__ = [
    "CAP_HOLD_PERIODS",
    "CHECKPOINTS",
    "JOB_PERIODS_AT_MAX",
    "PERIOD_S",
    "POWER_NOISE",
    "PROFILE_TILT",
    "SCENARIOS",
    "THROUGHPUT_NOISE",
    "EvaluatedProfile",
    "checkpoint_name",
    "evaluate_job_energy",
]

#: Progress at which the forecasts are scored.
CHECKPOINTS = (0.10, 0.25, 0.50)
#: Scenario names, in the order they are reported.
SCENARIOS = ("constant_cap", "cap_changes")
#: Length of one measured period. Units: seconds.
PERIOD_S = 60.0
#: A job's length in periods at the highest cap (so 10 % progress = 20 periods).
JOB_PERIODS_AT_MAX = 200
#: Range of periods a cap holds in ``cap_changes``.
CAP_HOLD_PERIODS = (10, 40)
#: Relative standard deviation of a period's work rate (data loading, evaluation steps).
THROUGHPUT_NOISE = 0.05
#: Relative standard deviation of a period's GPU power.
POWER_NOISE = 0.03
#: Standard deviation of the job's tilt away from the profile, relative, from
#: the lowest to the highest cap (throughput and power tilt independently).
PROFILE_TILT = 0.02
#: Range of the unknown factor between the profile's throughput and the job's.
THROUGHPUT_SCALE = (0.5, 2.0)
#: Range of the unknown factor between the profile's GPU power and the job's.
POWER_SCALE = (0.8, 1.2)
#: CPU + DRAM power of a simulated job. Units: watts.
HOST_POWER_W = 80.0


class _Profile(PowerCurve, Protocol):
    @property
    def min_limit_w(self) -> float:
        """The lowest limit. Units: watts."""
        ...


@dataclass(frozen=True)
class EvaluatedProfile:
    """MAPE per scenario, method and checkpoint; interval coverage of ours.

    Attributes:
        mape: ``scenario -> method ("ours", "baseline") -> checkpoint -> MAPE in percent``.
        coverage: ``scenario -> checkpoint -> percent of jobs whose truth lay in our interval``.
        jobs: Jobs per scenario.
    """

    mape: dict[str, dict[str, dict[str, float]]]
    coverage: dict[str, dict[str, float]]
    jobs: int

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"jobs": self.jobs, "mape_percent": self.mape, "coverage_percent": self.coverage}


def checkpoint_name(share: float) -> str:
    """``0.1 -> "10%"``."""
    return f"{round(share * 100)}%"


def evaluate_job_energy(profile: _Profile, *, jobs: int, seed: int) -> EvaluatedProfile:
    """Simulate ``jobs`` jobs per scenario on ``profile`` and score both forecasters."""
    rng = random.Random(seed)  # noqa: S311 -- a simulation, reproducible by its seed
    mape: dict[str, dict[str, dict[str, float]]] = {}
    coverage: dict[str, dict[str, float]] = {}
    for scenario in SCENARIOS:
        errors: dict[str, dict[str, list[float]]] = {"ours": {}, "baseline": {}}
        inside: dict[str, list[bool]] = {}
        for _ in range(jobs):
            for share, ours, low, high, baseline, truth in _one_job(
                profile, rng, changes=scenario == "cap_changes"
            ):
                name = checkpoint_name(share)
                errors["ours"].setdefault(name, []).append(abs(ours - truth) / truth)
                errors["baseline"].setdefault(name, []).append(abs(baseline - truth) / truth)
                inside.setdefault(name, []).append(low <= truth <= high)
        mape[scenario] = {
            method: {name: round(100 * sum(v) / len(v), 2) for name, v in by.items()}
            for method, by in errors.items()
        }
        coverage[scenario] = {name: round(100 * sum(v) / len(v), 1) for name, v in inside.items()}
    return EvaluatedProfile(mape, coverage, jobs)


def _one_job(
    profile: _Profile, rng: random.Random, *, changes: bool
) -> list[tuple[float, float, float, float, float, float]]:
    """(checkpoint, ours, low, high, baseline, true remaining J) for one simulated job."""
    low_w, high_w = profile.min_limit_w, profile.max_limit_w
    k = rng.uniform(*THROUGHPUT_SCALE)
    m = rng.uniform(*POWER_SCALE)
    tilt_k, tilt_m = rng.gauss(0, PROFILE_TILT), rng.gauss(0, PROFILE_TILT)
    span = max(high_w - low_w, 1e-9)

    def true_rates(cap: float) -> tuple[float, float]:
        point = profile.at(cap)
        where = (cap - low_w) / span - 0.5
        return k * point.throughput * (1 + tilt_k * where), m * point.power_w * (1 + tilt_m * where)

    total_work = profile.at(high_w).throughput * k * PERIOD_S * JOB_PERIODS_AT_MAX
    caps = _caps(rng, low_w, high_w, changes=changes)
    periods: list[MeasuredPeriod] = []
    done = 0.0
    index = 0
    while done < total_work:
        cap = caps[index] if index < len(caps) else caps[-1]
        rate, power = true_rates(cap)
        work = rate * PERIOD_S * max(0.05, 1 + rng.gauss(0, THROUGHPUT_NOISE))
        fraction = min(1.0, (total_work - done) / work)  # the last period ends with the job
        done = min(total_work, done + work)
        gpu_j = power * PERIOD_S * fraction * max(0.05, 1 + rng.gauss(0, POWER_NOISE))
        host_j = HOST_POWER_W * PERIOD_S * fraction
        energy = {DeviceKind.GPU.value: gpu_j, DeviceKind.CPU.value: host_j}
        periods.append(MeasuredPeriod(PERIOD_S * fraction, energy, cap, done / total_work))
        index += 1
    return _score(periods, caps, profile)


def _caps(rng: random.Random, low_w: float, high_w: float, *, changes: bool) -> list[float]:
    """The cap of each period (the last holds beyond the list)."""
    longest = JOB_PERIODS_AT_MAX * 10  # far beyond a job at the lowest cap
    if not changes:
        return [rng.uniform(low_w, high_w)]
    caps = [high_w] * rng.randint(*CAP_HOLD_PERIODS)  # uncapped until the controller acts
    while len(caps) < longest:
        caps.extend([rng.uniform(low_w, high_w)] * rng.randint(*CAP_HOLD_PERIODS))
    return caps


def _score(
    periods: Sequence[MeasuredPeriod], caps: Sequence[float], profile: _Profile
) -> list[tuple[float, float, float, float, float, float]]:
    energies = [sum(p.energy_j.values()) for p in periods]
    total_j = sum(energies)
    scores = []
    for share in CHECKPOINTS:
        at = next(i for i, p in enumerate(periods) if (p.progress or 0) >= share)
        seen = periods[: at + 1]
        progress = seen[-1].progress or 0.0
        if progress >= 1:
            continue
        so_far_j = sum(energies[: at + 1])
        plan = _plan(caps, at + 1)
        ours = forecast_remaining(seen, profile=profile, plan=plan)
        baseline = baseline_remaining_j(so_far_j, progress)
        truth = total_j - so_far_j
        scores.append((share, ours.total_j, ours.low_j, ours.high_j, baseline, truth))
    return scores


def _plan(caps: Sequence[float], start: int) -> list[CapChange]:
    """The cap changes after period ``start - 1``, in seconds from its end."""
    plan = []
    previous = caps[min(start - 1, len(caps) - 1)]
    for index in range(start, len(caps)):
        if caps[index] != previous:
            plan.append(CapChange((index - start) * PERIOD_S, caps[index]))
            previous = caps[index]
    return plan
