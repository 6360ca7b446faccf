"""Carbon intensity ahead: two baselines and a fitted blend, over a regular series.

Pure functions: a series in, forecasts out; no I/O, no clock. A series is the
carbon intensity at a fixed step (a divisor of a day), oldest first, with no
gaps; the origin of a forecast is a point of the series, and a forecast for
``horizon_steps`` ahead uses the values up to the origin only.

Methods (:data:`METHODS`):

- ``persistence``: the value at the origin.
- ``seasonal_naive``: the value at the same time of day one day before the
  target (``k`` days before, the fewest that lie at or before the origin).
- ``blend`` (:data:`DEFAULT_METHOD`): one linear model per horizon over ten
  features of the history (the level now and one step before, the value at
  the origin's time yesterday, the target's time yesterday and last week, the
  mean of the target's time of day over the last seven days (daily profile)
  and of its time and weekday over the last :data:`WEEKLY_PROFILE_WEEKS` weeks
  (weekly profile), the last day's and the last week's means, and the daily
  profile of the origin's own time, so that the origin's departure from its
  usual level can be carried ahead and faded by horizon), refitted at
  every origin by ridge-regularised least squares on the last
  :data:`FIT_WINDOW_DAYS` days of forecasts whose targets are known by then.
  Rows are weighted by the inverse square of their target (squared *relative*
  error), then reweighted twice by the inverse of each row's out-of-sample
  relative error (iteratively reweighted least squares towards the absolute
  relative error that MAPE scores). A light ridge (:data:`PRIOR_DAYS`) towards
  a prior, persistence fading into the daily profile as the horizon grows
  (:data:`PRIOR_HALF_LIFE_H`), keeps the fit defined on a short history, where
  it gives that prior.

Units: gCO2e/kWh for values; seconds for ``step_s``; steps of the series for
horizons and origins::

    forecast(values, step_s=3600, horizon_steps=24)          # one value, 24 h ahead
    backtest(values, step_s=3600, horizon_steps=6, first_origin=7 * 24).mape()
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "ALLOWED_STEPS_S",
    "DEFAULT_METHOD",
    "FIT_WINDOW_DAYS",
    "HISTORY_DAYS",
    "METHODS",
    "PRIOR_DAYS",
    "PRIOR_HALF_LIFE_H",
    "WEEKLY_PROFILE_WEEKS",
    "Backtest",
    "backtest",
    "forecast",
    "history_steps",
    "predictions",
]

DAY_S = 86_400
#: The steps a series may have to be forecast by the service or scored: 15 min, 30 min, 1 h
#: (what the providers publish; finer steps add points, not skill).
ALLOWED_STEPS_S = (900, 1800, 3600)
WEEK_DAYS = 7
#: Days of history the blend's features need before the first origin: a week of
#: same-time values (the daily profile, last week's value) and the weekly mean.
HISTORY_DAYS = WEEK_DAYS
#: Weeks in the weekly profile (the same time and weekday in the last weeks; fewer
#: while the history is shorter).
WEEKLY_PROFILE_WEEKS = 4
#: Days of past forecasts (rows whose targets are known at the origin) the blend
#: is fitted on: eight weeks follow the seasons while holding each weekday eight times.
FIT_WINDOW_DAYS = 56
#: Weight of the prior (see :func:`_prior`) in the ridge fit, in days of rows: enough
#: to make the fit defined with no rows (it is then the prior), too little to pull
#: a fit over a full window away from the data (a strong ridge would shrink the
#: small differences between the collinear features, which carry the skill).
PRIOR_DAYS = 0.1
# How many features :func:`_features` gives.
_FEATURES = 10
#: Hours ahead at which the prior weighs persistence and the daily profile equally.
PRIOR_HALF_LIFE_H = 3.0
#: Reweighting passes towards least absolute relative error (MAPE), and the relative
#: error below which a row's weight stops growing (1 %).
_L1_PASSES = 2
_L1_FLOOR = 0.01
#: A floor of the ridge for coarse steps, as a fraction of one row's weight.
_MIN_RIDGE = 0.01

METHODS = ("persistence", "seasonal_naive", "blend")
DEFAULT_METHOD = "blend"

Floats = NDArray[np.float64]


def _steps_per_day(step_s: int) -> int:
    if step_s <= 0 or DAY_S % step_s:
        raise ValueError(f"a step of {step_s} s does not divide a day")
    return DAY_S // step_s


def history_steps(step_s: int) -> int:
    """How many points of history every method needs before its first origin."""
    return HISTORY_DAYS * _steps_per_day(step_s)


def _lag(y: Floats, index: NDArray[np.int64]) -> Floats:
    out = np.full(len(index), np.nan)
    ok = (index >= 0) & (index < len(y))
    out[ok] = y[index[ok]]
    return out


def _trailing_mean(y: Floats, window: int) -> Floats:
    sums = np.concatenate([[0.0], np.cumsum(y)])
    out = np.full(len(y), np.nan)
    out[window - 1 :] = (sums[window:] - sums[:-window]) / window
    return out


def _features(y: Floats, per_day: int, horizon: int) -> Floats:
    """One row per origin (NaN where the history is too short); columns as in the module doc."""
    t = np.arange(len(y))
    days_back = math.ceil(horizon / per_day)
    weeks_back = math.ceil(horizon / (WEEK_DAYS * per_day))
    target = t + horizon
    profile = np.mean(
        [_lag(y, target - j * per_day) for j in range(days_back, days_back + WEEK_DAYS)], axis=0
    )
    # The origin's own time of day over the last week: with the level at the origin it
    # gives the origin's departure from the usual, which fades as the horizon grows.
    origin_profile = np.mean([_lag(y, t - j * per_day) for j in range(1, WEEK_DAYS + 1)], axis=0)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: too short a history
        weekly = np.nanmean(
            [
                _lag(y, target - j * WEEK_DAYS * per_day)
                for j in range(weeks_back, weeks_back + WEEKLY_PROFILE_WEEKS)
            ],
            axis=0,
        )
    return np.column_stack(
        [
            _trailing_mean(y, WEEK_DAYS * per_day),
            y,
            _lag(y, t - 1),
            _lag(y, t - per_day),
            _lag(y, target - days_back * per_day),
            _lag(y, target - weeks_back * WEEK_DAYS * per_day),
            profile,
            _trailing_mean(y, per_day),
            weekly,
            origin_profile,
        ]
    )


def _prior(per_day: int, horizon: int) -> Floats:
    """Persistence fading into the daily profile (equal at :data:`PRIOR_HALF_LIFE_H` ahead)."""
    level = 0.5 ** (horizon / per_day * 24 / PRIOR_HALF_LIFE_H)
    prior = np.zeros(_FEATURES)
    prior[1], prior[6] = level, 1 - level
    return prior


def _rolling_fit(  # noqa: PLR0913, PLR0917 (the rows, their masked copies and weights, the geometry)
    x: Floats, xz: Floats, tz: Floats, weight: Floats, per_day: int, horizon: int
) -> Floats:
    """Each origin's forecast from the weighted ridge fit over the window of rows known there."""
    n, p = x.shape
    gram = np.concatenate(
        [np.zeros((1, p, p)), np.cumsum(weight[:, None, None] * xz[:, :, None] * xz[:, None, :], 0)]
    )
    moment = np.concatenate([np.zeros((1, p)), np.cumsum((weight * tz)[:, None] * xz, 0)])
    # At origin t the rows s with s + horizon <= t have known targets.
    hi = np.clip(np.arange(n) - horizon + 1, 0, n)
    lo = np.clip(hi - FIT_WINDOW_DAYS * per_day, 0, n)
    ridge = max(PRIOR_DAYS * per_day, _MIN_RIDGE)
    prior = _prior(per_day, horizon)
    a = gram[hi] - gram[lo] + ridge * np.eye(p)
    b = moment[hi] - moment[lo] + ridge * prior
    beta = np.linalg.solve(a, b[:, :, None])[:, :, 0]
    return np.asarray(np.einsum("ij,ij->i", x, beta), dtype=np.float64)


