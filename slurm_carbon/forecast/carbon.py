"""Remaining CO2e of a running job: forecast remaining energy x carbon intensity ahead x PUE.

:func:`remaining_co2e` spreads the forecast remaining energy evenly over
``[now, now + remaining time)`` (the job's own forecast end: at the mean power
the energy forecast implies), splits it over the carbon-intensity steps it
crosses and multiplies each part by its step's intensity and the PUE then
(:func:`slurm_carbon.accounting.footprint`, the same arithmetic as a finished
job's result). Where the series ends before the job does, its last point holds
(persistence).

The 90 % interval comes from the energy interval's ends and the remaining
time's interval: the low end is the least CO2e of the low energy spread over
the low, point or high remaining time, the high end the most of the high
energy over them. The carbon-intensity forecast's own error is not in the
interval yet.

Units: energy in joules, time in seconds, emissions in grams CO2e.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from slurm_carbon.accounting import EnergySpan, PueLike, footprint
from slurm_carbon.forecast.energy import EnergyForecast
from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.vocabulary import DeviceKind, EnergyMethod

__all__ = ["INSTANT_S", "MAX_AHEAD_S", "CarbonForecast", "co2e_spread_g", "remaining_co2e"]

#: Energy forecast to be used in no time (a job at its end) is spread over this
#: first second: the intensity then. Units: seconds.
INSTANT_S = 1.0
#: The furthest ahead energy is spread: a year, longer than any site's MaxTime.
#: A forecast that sees the job run longer (a job that barely progresses) is
#: spread over a year, where persistence holds anyway. Units: seconds.
MAX_AHEAD_S = 365 * 86400.0


@dataclass(frozen=True)
class CarbonForecast:
    """Remaining emissions of a job with their 90 % interval. Units: grams CO2e."""

    co2e_g: float
    low_g: float
    high_g: float


def co2e_spread_g(
    energy_j: float,
    start: datetime,
    duration_s: float,
    points: Sequence[CiPoint],
    pue: PueLike,
) -> float:
    """Emissions of ``energy_j`` used evenly over ``duration_s`` from ``start``.

    The duration is taken within ``[INSTANT_S, MAX_AHEAD_S]``.

    Raises:
        ValueError: Energy but no points; as :func:`slurm_carbon.accounting.footprint`.
    """
    if energy_j <= 0:
        return 0.0
    seconds = min(max(duration_s, INSTANT_S), MAX_AHEAD_S)
    span = EnergySpan(
        # The kind does not change the emissions; the energy is a forecast, not measured.
        device_kind=DeviceKind.OTHER,
        start=start,
        end=start + timedelta(seconds=seconds),
        energy_j=energy_j,
        method=EnergyMethod.ESTIMATED,
    )
    return footprint([span], points, pue).co2e_g


def remaining_co2e(
    energy: EnergyForecast,
    now: datetime,
    points: Sequence[CiPoint],
    pue: PueLike,
) -> CarbonForecast:
    """The remaining emissions of a job whose remaining energy is ``energy``, from ``now``.

    Args:
        energy: The remaining-energy forecast (energy at the devices).
        now: When the forecast is made (aware).
        points: The carbon intensity ahead of the job's region, one signal.
        pue: The PUE (a constant, a series or a function of time).

    Returns:
        The point forecast and its interval; see the module docstring.

    Raises:
        ValueError: Energy ahead but no points.
    """
    times = (energy.remaining_low_s, energy.remaining_s, energy.remaining_high_s)
    return CarbonForecast(
        co2e_g=co2e_spread_g(energy.total_j, now, energy.remaining_s, points, pue),
        low_g=min(co2e_spread_g(energy.low_j, now, s, points, pue) for s in times),
        high_g=max(co2e_spread_g(energy.high_j, now, s, points, pue) for s in times),
    )
