"""The power-capping benchmark: jobs replayed on a carbon-intensity trace under each policy.

Pure: a grid of limits (:class:`~slurm_carbon.control.policies.LimitGrid`) and
a regular trace in, figures out; no I/O, no clock.

**Jobs.** Each needs ``job_s`` seconds of work at the maximum limit. The first
starts at the trace's first time, then one every ``start_every_s``; the last
starts no later than the trace's last time less :data:`TAIL_JOBS` x ``job_s``
(room for a slowed job to end within the trace; past its end the last value
holds). Periods start at the job's start and every ``period_s`` after; the last
one ends with the job.

**Carbon intensity** is a step function: each point holds until the next. A
period's intensity is the mean over the period. Decisions at a period's start
see the points up to that time only: the forecast of a later point is
:mod:`slurm_carbon.forecast.intensity`'s default method from that origin
(:func:`forecast_matrix`); where its history is too short (the first week),
seasonal naive (the same time yesterday), and where even that is missing (the
first day), persistence. Forecasts reach :data:`HORIZON_S` ahead; beyond, the
last holds. ``carbon_oracle`` is our policy with the trace's own future values.

**Policies**: ``none``, ``static``, ``carbon``, ``chase``, ``carbon_oracle``
(:mod:`slurm_carbon.control.policies`), and every fixed limit of the grid for
the static-cap hull (:mod:`slurm_carbon.control.hull`). Each policy's premium is
its carbon reduction against ``none`` less the hull's at the policy's mean
slowdown, in percentage points.

**The value of a better forecast.** With ``known_ahead_s`` (``--known-hours``)
one more policy, ``carbon_partial`` (:data:`PARTIAL`), is ours with the trace's
own values for the points up to that far ahead of each decision and the
forecast after them: how much of the oracle's premium a forecast that is exact
for the next hours would recover (a provider's short-term forecast, say).

Units: seconds since the epoch for times, watts, gCO2e/kWh, joules, grams.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from slurm_carbon.control.hull import hull_at, lower_hull
from slurm_carbon.control.policies import (
    CHASE_MAX_CI_WINDOW_S,
    DEFAULT_MAX_SLOWDOWN,
    LimitGrid,
    none_index,
    plan_carbon,
    plan_chase,
    static_index,
)
from slurm_carbon.forecast.intensity import DEFAULT_METHOD, predictions
from slurm_carbon.vocabulary import CapPolicy

__all__ = [
    "HORIZON_S",
    "ORACLE",
    "PARTIAL",
    "POLICIES",
    "TAIL_JOBS",
    "ControlReplay",
    "Decision",
    "PolicyFigures",
    "ReplaySetup",
    "forecast_matrix",
    "replay_jobs",
]

#: How far ahead the CI is forecast for our policy: two days, the furthest any
#: provider forecasts (UK fw48h), longer than a default (24 h) job within its budget.
HORIZON_S = 2 * 86_400
#: A job starts no later than the trace's end less this many times its length: a
#: job slowed by up to 30 % still ends within the trace.
TAIL_JOBS = 1.3
#: Ours with the trace's own future instead of the forecast: what a perfect forecast allows.
ORACLE = "carbon_oracle"
#: Ours with the actual values for the first ``known_ahead_s`` and the forecast after.
PARTIAL = "carbon_partial"
#: The policies compared, in the order they are reported (``PARTIAL`` last, when asked for).
POLICIES: tuple[str, ...] = (*(policy.value for policy in CapPolicy), ORACLE)
_J_PER_KWH = 3.6e6

Floats = NDArray[np.float64]


@dataclass(frozen=True)
class ReplaySetup:
    """What is replayed. Units: seconds; ``max_slowdown`` a fraction.

    ``known_ahead_s``: how far ahead ``carbon_partial`` knows the actual values
    (none: that policy is not replayed).
    """

    max_slowdown: float = DEFAULT_MAX_SLOWDOWN
    job_s: float = 24 * 3600.0
    start_every_s: float = 6 * 3600.0
    period_s: float = 1800.0
    known_ahead_s: float | None = None


@dataclass(frozen=True)
class Decision:
    """One period of our policy: the job's start, the period's start, the limit. Units: s, W."""

    job_start_s: float
    period_start_s: float
    power_limit_w: float


@dataclass(frozen=True)
class PolicyFigures:
    """One policy over all jobs: totals and each job's slowdown. Units: joules, grams."""

    energy_j: float
    co2e_g: float
    slowdowns: tuple[float, ...]

    @property
    def mean_slowdown(self) -> float:
        """Mean over the jobs, as a fraction."""
        return float(np.mean(self.slowdowns))


