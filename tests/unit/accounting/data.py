"""What the accounting tests share: two hours of Great Britain's grid and a job's energy in them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from slurm_carbon.accounting import EnergySpan
from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.vocabulary import CiKind, CiSignal

__all__ = ["KWH", "SPANS", "T0", "point"]

KWH = 3.6e6
T0 = datetime(2024, 3, 1, 10, tzinfo=UTC)


def point(hour: int, ci: float, kind: CiKind = CiKind.ACTUAL, source: str = "uk") -> CiPoint:
    """The hourly point ``hour`` hours after :data:`T0`."""
    t = T0 + timedelta(hours=hour)
    return CiPoint("GB", t, 3600, ci, source, kind, CiSignal.AVERAGE, t)


#: One GPU kWh from 10:30 to 11:30, half a CPU kWh (estimated) from 10:00 to 11:00.
SPANS = [
    EnergySpan("gpu", T0 + timedelta(minutes=30), T0 + timedelta(minutes=90), 1 * KWH),  # type: ignore[arg-type]
    EnergySpan("cpu", T0, T0 + timedelta(hours=1), 0.5 * KWH, "estimated"),  # type: ignore[arg-type]
]
