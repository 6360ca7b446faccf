"""What the same job would have emitted at another time or in another region.

The job's energy profile (its spans, unchanged in shape) is moved in time or
accounted against another region's CI series, with the same PUE function
(evaluated at the shifted times).

Units: emissions in grams CO2e; savings in grams and percent of the actual.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from slurm_carbon.accounting.align import best_timeline
from slurm_carbon.accounting.footprint import Footprint, footprint
from slurm_carbon.accounting.pue import PueLike
from slurm_carbon.accounting.spans import EnergySpan
from slurm_carbon.intensity.base import CiPoint

__all__ = ["Counterfactual", "cleanest_start", "in_region", "shifted"]


@dataclass(frozen=True)
class Counterfactual:
    """A what-if footprint compared with the actual one.

    Attributes:
        label: What changed: ``"start=<iso time>"`` or ``"region=<code>"``.
        start: When the profile starts in the what-if.
        footprint: The what-if footprint.
        actual_co2e_g: The actual emissions. Units: grams CO2e.
    """

    label: str
    start: datetime
    footprint: Footprint
    actual_co2e_g: float

    @property
    def co2e_g(self) -> float:
        """The what-if emissions. Units: grams CO2e."""
        return self.footprint.co2e_g

    @property
    def savings_g(self) -> float:
        """Actual minus what-if emissions (negative when worse). Units: grams CO2e."""
        return self.actual_co2e_g - self.footprint.co2e_g

    @property
    def savings_pct(self) -> float | None:
        """Savings as a percentage of the actual emissions (None when those are 0)."""
        if self.actual_co2e_g <= 0:
            return None
        return 100.0 * self.savings_g / self.actual_co2e_g


def _first_start(spans: Sequence[EnergySpan]) -> datetime:
    if not spans:
        raise ValueError("a counterfactual needs at least one energy span")
    return min(span.start for span in spans)


def shifted(
    spans: Sequence[EnergySpan],
    ci_points: Sequence[CiPoint],
    pue: PueLike,
    start_at: datetime,
) -> Counterfactual:
    """The same energy profile started at ``start_at`` instead.

    Args:
        spans: The job's energy spans.
        ci_points: A CI series covering both the actual and the shifted times.
        pue: As for :func:`.footprint.footprint`.
        start_at: The what-if start of the earliest span (aware datetime).

    Returns:
        The shifted footprint against the actual one.

    Raises:
        ValueError: No spans, or as :func:`.footprint.footprint`.
    """
    offset = start_at - _first_start(spans)
    actual = footprint(spans, ci_points, pue)
    moved = footprint([span.shifted(offset) for span in spans], ci_points, pue)
    return Counterfactual(f"start={start_at.isoformat()}", start_at, moved, actual.co2e_g)


def cleanest_start(
    spans: Sequence[EnergySpan],
    ci_points: Sequence[CiPoint],
    pue: PueLike,
    window_h: float = 24,
    step: timedelta = timedelta(hours=1),
) -> Counterfactual:
    """The start within ``window_h`` hours after the actual one with the least emissions.

    Candidates are the actual start plus ``0, step, 2*step, ...`` up to
    ``window_h``. A candidate whose shifted profile leaves the series (or falls
    into one of its gaps) is skipped, so no figure rests on a stand-in CI; the
    actual start is always a candidate. Ties go to the earliest start.

    Args:
        spans: The job's energy spans.
        ci_points: A CI series, ideally covering the job and the window after it.
        pue: As for :func:`.footprint.footprint`.
        window_h: How far after the actual start to look. Units: hours.
        step: Distance between candidate starts (positive).

    Returns:
        The cleanest start and its footprint against the actual one.

    Raises:
        ValueError: No spans, a non-positive step or a negative window.
    """
    if step <= timedelta(0) or window_h < 0:
        raise ValueError("cleanest_start needs a positive step and a non-negative window")
    first = _first_start(spans)
    last = max(span.end for span in spans)
    timeline = best_timeline(ci_points)
    actual = footprint(spans, ci_points, pue)
    best = Counterfactual(f"start={first.isoformat()}", first, actual, actual.co2e_g)
    window = timedelta(hours=window_h)
    offset = step
    while offset <= window:
        if timeline.covers(first + offset, last + offset):
            moved = footprint([span.shifted(offset) for span in spans], ci_points, pue)
            if moved.co2e_g < best.co2e_g:
                start = first + offset
                best = Counterfactual(f"start={start.isoformat()}", start, moved, actual.co2e_g)
        offset += step
    return best


def in_region(
    spans: Sequence[EnergySpan],
    ci_points: Sequence[CiPoint],
    pue: PueLike,
    regions: Mapping[str, Sequence[CiPoint]],
) -> list[Counterfactual]:
    """The same energy profile, at the same times, under other regions' CI series.

    Args:
        spans: The job's energy spans.
        ci_points: The actual region's CI series.
        pue: As for :func:`.footprint.footprint`; the same facility is assumed.
        regions: Other regions' CI series by region code.

    Returns:
        One counterfactual per region, cleanest first.

    Raises:
        ValueError: No spans, or a region without points.
    """
    first = _first_start(spans)
    actual = footprint(spans, ci_points, pue)
    results = [
        Counterfactual(f"region={region}", first, footprint(spans, series, pue), actual.co2e_g)
        for region, series in regions.items()
    ]
    return sorted(results, key=lambda result: result.co2e_g)
