"""Power usage effectiveness (PUE): a constant, a step series, or any function of time.

Units: dimensionless, at least 1 (facility energy / IT energy).
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["PueLike", "PueSeries", "pue_function"]


@dataclass(frozen=True)
class PueSeries:
    """PUE values each holding from ``valid_from`` until the next one.

    A time before the first point takes the first point's value. This is the
    one check of a PUE's value: the site configuration builds its series here
    and shows these messages (``item N`` is the Nth point, from 0).

    Attributes:
        points: ``(valid_from, pue)`` pairs, strictly increasing in time.
            Units: aware datetimes; PUE dimensionless.

    Raises:
        ValueError: No points, a naive datetime, a PUE below 1 or times out of order.
    """

    points: tuple[tuple[datetime, float], ...]

    def __post_init__(self) -> None:
        if not self.points:
            raise ValueError("a PUE series needs at least one {valid_from, value} point")
        for index, (when, value) in enumerate(self.points):
            if when.tzinfo is None:
                raise ValueError(f"item {index}: valid_from must be a date-time with a UTC offset")
            try:
                _check_pue(value)
            except ValueError as err:
                raise ValueError(f"item {index}: {err}") from None
        times = [when for when, _ in self.points]
        if any(b <= a for a, b in itertools.pairwise(times)):
            raise ValueError("valid_from times must be strictly increasing")

    @classmethod
    def constant(cls, pue: float) -> PueSeries:
        """One PUE at all times.

        Raises:
            ValueError: ``pue`` is below 1 (or NaN, or a bool).
        """
        return cls(((datetime.min.replace(tzinfo=UTC), _check_pue(pue)),))

    def at(self, when: datetime) -> float:
        """PUE in force at ``when``."""
        times = [valid_from for valid_from, _ in self.points]
        index = bisect.bisect_right(times, when) - 1
        return self.points[max(index, 0)][1]

    def __call__(self, when: datetime) -> float:
        """PUE in force at ``when`` (same as :meth:`at`)."""
        return self.at(when)


PueLike = float | PueSeries | Sequence[tuple[datetime, float]] | Callable[[datetime], float]
"""What the accounting functions accept as PUE."""


def _check_pue(value: float) -> float:
    if isinstance(value, bool) or not value >= 1:
        raise ValueError(f"PUE must be a number >= 1, got {value!r}")
    return float(value)


def pue_function(pue: PueLike) -> Callable[[datetime], float]:
    """Turn any accepted PUE form into a function of time.

    Args:
        pue: A constant, a :class:`PueSeries`, a sequence of ``(valid_from, pue)``
            pairs or a callable ``when -> pue``.

    Returns:
        A function returning the PUE at a time; it raises ``ValueError`` when a
        callable gives a PUE below 1.

    Raises:
        ValueError: A constant or series with a PUE below 1.
    """
    if isinstance(pue, int | float):
        constant = _check_pue(pue)
        return lambda _when: constant
    if isinstance(pue, PueSeries):
        return pue.at
    if callable(pue):
        function = pue
        return lambda when: _check_pue(function(when))
    return PueSeries(tuple((when, float(value)) for when, value in pue)).at
