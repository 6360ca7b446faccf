"""The static-cap hull: the best carbon-agnostic mix of two fixed caps at a given slowdown.

Each fixed cap gives a point (mean slowdown, carbon). Running a share ``a`` of
the work at cap ``x`` and the rest at cap ``y`` gives the slowdown and carbon in
between (time per unit of work is linear in the share; carbon is too, up to how
the shares fall on the grid's hours), so the best any time-share of fixed caps
does at slowdown ``s`` is the lower convex hull of the points at ``s``. A
carbon-aware policy earns only what it saves beyond that hull.

Pure functions. Units: whatever the points are in (slowdown as a fraction or
percent, carbon in grams or percent): the hull is taken as given.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

__all__ = ["hull_at", "lower_hull"]


def _cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def lower_hull(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The lower convex hull of ``(x, y)`` points, by increasing ``x`` (Andrew's monotone chain).

    Of points with the same ``x`` only the lowest counts.

    Raises:
        ValueError: No points.
    """
    if not points:
        raise ValueError("a hull needs at least one point")
    lowest: dict[float, float] = {}
    for x, y in points:
        lowest[x] = min(y, lowest.get(x, y))
    hull: list[tuple[float, float]] = []
    for point in sorted(lowest.items()):
        while len(hull) >= 2 and _cross(hull[-2], hull[-1], point) <= 0:
            hull.pop()
        hull.append(point)
    return hull


def hull_at(hull: Sequence[tuple[float, float]], x: float) -> float:
    """The hull's ``y`` at ``x``: linear between its vertices, its end values beyond them."""
    if x <= hull[0][0]:
        return hull[0][1]
    for (x0, y0), (x1, y1) in itertools.pairwise(hull):
        if x <= x1:
            return y0 + (x - x0) / (x1 - x0) * (y1 - y0)
    return hull[-1][1]
