"""The advice's regular series from the CI ahead: its step, start, end, source and issue time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from slurm_carbon.forecast.advice import (
    ADVICE_CARRIED_SOURCE,
    ADVICE_MAX_POINTS,
    CiSteps,
    advice_series,
)
from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.vocabulary import CiKind, CiSignal

T0 = datetime(2026, 12, 1, 12, tzinfo=UTC)
E0 = int(T0.timestamp())
ISSUED = T0 - timedelta(hours=2)


def pt(
    minutes: int, step_s: int, ci: float, source: str = "ours", kind: CiKind = CiKind.FORECAST
) -> CiPoint:
    time = T0 + timedelta(minutes=minutes)
    issued = ISSUED if kind is CiKind.FORECAST else time
    return CiPoint("DE", time, step_s, ci, source, kind, CiSignal.AVERAGE, issued)


def test_hourly_forecasts_give_an_hourly_series_from_the_hour_holding_now() -> None:
    points = [pt(60 * i, 3600, 100.0 + i) for i in range(5)]
    found = advice_series(points, E0 + 1200)
    assert found is not None
    assert found.steps == CiSteps(E0, 3600, (100.0, 101.0, 102.0, 103.0, 104.0))
    assert (found.source, found.issued, found.carried) == ("ours", int(ISSUED.timestamp()), False)


def test_a_piece_off_the_hour_makes_quarter_hours_averaged() -> None:
    # 100 for 40 min, then 400 for 20 min, then 200: a 10-minute edge fits no step.
    points = [pt(0, 2400, 100.0), pt(40, 1200, 400.0), pt(60, 3600, 200.0)]
    found = advice_series(points, E0)
    assert found is not None
    assert found.steps.step_s == 900
    # The third quarter: 10 min at 100, 5 min at 400.
    assert found.steps.ci == pytest.approx((100, 100, 200, 400, 200, 200, 200, 200), abs=1e-9)


def test_half_hour_forecasts_keep_their_step() -> None:
    found = advice_series([pt(30 * i, 1800, 50.0 * (i + 1)) for i in range(4)], E0 + 1800)
    assert found is not None
    assert found.steps == CiSteps(E0 + 1800, 1800, (100.0, 150.0, 200.0))


def test_only_a_carried_actual_is_labelled_so() -> None:
    carried = pt(-30, 3600 * 49, 300.0, source="uk", kind=CiKind.ACTUAL)
    found = advice_series([carried], E0)
    assert found is not None
    assert found.carried
    assert found.source == ADVICE_CARRIED_SOURCE
    assert found.issued == E0 - 1800
    assert found.steps.ci == (300.0,) * 48


def test_the_series_ends_with_the_last_forecast_and_at_a_gap() -> None:
    carried_after = pt(180, 3600 * 10, 999.0, source="uk", kind=CiKind.ACTUAL)
    found = advice_series([pt(0, 3600, 1.0), pt(60, 3600, 2.0), carried_after], E0)
    assert found is not None
    assert found.steps.ci == (1.0, 2.0)


def test_most_values_and_the_dominant_source() -> None:
    points = [pt(15 * i, 900, 10.0, source="uk" if i < 10 else "ours") for i in range(300)]
    found = advice_series(points, E0)
    assert found is not None
    assert len(found.steps.ci) == ADVICE_MAX_POINTS
    assert found.source == "ours"


def test_nothing_or_nothing_covering_now_gives_no_series() -> None:
    assert advice_series([], E0) is None
    assert advice_series([pt(60, 3600, 1.0), pt(120, 3600, 1.0)], E0) is None
