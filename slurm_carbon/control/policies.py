"""GPU power-limit policies: which limit a job's GPUs hold in each period.

Pure functions over a :class:`LimitGrid` (the allowed limits of one device with
the profiled power and throughput at each); no I/O, no clock.

**The allowed limits.** NVML gives a device's range
(``nvmlDeviceGetPowerManagementLimitConstraints``); Zeus's profiles step it by
:data:`LIMIT_STEP_W` (25 W), and so does the grid:
from the top of the range downwards, so that the maximum is always a choice,
within both the device's range and the profile's measured limits (limits are
clamped there, never extrapolated). Between profiled limits power and
throughput are interpolated (:meth:`PowerProfile.at`).

**The policies** (each chooses an index into the grid):

- ``none`` (:func:`none_index`): the maximum limit.
- ``static`` (:func:`static_index`): the limit with the least energy per unit of
  work whose slowdown ``throughput(max) / throughput(p) - 1`` is within the
  site's budget (:data:`DEFAULT_MAX_SLOWDOWN`).
- ``carbon`` (ours, :func:`plan_carbon`): in each period ``t`` the limit
  minimising ``(P(p) x CI_t + lambda) / throughput(p)``: carbon per unit of work
  plus ``lambda`` times the time per unit of work. It is the Lagrangian of
  *least carbon for the remaining work W within the time T left* (``T = (1 +
  budget) x nominal time - elapsed``): per period the choice that minimises
  ``sum_t P(p_t) CI_t d_t + lambda (sum_t d_t - T)``. ``lambda`` (the price of
  time, in the units of ``P x CI``: W x gCO2e/kWh) is the least that keeps the
  plan within the budget over the forecast window ``L = min(T, horizon)``: the
  planned work over ``L`` must be at least ``L x W / T``, the work left at the
  rate that ends the job exactly at its deadline (when ``T <= horizon``: the job
  ends in time). Planned work grows with ``lambda`` (a higher price of time
  picks faster limits), so the least such ``lambda`` is found exactly by
  sorting the values at which periods switch (:func:`plan_carbon`). The plan is made
  again at every period with the slowdown incurred so far (in ``W`` and ``T``)
  and the latest forecast; only its first period is applied. A plan that fits
  stays feasible at the next period (the rest of it still fits), so with a
  window that reaches the deadline the job ends within its budget.
- ``chase`` (:func:`chase_index`): Chase's rule (Yang et al., "Chasing Low-Carbon
  Electricity for Practical and Sustainable DNN Training", ICLR'23 CCAI
  workshop), Zeus's cost with energy replaced by carbon:
  ``argmin_p (eta x P(p) x CI_t + (1 - eta) x MaxPower x MaxCI) / throughput(p)``,
  ``eta`` = :data:`CHASE_ETA` (Zeus's default knob), MaxPower the maximum
  limit, MaxCI the highest intensity of the past week
  (:data:`CHASE_MAX_CI_WINDOW_S`, up to the one in force at the period's start).
  :func:`plan_chase` takes the intensities of that window, for the replay and
  the service alike. It has no slowdown budget; it is the baseline.

A fixed node power per GPU (``overhead_w``: CPU, memory, fans) is added to the
draw at every limit: it is drawn for as long as the job runs, which shrinks the
savings of lower limits.

Units: watts, work units per second, gCO2e/kWh, seconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from slurm_carbon.errors import ConfigError
from slurm_carbon.sensors.profiles import PowerProfile

__all__ = [
    "CHASE_ETA",
    "CHASE_MAX_CI_WINDOW_S",
    "DEFAULT_MAX_SLOWDOWN",
    "LIMIT_STEP_W",
    "CarbonDecision",
    "ChaseDecision",
    "LimitGrid",
    "chase_index",
    "clamp_limit",
    "none_index",
    "plan_carbon",
    "plan_chase",
    "static_index",
]

#: Step between allowed limits: Zeus's profiles and its optimizer step by 25 W.
LIMIT_STEP_W = 25.0
#: The site's default slowdown budget: Chase's reported +2.5 % time.
DEFAULT_MAX_SLOWDOWN = 0.025
#: Chase's eta (weight of carbon against time): Zeus's default ``eta_knob``.
CHASE_ETA = 0.5
#: Chase's MaxCI: the highest intensity over this past window (a week, the
#: history our forecaster needs). Units: seconds.
CHASE_MAX_CI_WINDOW_S = 7 * 86_400
#: An intensity of zero is taken as this (gCO2e/kWh) so that lambda / CI is defined.
_CLEANEST = 1e-9

Floats = NDArray[np.float64]
Ints = NDArray[np.intp]


def clamp_limit(limit_w: float, low_w: float, high_w: float) -> float:
    """``limit_w`` within ``[low_w, high_w]``. Units: watts."""
    return min(max(limit_w, low_w), high_w)


@dataclass(frozen=True)
class LimitGrid:
    """The allowed limits of a device (ascending) with the draw and throughput at each.

    Attributes:
        limits_w: The allowed limits, ascending. Units: watts.
        power_w: Draw at each limit, node overhead included. Units: watts.
        throughput: Work per second at each limit. Units: units/s.
    """

    limits_w: Floats
    power_w: Floats
    throughput: Floats

    @classmethod
    def of(
        cls,
        profile: PowerProfile,
        *,
        device_range_w: tuple[float, float] | None = None,
        overhead_w: float = 0.0,
        step_w: float = LIMIT_STEP_W,
    ) -> LimitGrid:
        """The grid of ``profile`` within the device's ``(min, max)`` range, if given.

        Raises:
            ConfigError: The device's range and the profile's limits do not meet,
                a step or an overhead that is not finite and positive (zero for the overhead).
        """
        if not (math.isfinite(step_w) and step_w > 0 and math.isfinite(overhead_w)):
            raise ConfigError("the limit step must be > 0 and the overhead finite")
        if overhead_w < 0:
            raise ConfigError(f"a node overhead of {overhead_w:g} W is negative")
        low, high = profile.min_limit_w, profile.max_limit_w
        if device_range_w is not None:
            low, high = max(low, device_range_w[0]), min(high, device_range_w[1])
        if low > high:
            raise ConfigError(
                f"the device's limits {device_range_w} and the profile's"
                f" {profile.min_limit_w:g}-{profile.max_limit_w:g} W do not meet"
            )
        count = math.floor((high - low) / step_w + 1e-9)
        limits = [high - k * step_w for k in range(count, -1, -1)]
        points = [profile.at(limit) for limit in limits]
        return cls(
            limits_w=np.array(limits),
            power_w=np.array([p.power_w + overhead_w for p in points]),
            throughput=np.array([p.throughput for p in points]),
        )

    @cached_property
    def envelope(self) -> tuple[Floats, Ints]:
        """Breakpoints ``mu`` (ascending, one fewer) and the limits chosen between them.

        The lower envelope over ``mu >= 0`` of the lines ``(P(p) + mu) / throughput(p)``:
        from the least energy per unit of work at ``mu = 0`` to the fastest limit.
        """
        energy = self.power_w / self.throughput
        slowness = 1.0 / self.throughput
        current = int(np.lexsort((slowness, energy))[0])
        mu: list[float] = []
        chosen = [current]
        while True:
            faster = np.flatnonzero(slowness < slowness[current])
            if not len(faster):
                break
            cross = (energy[faster] - energy[current]) / (slowness[current] - slowness[faster])
            best = faster[np.lexsort((slowness[faster], cross))[0]]
            mu.append(max(float(np.min(cross)), mu[-1] if mu else 0.0))
            current = int(best)
            chosen.append(current)
        return np.array(mu), np.array(chosen, dtype=np.intp)

    def slowdown(self, index: int) -> float:
        """Time per unit of work at ``index`` over that at the maximum, less one."""
        return float(self.throughput[-1] / self.throughput[index] - 1)


def none_index(grid: LimitGrid) -> int:
    """The maximum limit."""
    return len(grid.limits_w) - 1


def static_index(grid: LimitGrid, max_slowdown: float = DEFAULT_MAX_SLOWDOWN) -> int:
    """The limit with the least energy per unit of work within the slowdown budget."""
    energy = grid.power_w / grid.throughput
    allowed = grid.throughput[-1] / grid.throughput - 1 <= max_slowdown + 1e-12
    return int(np.argmin(np.where(allowed, energy, np.inf)))


def chase_index(grid: LimitGrid, ci_g_per_kwh: float, max_ci_g_per_kwh: float) -> int:
    """Chase's rule for a period of intensity ``ci_g_per_kwh`` (module docstring)."""
    max_power_w = grid.limits_w[-1]
    cost = (
        CHASE_ETA * grid.power_w * ci_g_per_kwh + (1 - CHASE_ETA) * max_power_w * max_ci_g_per_kwh
    ) / grid.throughput
    return int(np.argmin(cost))