def _blend(y: Floats, per_day: int, horizon: int) -> Floats:
    x = _features(y, per_day, horizon)
    n = len(x)
    target = np.full(n, np.nan)
    target[: n - horizon] = y[horizon:]
    usable = np.isfinite(x).all(axis=1) & np.isfinite(target) & (target > 0)
    weight = np.zeros(n)
    weight[usable] = 1.0 / target[usable] ** 2
    xz = np.where(usable[:, None], x, 0.0)
    tz = np.where(usable, target, 0.0)
    out = _rolling_fit(x, xz, tz, weight, per_day, horizon)
    for _ in range(_L1_PASSES):
        # Towards least absolute relative error: each row weighted by the inverse of
        # its relative error in the previous pass (floored), as in iteratively
        # reweighted least squares.
        relative = np.abs(out - tz) / np.where(usable, tz, 1.0)
        robust = np.where(
            usable & np.isfinite(relative), weight / np.maximum(relative, _L1_FLOOR), 0.0
        )
        out = _rolling_fit(x, xz, tz, robust, per_day, horizon)
    return np.maximum(out, 0.0)


def predictions(
    values: Sequence[float] | Floats, step_s: int, horizon_steps: int, method: str
) -> Floats:
    """The forecast of ``method`` from every origin of the series, ``horizon_steps`` ahead.

    Element ``t`` is the forecast for point ``t + horizon_steps`` made from points
    ``0..t``; NaN where the history is too short.

    Raises:
        ValueError: an unknown method, a step that does not divide a day, or a horizon < 1.
    """
    y = np.asarray(values, dtype=np.float64)
    per_day = _steps_per_day(step_s)
    if horizon_steps < 1:
        raise ValueError(f"a horizon of {horizon_steps} steps is not ahead")
    if method == "persistence":
        return y.copy()
    if method == "seasonal_naive":
        t = np.arange(len(y))
        return _lag(y, t + horizon_steps - math.ceil(horizon_steps / per_day) * per_day)
    if method == "blend":
        return _blend(y, per_day, horizon_steps)
    raise ValueError(f"unknown forecast method {method!r} (known: {', '.join(METHODS)})")


