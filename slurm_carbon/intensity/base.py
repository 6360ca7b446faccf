"""The protocol every carbon-intensity provider implements.

Units: carbon intensity in grams CO2e per kWh (``ci_g_per_kwh``); times are
timezone-aware UTC datetimes. A point holds for ``[time, time + step)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from slurm_carbon.vocabulary import CiKind, CiSignal

__all__ = ["CiPoint", "IntensityProvider"]


@dataclass(frozen=True)
class CiPoint:
    """Carbon intensity of one region from ``time`` for ``step_s`` seconds.

    Attributes:
        region: The provider's zone or region code, e.g. ``"SE"``, ``"CISO"``.
        time: Start of the period (UTC).
        step_s: Length of the period. Units: seconds.
        ci_g_per_kwh: Units: gCO2e/kWh.
        source: The provider, e.g. ``"electricitymaps"``, ``"codecarbon-annual"``.
        kind: Actual, forecast or annual.
        signal: Average or marginal.
        issued_at: When a forecast was made; equal to ``time`` otherwise.
        synthetic: Whether the figure is made up (a demonstration's series),
            not data; every figure computed from it says so.
    """

    region: str
    time: datetime
    step_s: int
    ci_g_per_kwh: float
    source: str
    kind: CiKind
    signal: CiSignal
    issued_at: datetime
    synthetic: bool = False


class IntensityProvider(Protocol):
    """A source of carbon-intensity figures for some regions."""

    name: str

    def history(self, region: str, start: datetime, end: datetime) -> Sequence[CiPoint]:
        """Figures covering ``[start, end)``, oldest first."""
        ...

    def forecast(self, region: str, start: datetime, hours: int) -> Sequence[CiPoint]:
        """Forecast figures for ``hours`` from ``start``, oldest first.

        Raises:
            IntensityUnavailable: The provider (or the plan) has no forecast.
        """
        ...
