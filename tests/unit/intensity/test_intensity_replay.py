from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from slurm_carbon.errors import ConfigError
from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.intensity.replay import (
    REPLAY_AFTER,
    REPLAY_BEFORE,
    replay_shift,
    replayed,
    synthetic_daily,
)
from slurm_carbon.intensity.trace import read_trace
from slurm_carbon.vocabulary import CiKind, CiSignal


def point(time: datetime, ci: float) -> CiPoint:
    return CiPoint("SE", time, 3600, ci, "dacf", CiKind.ACTUAL, CiSignal.AVERAGE, time)


def hourly(first: datetime, last: datetime) -> list[CiPoint]:
    """Hourly points whose value is the hours since ``first`` (each point names its hour)."""
    hours = int((last - first) / timedelta(hours=1)) + 1
    return [point(first + timedelta(hours=h), float(h)) for h in range(hours)]


def at(points: list[CiPoint], time: datetime) -> float:
    """The value in force at ``time``."""
    return next(p.ci_g_per_kwh for p in reversed(points) if p.time <= time)


def test_a_trace_not_starting_on_1_january_is_replayed_with_today_inside() -> None:
    # the reproducer: a real trace from 2019-12-20 to 2021-01-09, today 2026-12-01
    trace = hourly(datetime(2019, 12, 20, tzinfo=UTC), datetime(2021, 1, 9, 23, tzinfo=UTC))
    now = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)  # a Tuesday, as 2020-12-01 was

    shift = replay_shift(trace, now)
    shifted = replayed(trace, shift, "dacf")

    assert shift == timedelta(weeks=313)  # 2020-12-01 becomes 2026-12-01
    source_hour = (datetime(2020, 12, 1, 9, tzinfo=UTC) - trace[0].time) / timedelta(hours=1)
    assert at(shifted, now) == source_hour
    assert shifted[0].time <= now - REPLAY_BEFORE
    assert shifted[-1].time >= now + REPLAY_AFTER
    assert all(p.source == "dacf (replayed)" for p in shifted)
    assert shifted[1].time - shifted[0].time == timedelta(hours=1)


@pytest.mark.parametrize(
    ("now", "source_day"),
    [
        # the same date exists in the trace's year and weekday: kept
        (datetime(2026, 6, 15, 12, tzinfo=UTC), datetime(2020, 6, 15, tzinfo=UTC)),
        # 31 December: no day after it in a one-year trace; the Thursday a week before
        (datetime(2026, 12, 31, 12, tzinfo=UTC), datetime(2020, 12, 24, tzinfo=UTC)),
        # 1 January: no day before it; the first Friday with a day of trace before it
        (datetime(2027, 1, 1, 0, 30, tzinfo=UTC), datetime(2020, 1, 3, tzinfo=UTC)),
        # 29 February in a trace of a common year: the Tuesday nearest the 28th
        (datetime(2028, 2, 29, 8, tzinfo=UTC), datetime(2021, 3, 2, tzinfo=UTC)),
    ],
)
def test_now_lands_on_its_weekday_and_hour_nearest_its_date(
    now: datetime, source_day: datetime
) -> None:
    year = source_day.year
    trace = hourly(datetime(year, 1, 1, tzinfo=UTC), datetime(year, 12, 31, 23, tzinfo=UTC))

    shift = replay_shift(trace, now)

    source = now - shift
    assert source.date() == source_day.date()
    assert (source.weekday(), source.time()) == (now.weekday(), now.time())
    assert shift % timedelta(weeks=1) == timedelta(0)


def test_a_trace_too_short_to_replay_is_refused() -> None:
    trace = hourly(datetime(2020, 11, 22, tzinfo=UTC), datetime(2020, 11, 23, 23, tzinfo=UTC))
    with pytest.raises(ConfigError, match=r"too short to replay .* 9 days always suffice"):
        replay_shift(trace, datetime(2026, 11, 23, 9, 30, tzinfo=UTC))
    nine_days = hourly(datetime(2020, 3, 2, tzinfo=UTC), datetime(2020, 3, 10, 23, tzinfo=UTC))
    for day in range(7):  # any weekday and hour fits into nine days
        now = datetime(2026, 11, 23 + day, 17, 45, tzinfo=UTC)
        source = now - replay_shift(nine_days, now)
        assert datetime(2020, 3, 3, tzinfo=UTC) <= source <= datetime(2020, 3, 10, tzinfo=UTC)


def test_real_trace_replays_today(shared_data: Callable[[str], Path]) -> None:
    trace = read_trace(shared_data("carbon_intensity/SE_direct_2020.csv"), region="SE", source="d")
    now = datetime(2026, 12, 1, 14, 5, tzinfo=UTC)
    shifted = replayed(trace.points, replay_shift(trace.points, now), "d")
    assert at(shifted, now) == at(trace.points, datetime(2020, 12, 1, 14, tzinfo=UTC))


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
        replay_shift([], datetime(2026, 1, 1, tzinfo=UTC))