def forecast(
    values: Sequence[float] | Floats,
    step_s: int,
    horizon_steps: int,
    method: str = DEFAULT_METHOD,
) -> float:
    """The carbon intensity ``horizon_steps`` after the last value, in gCO2e/kWh.

    Raises:
        ValueError: as :func:`predictions`, or a history shorter than :func:`history_steps`.
    """
    if len(values) < history_steps(step_s):
        raise ValueError(
            f"{len(values)} points are less than the {HISTORY_DAYS} days of history needed"
        )
    return float(predictions(values, step_s, horizon_steps, method)[-1])


@dataclass(frozen=True, slots=True)
class Backtest:
    """Rolling-origin forecasts of every method at one horizon, and the actual values.

    Only targets above zero are kept (a relative error needs one).
    Units: gCO2e/kWh.
    """

    actual: Floats
    forecasts: dict[str, Floats]

    @property
    def points(self) -> int:
        """How many forecasts each method made."""
        return len(self.actual)

    def mape(self) -> dict[str, float]:
        """Each method's mean absolute percentage error, in percent."""
        return {
            method: float(np.mean(np.abs(made - self.actual) / self.actual) * 100)
            for method, made in self.forecasts.items()
        }


def backtest(
    values: Sequence[float] | Floats, step_s: int, horizon_steps: int, first_origin: int
) -> Backtest:
    """Forecast ``horizon_steps`` ahead from every origin from ``first_origin`` on, by each method.

    Raises:
        ValueError: as :func:`predictions`; ``first_origin`` below :func:`history_steps`;
            no origin left.
    """
    y = np.asarray(values, dtype=np.float64)
    if first_origin < history_steps(step_s):
        raise ValueError(f"the first origin needs {HISTORY_DAYS} days of history before it")
    last_origin = len(y) - 1 - horizon_steps
    if last_origin < first_origin:
        raise ValueError("the series is too short for this warm-up and horizon")
    origins = np.arange(first_origin, last_origin + 1)
    actual = y[origins + horizon_steps]
    keep = actual > 0
    made = {
        method: predictions(y, step_s, horizon_steps, method)[origins][keep] for method in METHODS
    }
    return Backtest(actual=actual[keep], forecasts=made)
