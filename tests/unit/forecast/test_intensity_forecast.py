"""The carbon-intensity forecasters: baselines on hand series, the blend against them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from slurm_carbon.forecast import DEFAULT_METHOD, METHODS, backtest, forecast, history_steps
from slurm_carbon.forecast.intensity import PRIOR_HALF_LIFE_H, _features, predictions

HOUR_S = 3600
DAY = 24
#: The blend must score at most these fractions of the better baseline's MAPE on the
#: synthetic series, by horizon in hours: the issue's aim (0.85) an hour ahead; a day
#: ahead the persistent noise (about 34 g/kWh, 11 % of the mean) is beyond any
#: forecaster, which leaves about 0.81 for the blend: 0.9 keeps a margin.
AIM_RATIO = {1: 0.85, 24: 0.9}
#: Weeks in the synthetic series: two of warm-up, eight scored.
SYNTHETIC_WEEKS = 10
WARMUP_WEEKS = 2
#: The synthetic grid (gCO2e/kWh): a mean, a daily swing, a weekend dip, and
#: persistent (AR(1)) weather noise of this spread and memory per hour.
MEAN, DAILY, WEEKEND, NOISE, MEMORY = 300.0, 80.0, 40.0, 15.0, 0.9


def synthetic(seed: int = 7) -> np.ndarray:
    """Hourly intensity with a daily cycle, a weekly cycle and persistent noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(SYNTHETIC_WEEKS * 7 * DAY)
    weekend = ((t // DAY) % 7 >= 5).astype(float)
    noise = np.zeros(len(t))
    for i in range(1, len(t)):
        noise[i] = MEMORY * noise[i - 1] + rng.normal(0, NOISE)
    return MEAN + DAILY * np.sin(2 * np.pi * t / DAY) - WEEKEND * weekend + noise


def test_persistence_is_the_value_at_the_origin() -> None:
    values = [10.0, 20.0, 30.0, 40.0]

    made = predictions(values, HOUR_S, 2, "persistence")

    assert made.tolist() == values


def test_seasonal_naive_is_the_same_time_the_day_before_the_target() -> None:
    values = np.arange(100, 100 + 3 * DAY, dtype=float)

    one_hour = predictions(values, HOUR_S, 1, "seasonal_naive")
    a_day_and_one = predictions(values, HOUR_S, DAY + 1, "seasonal_naive")

    assert math.isnan(one_hour[DAY - 2])  # its target's yesterday is before the series
    assert one_hour[DAY - 1] == 100.0  # target hour 24: the value at hour 0
    assert one_hour[30] == values[30 + 1 - DAY]
    assert a_day_and_one[50] == values[50 + DAY + 1 - 2 * DAY]  # two days back: the latest known


def test_seasonal_naive_counts_days_in_steps_of_a_quarter_hour() -> None:
    values = np.arange(4 * 96, dtype=float) + 1

    made = predictions(values, 900, 4, "seasonal_naive")

    assert made[200] == values[200 + 4 - 96]


def test_the_blend_beats_both_baselines_on_daily_and_weekly_cycles() -> None:
    values = synthetic()

    for horizon, ratio in AIM_RATIO.items():
        mape = backtest(values, HOUR_S, horizon, WARMUP_WEEKS * 7 * DAY).mape()
        better = min(mape["persistence"], mape["seasonal_naive"])
        assert mape["blend"] <= ratio * better, (horizon, mape)


def test_the_blend_uses_only_the_past() -> None:
    values = synthetic()
    origin = 9 * 7 * DAY

    full = predictions(values, HOUR_S, 6, "blend")[origin]
    cut = predictions(values[: origin + 1], HOUR_S, 6, "blend")[origin]
    changed = values.copy()
    changed[origin + 1 :] *= 3

    assert cut == pytest.approx(full)
    assert predictions(changed, HOUR_S, 6, "blend")[origin] == pytest.approx(full)


def test_with_no_rows_to_fit_the_blend_is_its_prior() -> None:
    values = synthetic()[: history_steps(HOUR_S) + 3]
    last = len(values) - 1
    profile = np.mean([values[last + 6 - j * DAY] for j in range(1, 8)])
    level = 0.5 ** (6 / PRIOR_HALF_LIFE_H)  # persistence fades into the daily profile

    made = predictions(values, HOUR_S, 6, "blend")

    assert made[-1] == pytest.approx(level * values[-1] + (1 - level) * profile, rel=1e-3)


def test_forecast_is_the_last_origins_prediction() -> None:
    values = synthetic()[: 5 * 7 * DAY]

    ahead = forecast(values, HOUR_S, 3)

    assert ahead == pytest.approx(predictions(values, HOUR_S, 3, DEFAULT_METHOD)[-1])
    assert abs(ahead - values[-1]) < 3 * NOISE * 3  # near the level, not a wild fit


def test_forecast_refuses_a_history_shorter_than_a_week() -> None:
    with pytest.raises(ValueError, match="7 days"):
        forecast([100.0] * (7 * DAY - 1), HOUR_S, 1)


@pytest.mark.parametrize(
    ("step_s", "horizon", "method", "message"),
    [
        (7 * HOUR_S, 1, "blend", "divide a day"),
        (HOUR_S, 0, "blend", "not ahead"),
        (HOUR_S, 1, "oracle", "unknown forecast method"),
    ],
)
def test_bad_arguments_are_refused(step_s: int, horizon: int, method: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        predictions([1.0] * 500, step_s, horizon, method)


def test_backtest_counts_origins_and_leaves_out_zero_targets() -> None:
    values = synthetic()[: 8 * 7 * DAY]
    values[-1] = 0.0
    first = history_steps(HOUR_S)

    scored = backtest(values, HOUR_S, 2, first)

    assert scored.points == len(values) - 2 - first - 1
    assert set(scored.forecasts) == set(METHODS)
    assert all(math.isfinite(error) for error in scored.mape().values())


def test_backtest_refuses_a_warmup_shorter_than_the_history_needed() -> None:
    with pytest.raises(ValueError, match="7 days"):
        backtest(synthetic(), HOUR_S, 1, history_steps(HOUR_S) - 1)


def test_the_blend_sees_the_origins_own_daily_profile() -> None:
    values = synthetic()
    origin = 9 * 7 * DAY + 5

    columns = _features(values, DAY, 6)

    # the last feature: the origin's time of day over the last seven days (not the target's)
    expected = np.mean([values[origin - j * DAY] for j in range(1, 8)])
    assert columns[origin, -1] == pytest.approx(expected)
    assert columns[origin, -1] != pytest.approx(columns[origin, 6])
