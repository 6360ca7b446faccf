"""Operations on a carbon-intensity series: the points of a window, the steps of stored points.

Every provider answers ``history`` and ``forecast`` with the points that
overlap the window asked (:func:`overlapping`); points read back from the store
carry no length, so each is given the time until the next one
(:func:`steps_until_next`).

Units: times are timezone-aware datetimes; steps in seconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from itertools import pairwise

from slurm_carbon.intensity.base import CiPoint

__all__ = ["overlapping", "steps_until_next"]


def overlapping(points: Iterable[CiPoint], start: datetime, end: datetime) -> list[CiPoint]:
    """The points whose period ``[time, time + step)`` overlaps ``[start, end)``, by time.

    The sort is stable: points at the same time keep their order.
    """
    found = [p for p in points if p.time < end and p.time + timedelta(seconds=p.step_s) > start]
    return sorted(found, key=lambda p: p.time)


def steps_until_next(times: Sequence[datetime], default_s: int) -> list[int]:
    """Each point's step: until the next point's time; the last repeats the one before.

    A lone point gets ``default_s``; every step is at least one second; no times, no steps.

    Args:
        times: The series' times, ascending.
        default_s: The step of a lone point. Units: seconds.

    Returns:
        One step per time. Units: seconds.
    """
    if not times:
        return []
    steps = [int((b - a).total_seconds()) for a, b in pairwise(times)]
    steps.append(steps[-1] if steps else default_s)
    return [max(step, 1) for step in steps]
