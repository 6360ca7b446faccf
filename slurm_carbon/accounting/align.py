"""Energy spans split over the periods of a carbon-intensity series.

Each span's energy is divided in proportion to time over the periods it
crosses, and each part takes the figure of the point covering it. Where
several points cover the same time the best kind wins (actual over forecast
over annual; among forecasts the latest issued). A part no point covers takes
the nearest earlier point (the first point if none is earlier) and is marked
as a gap.

Units: energy in joules; carbon intensity in gCO2e/kWh; aware UTC datetimes.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from slurm_carbon.accounting.spans import EnergySpan
from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.vocabulary import CiKind

__all__ = ["AlignedPart", "CiTimeline", "align", "best_timeline"]

_KIND_RANK = {CiKind.ACTUAL: 0, CiKind.FORECAST: 1, CiKind.ANNUAL: 2}


@dataclass(frozen=True)
class AlignedPart:
    """The share of one span that falls in one carbon-intensity period.

    Attributes:
        span: The span the part comes from.
        start: Start of the part.
        end: End of the part.
        energy_j: The span's energy over ``[start, end)``. Units: joules.
        point: The carbon-intensity point applied to the part.
        gap: True when no point covers the part and ``point`` is the nearest
            earlier one (or the first, for a part before the series).
    """

    span: EnergySpan
    start: datetime
    end: datetime
    energy_j: float
    point: CiPoint
    gap: bool


@dataclass(frozen=True)
class CiTimeline:
    """Disjoint, sorted periods with the best point chosen for each.

    Attributes:
        starts: Start of each period.
        ends: End of each period (``ends[i] <= starts[i + 1]``; a gap if ``<``).
        points: The point that holds over each period.
    """

    starts: tuple[datetime, ...]
    ends: tuple[datetime, ...]
    points: tuple[CiPoint, ...]

    @property
    def start(self) -> datetime:
        """Start of the first period."""
        return self.starts[0]

    @property
    def end(self) -> datetime:
        """End of the last period."""
        return self.ends[-1]

    def covers(self, start: datetime, end: datetime) -> bool:
        """Whether ``[start, end)`` lies wholly in periods, with no gap."""
        index = max(bisect.bisect_right(self.starts, start) - 1, 0)
        cursor = start
        while cursor < end:
            if index >= len(self.starts) or self.starts[index] > cursor:
                return False
            cursor = max(cursor, self.ends[index])
            index += 1
        return True


def _preference(point: CiPoint) -> tuple[int, float, int]:
    """Sort key: lower is better (kind, then latest issued, then shortest period)."""
    return (_KIND_RANK[point.kind], -point.issued_at.timestamp(), point.step_s)


def _point_end(point: CiPoint) -> datetime:
    return point.time + timedelta(seconds=point.step_s)


def best_timeline(ci_points: Iterable[CiPoint]) -> CiTimeline:
    """Choose, for every time some point covers, the best point covering it.

    Args:
        ci_points: Points of one region and one signal, in any order.

    Returns:
        The periods, with adjacent periods held by the same point merged.

    Raises:
        ValueError: No points, a point with ``step_s <= 0`` or a naive time,
            or points of several regions or signals.
    """
    points = sorted(ci_points, key=lambda p: p.time)
    if not points:
        raise ValueError("no carbon-intensity points to account with")
    regions = {p.region for p in points}
    signals = {p.signal for p in points}
    if len(regions) > 1 or len(signals) > 1:
        raise ValueError(
            f"one series holds one region and one signal, got regions {sorted(regions)} "
            f"and signals {sorted(signals)}"
        )
    for point in points:
        if point.step_s <= 0 or point.time.tzinfo is None:
            raise ValueError(f"bad carbon-intensity point {point!r}")
    breaks = sorted({p.time for p in points} | {_point_end(p) for p in points})
    starts: list[datetime] = []
    ends: list[datetime] = []
    chosen: list[CiPoint] = []
    active: list[CiPoint] = []
    next_point = 0
    for left, right in itertools.pairwise(breaks):
        while next_point < len(points) and points[next_point].time <= left:
            active.append(points[next_point])
            next_point += 1
        active = [p for p in active if _point_end(p) > left]
        if not active:
            continue
        best = min(active, key=_preference)
        if chosen and chosen[-1] is best and ends[-1] == left:
            ends[-1] = right
        else:
            starts.append(left)
            ends.append(right)
            chosen.append(best)
    return CiTimeline(tuple(starts), tuple(ends), tuple(chosen))


def _split(span: EnergySpan, timeline: CiTimeline) -> list[AlignedPart]:
    parts: list[AlignedPart] = []
    duration_s = span.duration_s
    index = bisect.bisect_right(timeline.starts, span.start) - 1
    cursor = span.start
    while cursor < span.end:
        if index >= 0 and cursor < timeline.ends[index]:
            part_end = min(span.end, timeline.ends[index])
            point, gap = timeline.points[index], False
        elif index + 1 < len(timeline.starts):
            part_end = min(span.end, timeline.starts[index + 1])
            point, gap = timeline.points[max(index, 0)], True
        else:
            part_end = span.end
            point, gap = timeline.points[index], True
        energy_j = span.energy_j * (part_end - cursor).total_seconds() / duration_s
        parts.append(AlignedPart(span, cursor, part_end, energy_j, point, gap))
        cursor = part_end
        if index + 1 < len(timeline.starts) and cursor >= timeline.starts[index + 1]:
            index += 1
    return parts


def align(spans: Iterable[EnergySpan], ci_points: Sequence[CiPoint]) -> list[AlignedPart]:
    """Split every span over the carbon-intensity periods it crosses.

    Args:
        spans: Energy spans, in any order.
        ci_points: One region's series (one signal), in any order; kinds may mix.

    Returns:
        The parts, span by span in the order given, each in time order. The
        parts of a span add up to its energy.

    Raises:
        ValueError: As :func:`best_timeline`.

    Units: energy in joules.
    """
    timeline = best_timeline(ci_points)
    return [part for span in spans for part in _split(span, timeline)]