@dataclass(frozen=True)
class ChaseDecision:
    """Chase's choice for a period and the intensities it was made with.

    Attributes:
        index: Index of the chosen limit in the grid.
        ci_g_per_kwh: The period's intensity. Units: gCO2e/kWh.
        max_ci_g_per_kwh: MaxCI. Units: gCO2e/kWh.
    """

    index: int
    ci_g_per_kwh: float
    max_ci_g_per_kwh: float


def plan_chase(
    grid: LimitGrid, ci_g_per_kwh: float, past_ci_g_per_kwh: Sequence[float] | Floats
) -> ChaseDecision:
    """Chase's rule for a period of mean intensity ``ci_g_per_kwh``.

    Args:
        grid: The allowed limits.
        ci_g_per_kwh: The period's (forecast) mean intensity.
        past_ci_g_per_kwh: The intensities of the :data:`CHASE_MAX_CI_WINDOW_S` up to
            the one in force at the period's start; MaxCI is the highest of them
            (none known: the period's own).
    """
    past = np.asarray(past_ci_g_per_kwh, dtype=np.float64)
    max_ci = float(past.max()) if len(past) else ci_g_per_kwh
    return ChaseDecision(chase_index(grid, ci_g_per_kwh, max_ci), ci_g_per_kwh, max_ci)


