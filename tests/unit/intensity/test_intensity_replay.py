from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from slurm_carbon.intensity.base import CiKind, CiPoint, CiSignal
from slurm_carbon.intensity.replay import replayed, synthetic_daily


def point(time: datetime, ci: float) -> CiPoint:
    return CiPoint("SE", time, 3600, ci, "dacf", CiKind.ACTUAL, CiSignal.AVERAGE, time)


def test_replay_maps_the_same_date_to_today_and_keeps_the_hour() -> None:
    first = datetime(2020, 11, 22, tzinfo=UTC)
    trace = [point(first + timedelta(hours=h), 10.0 + h) for h in range(48)]

    shifted = replayed(trace, datetime(2026, 11, 23, 9, 30, tzinfo=UTC), "dacf")

    today_9 = [p for p in shifted if p.time == datetime(2026, 11, 23, 9, tzinfo=UTC)]
    assert [p.ci_g_per_kwh for p in today_9] == [10.0 + 24 + 9]
    assert all(p.source == "dacf (replayed)" for p in shifted)
    assert shifted[1].time - shifted[0].time == timedelta(hours=1)


def test_synthetic_day_averages_the_mean_and_is_cleanest_at_13_utc() -> None:
    day = synthetic_daily("SE", 40.0, datetime(2026, 11, 23, 0, 17, tzinfo=UTC), 24)

    assert len(day) == 24
    assert sum(p.ci_g_per_kwh for p in day) / 24 == pytest.approx(40.0)
    cleanest = min(day, key=lambda p: p.ci_g_per_kwh)
    assert cleanest.time == datetime(2026, 11, 23, 13, tzinfo=UTC)
    assert cleanest.ci_g_per_kwh == pytest.approx(28.0)
    assert {p.source for p in day} == {"synthetic"}


def test_an_empty_trace_cannot_be_replayed() -> None:
    with pytest.raises(ValueError, match="no points"):
        replayed([], datetime(2026, 1, 1, tzinfo=UTC), "x")
