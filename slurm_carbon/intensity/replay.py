"""Carbon-intensity series for demonstrations: a trace replayed as if live, or a synthetic day.

Both are labelled in their ``source`` so that every figure computed from them
says where it came from: ``"<name> (replayed)"`` and ``"synthetic"``.
Units: gCO2e/kWh; times UTC.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from slurm_carbon.intensity.base import CiKind, CiPoint, CiSignal

__all__ = ["SYNTHETIC_SOURCE", "replayed", "synthetic_daily"]

SYNTHETIC_SOURCE = "synthetic"
#: Relative swing of the synthetic daily cycle around the annual mean.
DAILY_SWING = 0.3
#: Hour (UTC) of the synthetic cycle's cleanest point, as a solar dip gives.
CLEANEST_HOUR_UTC = 13


def replayed(points: Sequence[CiPoint], now: datetime, source: str) -> list[CiPoint]:
    """Shift a trace by whole days so that its day matching today's date is today.

    The hour of day is kept, so daily cycles stay where they were. A trace
    from a leap year shifts by the same number of days throughout.

    Raises:
        ValueError: ``points`` is empty or ``now`` is naive.
    """
    if not points:
        raise ValueError("the trace has no points")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    first = points[0].time.astimezone(UTC)
    day = now.astimezone(UTC).date()
    try:
        same_day = day.replace(year=first.year)
    except ValueError:  # 29 February, in a trace from a common year
        same_day = day.replace(year=first.year, day=28)
    shift = timedelta(days=(day - same_day).days)
    label = f"{source} (replayed)"
    return [
        replace(p, time=p.time + shift, issued_at=p.issued_at + shift, source=label) for p in points
    ]


def synthetic_daily(
    region: str, mean_g_per_kwh: float, start: datetime, hours: int
) -> list[CiPoint]:
    """Hourly points around an annual mean with a daily cycle, labelled synthetic.

    ``ci(h) = mean * (1 - DAILY_SWING * cos(2 pi (h - CLEANEST_HOUR_UTC) / 24))``:
    lowest at 13:00 UTC, highest at 01:00, averaging the annual mean over a day.
    An illustration, not data: it is kind ``actual`` only so that accounting
    uses it like a trace, and its source says ``synthetic`` everywhere.
    """
    first = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    points = []
    for offset in range(hours):
        time = first + timedelta(hours=offset)
        phase = 2 * math.pi * (time.hour - CLEANEST_HOUR_UTC) / 24
        points.append(
            CiPoint(
                region=region,
                time=time,
                step_s=3600,
                ci_g_per_kwh=mean_g_per_kwh * (1 - DAILY_SWING * math.cos(phase)),
                source=SYNTHETIC_SOURCE,
                kind=CiKind.ACTUAL,
                signal=CiSignal.AVERAGE,
                issued_at=time,
            )
        )
    return points