@dataclass(frozen=True)
class ControlReplay:
    """Every policy's figures, every fixed limit's, and our policy's decisions."""

    jobs: int
    policies: dict[str, PolicyFigures]
    static_caps: dict[float, PolicyFigures]
    decisions: list[Decision] = field(repr=False)

    def reduction_pct(self, figures: PolicyFigures) -> tuple[float, float]:
        """Carbon and energy reduction against ``none``, in percent."""
        none = self.policies[CapPolicy.NONE]
        return (
            100 * (1 - figures.co2e_g / none.co2e_g),
            100 * (1 - figures.energy_j / none.energy_j),
        )

    def hull_reduction_pct(self, slowdown: float) -> float:
        """The static-cap hull's carbon reduction at a mean slowdown, in percent."""
        hull = lower_hull(
            [(f.mean_slowdown, self.reduction_pct(f)[0] * -1) for f in self.static_caps.values()]
        )
        return -hull_at(hull, slowdown)

    def summary(self) -> dict[str, dict[str, float]]:
        """Per policy: reductions, mean and worst slowdown (percent), hull and premium (pp)."""
        out = {}
        for name, figures in self.policies.items():
            carbon, energy = self.reduction_pct(figures)
            hull = self.hull_reduction_pct(figures.mean_slowdown)
            out[name] = {
                "carbon_reduction_pct": carbon,
                "energy_reduction_pct": energy,
                "mean_slowdown_pct": 100 * figures.mean_slowdown,
                "worst_slowdown_pct": 100 * max(figures.slowdowns),
                "hull_reduction_pct": hull,
                "premium_pp": carbon - hull,
            }
        return out


def forecast_matrix(values: Floats, step_s: int, horizon_steps: int) -> Floats:
    """``out[h - 1, i]``: the forecast of point ``i + h`` made from points ``0..i``.

    The default method, else seasonal naive, else persistence (module docstring).
    """
    out = np.empty((horizon_steps, len(values)))
    for h in range(1, horizon_steps + 1):
        made = predictions(values, step_s, h, DEFAULT_METHOD)
        for fallback in ("seasonal_naive", "persistence"):
            missing = ~np.isfinite(made)
            if missing.any():
                made[missing] = predictions(values, step_s, h, fallback)[missing]
        out[h - 1] = made
    return out


