"""Series helpers: the points overlapping a window, and steps inferred for stored points."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.intensity.series import overlapping, steps_until_next
from slurm_carbon.vocabulary import CiKind, CiSignal

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def point(minutes: int, step_s: int = 3600, source: str = "a") -> CiPoint:
    t = T0 + timedelta(minutes=minutes)
    return CiPoint("GB", t, step_s, 100.0, source, CiKind.ACTUAL, CiSignal.AVERAGE, t)


def test_overlapping_keeps_points_that_touch_the_window_inside_and_sorts_them() -> None:
    points = [point(120), point(0), point(60), point(180), point(-60)]
    # [00:30, 02:00): the 00:00 point (until 01:00) overlaps, the 02:00 one starts at the end.
    found = overlapping(points, T0 + timedelta(minutes=30), T0 + timedelta(hours=2))
    assert [p.time for p in found] == [T0, T0 + timedelta(hours=1)]


def test_overlapping_uses_each_points_own_step_and_keeps_ties_in_order() -> None:
    points = [point(0, 300, "b"), point(0, 3600, "a"), point(-30, 1800)]
    found = overlapping(points, T0 + timedelta(minutes=10), T0 + timedelta(minutes=20))
    assert [(p.source, p.step_s) for p in found] == [("a", 3600)]
    assert overlapping(points, T0, T0 + timedelta(seconds=1)) == [points[0], points[1]]
    assert overlapping(points, T0 + timedelta(hours=2), T0 + timedelta(hours=3)) == []


def test_steps_until_next() -> None:
    times = [T0, T0 + timedelta(minutes=30), T0 + timedelta(minutes=90)]
    assert steps_until_next(times, 3600) == [1800, 3600, 3600]
    assert steps_until_next([T0], 300) == [300]
    assert steps_until_next([], 300) == []
    assert steps_until_next([T0, T0 + timedelta(milliseconds=10)], 300) == [1, 1]
