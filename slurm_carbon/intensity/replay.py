"""Carbon-intensity series for demonstrations: a trace replayed as if live, or a synthetic day.

A replayed trace is moved by whole weeks so that now falls inside it on the
same weekday and time of day, at the trace's date nearest to today's (see
:func:`replay_shift`). Both are labelled in their ``source`` so that every figure computed from them
says where it came from: ``"<name> (replayed)"`` and ``"synthetic"``.
Units: gCO2e/kWh; times UTC.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from slurm_carbon.errors import ConfigError
from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.vocabulary import CiKind, CiSignal

__all__ = [
    "REPLAY_AFTER",
    "REPLAY_BEFORE",
    "SYNTHETIC_SOURCE",
    "replay_shift",
    "replayed",
    "synthetic_daily",
]

SYNTHETIC_SOURCE = "synthetic"
#: Relative swing of the synthetic daily cycle around the annual mean.
DAILY_SWING = 0.3
#: Hour (UTC) of the synthetic cycle's cleanest point, as a solar dip gives.
CLEANEST_HOUR_UTC = 13
#: How much of a replayed trace must lie before now: the report's intensity over
#: time and the writer's series look back over the demo's jobs (minutes) and an hour.
REPLAY_BEFORE = timedelta(days=1)
#: How much must lie after now: the demo's jobs run (300 s at most by default) and the
#: cleanest-start search looks a day ahead.
REPLAY_AFTER = timedelta(days=1)
_WEEK = timedelta(days=7)


def _same_moment(now: datetime, year: int) -> datetime:
    """``now`` in ``year`` (29 February becomes the 28th in a common year)."""
    try:
        return now.replace(year=year)
    except ValueError:
        return now.replace(year=year, day=28)


def replay_shift(points: Sequence[CiPoint], now: datetime) -> timedelta:
    """Whole weeks to add to a trace so that it holds ``now``, nearest to today's date.

    The moment of the trace that becomes ``now`` has ``now``'s weekday and time of
    day (weekly and daily cycles stay in place), lies at least
    :data:`REPLAY_BEFORE` after the trace's start and :data:`REPLAY_AFTER` before
    its end, and is, of all such moments, the nearest to today's date and time in
    any of the trace's years (the season is kept as well as the trace allows).

    Raises:
        ValueError: ``points`` is empty or ``now`` is naive.
        ConfigError: no such moment: the trace is too short (what always suffices
            is named).
    """
    if not points:
        raise ValueError("the trace has no points")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(UTC)
    first = points[0].time.astimezone(UTC)
    end = points[-1].time.astimezone(UTC) + timedelta(seconds=points[-1].step_s)
    earliest, latest = first + REPLAY_BEFORE, end - REPLAY_AFTER
    found: list[tuple[timedelta, datetime]] = []  # (distance to today's date, moment)
    for year in range(first.year, end.year + 1):
        target = _same_moment(now, year)
        weeks = round((now - min(max(target, earliest), latest)) / _WEEK)
        moments = (now - k * _WEEK for k in (weeks - 1, weeks, weeks + 1))
        found += [(abs(m - target), m) for m in moments if earliest <= m <= latest]
    if not found:
        needed = (REPLAY_BEFORE + _WEEK + REPLAY_AFTER).days
        raise ConfigError(
            f"the trace runs from {first.isoformat()} to {end.isoformat()}: too short to replay"
            f" (now must fall on its weekday and time of day with"
            f" {REPLAY_BEFORE.days} day(s) of the trace before and {REPLAY_AFTER.days} after;"
            f" {needed} days always suffice)"
        )
    return now - min(found)[1]


def replayed(points: Sequence[CiPoint], shift: timedelta, source: str) -> list[CiPoint]:
    """The points moved by ``shift`` (:func:`replay_shift`), labelled ``<source> (replayed)``."""
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
    uses it like a trace; each point is flagged ``synthetic`` (every figure
    computed from it says so) and its source is named ``synthetic``.
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
                synthetic=True,
            )
        )
    return points