@dataclass(frozen=True)
class CarbonDecision:
    """Our policy's choice for the period now and the price of time it was made with.

    Attributes:
        index: Index of the chosen limit in the grid.
        lambda_: The price of time (W x gCO2e/kWh); ``inf`` when the job is
            already late and runs at the fastest limit.
        planned: The limit index planned for each period of the window.
    """

    index: int
    lambda_: float
    planned: tuple[int, ...]


def plan_carbon(
    grid: LimitGrid,
    ci_periods: Sequence[float] | Floats,
    period_s: float,
    work_left: float,
    time_left_s: float,
) -> CarbonDecision:
    """Our policy at the start of a period (module docstring).

    Dividing the cost by ``CI_t`` shows that period ``t``'s choice depends only on
    ``mu = lambda / CI_t``: it is the limit on the lower envelope of the lines
    ``P(p) / throughput(p) + mu / throughput(p)`` (:attr:`LimitGrid.envelope`).
    Each (period, envelope breakpoint) pair is a value of ``lambda`` at which
    that period moves to a faster limit; sorted, their work gains add up, and
    the least ``lambda`` whose plan does enough work is found exactly.

    Args:
        grid: The allowed limits.
        ci_periods: Forecast mean intensity of each period from now (the first is
            the period starting now); together they cover the forecast window.
        period_s: Length of a period. Units: seconds.
        work_left: Work the job still has to do. Units: work units.
        time_left_s: Time until the job's deadline (its nominal time times one plus
            the budget, from its start). Units: seconds.
    """
    ci = np.asarray(ci_periods, dtype=np.float64)
    mu, chosen = grid.envelope
    fastest = int(chosen[-1])
    if time_left_s <= 0 or work_left >= grid.throughput[fastest] * time_left_s or not len(ci):
        return CarbonDecision(fastest, math.inf, (fastest,) * max(len(ci), 1))
    window_s = min(time_left_s, len(ci) * period_s)
    overlap = np.clip(window_s - period_s * np.arange(len(ci)), 0.0, period_s)
    needed = window_s * work_left / time_left_s
    # lambda at which period j moves past breakpoint k (a clean period, CI 0, at once).
    at = mu[None, :] * np.maximum(ci, _CLEANEST)[:, None]
    gain = np.diff(grid.throughput[chosen])[None, :] * overlap[:, None]
    done = float(grid.throughput[chosen[0]] * overlap.sum())
    lambda_ = 0.0
    if done < needed:
        order = np.argsort(at, axis=None, kind="stable")
        total = done + np.cumsum(gain.ravel()[order])
        first = min(int(np.searchsorted(total, needed * (1 - 1e-12))), len(order) - 1)
        lambda_ = float(at.ravel()[order[first]])
    switched = np.sum(at <= lambda_, axis=1) if lambda_ > 0 else np.zeros(len(ci), np.intp)
    planned = chosen[switched]
    return CarbonDecision(int(planned[0]), lambda_, tuple(int(i) for i in planned))
