"""Our scheduled forecast: from stored actuals to stored forecast points (both databases)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from slurm_carbon.errors import IntensityUnavailable
from slurm_carbon.forecast.intensity import forecast
from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.service.ci_forecast import (
    MAX_FILLED_GAP,
    MAX_POINTS_PER_RUN,
    OwnForecaster,
    ci_ahead,
    regular_tail,
)
from slurm_carbon.service.poller import IntensityPoller
from slurm_carbon.store import SessionFactory
from slurm_carbon.store.intensity import add_ci_points, ci_points
from slurm_carbon.vocabulary import CiKind, CiSignal

T0 = datetime(2026, 11, 1, tzinfo=UTC)
H = timedelta(hours=1)


def _actual(time: datetime, value: float, source: str = "uk") -> CiPoint:
    return CiPoint("GB", time, 3600, value, source, CiKind.ACTUAL, CiSignal.AVERAGE, time)


def _daily(hours: int, first: datetime = T0) -> list[CiPoint]:
    """Hourly actuals of a clean daily cycle: 200 +- 80 gCO2e/kWh, lowest at 06:00."""
    return [
        _actual(first + i * H, 200.0 - 80.0 * math.cos(2 * math.pi * (i - 6) / 24))
        for i in range(hours)
    ]


def test_a_short_gap_is_filled_with_the_value_before_and_a_long_one_restarts_the_series() -> None:
    long_gap = MAX_FILLED_GAP + H
    times = [T0, T0 + H, T0 + H + long_gap, T0 + 2 * H + long_gap, T0 + 5 * H + long_gap]
    points = [_actual(t, float(i)) for i, t in enumerate(times)]

    step_s, tail = regular_tail(points)

    assert step_s == 3600
    assert [(t.time - times[2]) / H for t in tail] == [0, 1, 2, 3, 4]
    assert [t.ci_g_per_kwh for t in tail] == [2.0, 3.0, 3.0, 3.0, 4.0]


@pytest.mark.parametrize(
    ("gaps_min", "reason"), [((), "no step"), ((7, 7, 7), "a step of 420 s is not 15 min")]
)
def test_a_series_without_an_allowed_step_is_refused(gaps_min: Sequence[int], reason: str) -> None:
    times = [T0 + timedelta(minutes=sum(gaps_min[:i])) for i in range(len(gaps_min) + 1)]

    with pytest.raises(IntensityUnavailable, match=reason):
        regular_tail([_actual(t, 100.0) for t in times])


def test_our_forecast_is_stored_once_per_origin_with_the_methods_values(
    factory: SessionFactory, session: Session
) -> None:
    history = _daily(8 * 24)
    add_ci_points(session, history)
    origin = history[-1].time
    forecaster = OwnForecaster(factory)

    new = forecaster("GB", origin + timedelta(minutes=20))
    again = forecaster("GB", origin + timedelta(minutes=35))

    stored = ci_points(session, "GB", origin, origin + 2 * 24 * H, kind=CiKind.FORECAST)
    values = [p.ci_g_per_kwh for p in history]
    assert (new, again) == (24, 0)
    assert MAX_POINTS_PER_RUN == 96  # a day at 15 min, the finest step
    assert {(p.source, p.issued_at, p.step_s) for p in stored} == {
        ("slurm_carbon:blend", origin, 3600)
    }
    assert [p.time for p in stored] == [origin + k * H for k in range(1, 25)]
    assert [p.ci_g_per_kwh for p in stored] == [
        pytest.approx(forecast(values, 3600, k)) for k in range(1, 25)
    ]
    # a clean daily cycle is forecast within 2 % of the same hour the day before
    assert all(
        abs(p.ci_g_per_kwh - values[-24 + k - 1]) < 0.02 * values[-24 + k - 1]
        for k, p in enumerate(stored, 1)
    )


def test_too_short_a_history_gives_no_forecast(factory: SessionFactory, session: Session) -> None:
    add_ci_points(session, _daily(6 * 24))

    with pytest.raises(IntensityUnavailable, match=r"144 regular points of uk since .* 7 days"):
        OwnForecaster(factory)("GB", T0 + 7 * 24 * H)
    with pytest.raises(IntensityUnavailable, match="no stored actuals"):
        OwnForecaster(factory)("FR", T0 + 7 * 24 * H)


class _NoForecast:
    name = "quiet"

    def history(self, region: str, start: datetime, end: datetime) -> Sequence[CiPoint]:
        raise IntensityUnavailable("quiet: nothing new")

    def forecast(self, region: str, start: datetime, hours: int) -> Sequence[CiPoint]:
        raise IntensityUnavailable("quiet: no forecast")


def test_the_poller_runs_our_forecast_and_ci_ahead_then_uses_it(
    factory: SessionFactory, session: Session
) -> None:
    add_ci_points(session, _daily(8 * 24))
    now = T0 + 8 * 24 * H
    poller = IntensityPoller(
        factory, _NoForecast(), ["GB", "FR"], forecaster=OwnForecaster(factory), clock=lambda: now
    )

    result = poller.poll_once()
    ahead = ci_ahead(session, "GB", now, now + 2 * H, now)

    assert result.new_points == {"GB": 24, "FR": 0}
    assert result.errors["FR"].endswith("our forecast: no stored actuals")
    assert [(p.time, p.source, p.kind) for p in ahead] == [
        (now, "slurm_carbon:blend", CiKind.FORECAST),
        (now + H, "slurm_carbon:blend", CiKind.FORECAST),
    ]