class _Steps:
    """A step function from ``origin_s`` at ``step_s``, its last value holding; integrals of it."""

    def __init__(self, origin_s: float, step_s: float, values: Floats) -> None:
        self.origin_s, self.step_s, self.values = origin_s, step_s, values
        self._base = np.concatenate([[0.0], np.cumsum(values) * step_s])
        self._list: tuple[list[float], list[float]] = (self._base.tolist(), values.tolist())

    def integral(self, at_s: Floats) -> Floats:
        """The integral from the origin to each time (gCO2e/kWh x s)."""
        k = ((at_s - self.origin_s) // self.step_s).astype(np.intp)
        k = np.minimum(np.maximum(k, 0), len(self.values) - 1)
        return self._base[k] + self.values[k] * (at_s - self.origin_s - k * self.step_s)

    def between(self, start_s: float, end_s: float) -> float:
        """The integral from ``start_s`` to ``end_s`` (one pair: plain floats, fast)."""
        return self._at(end_s) - self._at(start_s)

    def _at(self, at_s: float) -> float:
        k = min(max(int((at_s - self.origin_s) // self.step_s), 0), len(self.values) - 1)
        base, values = self._list
        return base[k] + values[k] * (at_s - self.origin_s - k * self.step_s)

    def means(self, start_s: float, period_s: float, count: int) -> Floats:
        """Mean over each of ``count`` periods from ``start_s``."""
        edges = start_s + period_s * np.arange(count + 1, dtype=np.float64)
        return np.diff(self.integral(edges)) / period_s


def _job_starts(first_s: float, last_s: float, setup: ReplaySetup) -> list[float]:
    latest = last_s - TAIL_JOBS * setup.job_s
    if latest < first_s:
        raise ValueError(
            f"the trace is shorter than {TAIL_JOBS} x the job's {setup.job_s / 3600:g} h"
        )
    return [
        first_s + k * setup.start_every_s
        for k in range(int((latest - first_s) // setup.start_every_s) + 1)
    ]


# A policy at a period's start: (job start, period start, work left, time left) -> grid index.
_Policy = Callable[[float, float, float, float], int]


@dataclass(frozen=True)
class _Jobs:
    """The jobs replayed: their starts, the work each needs, its deadline. Units: s, work units."""

    starts: list[float]
    work: float
    deadline_s: float
    setup: ReplaySetup


def _run(
    grid: LimitGrid,
    jobs: _Jobs,
    actual: _Steps,
    policy: _Policy,
    decisions: list[Decision] | None,
) -> PolicyFigures:
    """Every job under ``policy``, a period at a time; its decisions appended when asked."""
    period_s = jobs.setup.period_s
    energy_j = co2e_g = 0.0
    slowdowns = []
    for start in jobs.starts:
        at, left = start, jobs.work
        while left > 0:
            index = policy(start, at, left, start + jobs.deadline_s - at)
            if decisions is not None:
                decisions.append(Decision(start, at, float(grid.limits_w[index])))
            rate = float(grid.throughput[index])
            seconds = left / rate
            if seconds > period_s:
                seconds = period_s
                left -= rate * seconds
            else:
                left = 0.0
            power = float(grid.power_w[index])
            energy_j += power * seconds
            co2e_g += power * actual.between(at, at + seconds) / _J_PER_KWH
            at += seconds
        slowdowns.append((at - start) / jobs.setup.job_s - 1)
    return PolicyFigures(energy_j, co2e_g, tuple(slowdowns))


def replay_jobs(
    grid: LimitGrid,
    first_s: float,
    step_s: int,
    values: Floats,
    setup: ReplaySetup,
) -> ControlReplay:
    """Replay the jobs on the trace ``values`` (one every ``step_s`` from ``first_s``).

    Raises:
        ValueError: The trace is too short for one job, or has a bad step.
    """
    actual = _Steps(first_s, step_s, values)
    starts = _job_starts(first_s, first_s + (len(values) - 1) * step_s, setup)
    work = setup.job_s * float(grid.throughput[-1])
    deadline_s = (1 + setup.max_slowdown) * setup.job_s
    horizon_steps = math.ceil(min(HORIZON_S, deadline_s + setup.period_s) / step_s)
    made = forecast_matrix(values, step_s, horizon_steps)
    padded = np.concatenate([values, np.full(horizon_steps, values[-1])])
    max_ci_steps = max(1, CHASE_MAX_CI_WINDOW_S // step_s)

    def origin(period_s: float) -> int:
        return min(int((period_s - first_s) // step_s), len(values) - 1)

    def ours(known: Callable[[int], Floats]) -> _Policy:
        def decide(job_s: float, at_s: float, work_left: float, time_left_s: float) -> int:
            i = origin(at_s)
            window_s = min(max(time_left_s, 0.0), HORIZON_S)
            count = max(1, math.ceil(window_s / setup.period_s))
            ci = _Steps(first_s + i * step_s, step_s, known(i)).means(at_s, setup.period_s, count)
            return plan_carbon(grid, ci, setup.period_s, work_left, time_left_s).index

        return decide

    def ahead(known_steps: int) -> Callable[[int], Floats]:
        # The points from origin i on: the actual ones for known_steps, the forecast after.
        def series(i: int) -> Floats:
            out = np.concatenate([[values[i]], made[:, i]])
            out[: known_steps + 1] = padded[i : i + known_steps + 1]
            return out

        return series

    forecast = ahead(0)

    def chase(job_s: float, at_s: float, work_left: float, time_left_s: float) -> int:
        i = origin(at_s)
        ci = _Steps(first_s + i * step_s, step_s, forecast(i)).means(at_s, setup.period_s, 1)
        return plan_chase(grid, float(ci[0]), values[max(0, i - max_ci_steps + 1) : i + 1]).index

    decisions: list[Decision] = []

    def run(policy: _Policy, record: bool = False) -> PolicyFigures:
        return _run(
            grid,
            _Jobs(starts, work, deadline_s, setup),
            actual,
            policy,
            decisions if record else None,
        )

    def fixed(index: int) -> PolicyFigures:
        length = work / float(grid.throughput[index])
        begin = np.array(starts)
        used = actual.integral(begin + length) - actual.integral(begin)
        power = float(grid.power_w[index])
        return PolicyFigures(
            power * length * len(starts),
            float(power * used.sum() / _J_PER_KWH),
            (length / setup.job_s - 1,) * len(starts),
        )

    static_caps = {float(limit): fixed(i) for i, limit in enumerate(grid.limits_w)}
    policies = {
        CapPolicy.NONE: fixed(none_index(grid)),
        CapPolicy.STATIC: fixed(static_index(grid, setup.max_slowdown)),
        CapPolicy.CARBON: run(ours(forecast), record=True),
        CapPolicy.CHASE: run(chase),
        ORACLE: run(ours(ahead(horizon_steps))),
    }
    if setup.known_ahead_s is not None:
        known_steps = min(int(setup.known_ahead_s // step_s), horizon_steps)
        policies[PARTIAL] = run(ours(ahead(known_steps)))
    return ControlReplay(len(starts), policies, static_caps, decisions)
