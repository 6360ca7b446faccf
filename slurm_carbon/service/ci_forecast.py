"""Carbon intensity ahead: our scheduled forecasts, and the best stored one as known at a time.

:class:`OwnForecaster` runs our default method
(:data:`~slurm_carbon.forecast.intensity.DEFAULT_METHOD`) on a region's stored
actuals and stores its forecast for every step up to :data:`FORECAST_HORIZON`
(source ``slurm_carbon:<method>``, kind forecast, ``issued_at`` the origin: the
last actual's time). The service's poller calls it for each region after each
poll; a second run from the same origin adds nothing. The actuals are those of
the source with the newest one, over the last :data:`HISTORY_READ`; the series
is made regular first: its step is its most common gap (15 min, 30 min or 1 h),
a gap of up to :data:`MAX_FILLED_GAP` is filled with the value before it, and
only the part after a longer gap (or a time off the step) is used. Fewer than
:data:`~slurm_carbon.forecast.intensity.HISTORY_DAYS` days of it: no forecast.

:func:`score_stored` scores every stored forecast of a region, by source and
horizon, against the stored actuals (``slurm-carbon evaluate forecast --stored``).

:func:`ci_ahead` answers "what carbon intensity do we expect over ``[start,
end)``" from what the store held at ``now``, for the budgets and the
remaining-CO2e forecast of a running job. For each time, in order of preference:

1. a provider's own forecast (UK Carbon Intensity ``fw48h``, WattTime,
   Electricity Maps: they see the grid's schedules and the weather), the latest
   issue at or before ``now``;
2. ours (source ``slurm_carbon:<method>``), the latest issue at or before ``now``;
3. the latest actual value at or before that time and ``now``, carried forward.

Only average-signal figures are used (the accounting's). Units: gCO2e/kWh;
times are aware UTC datetimes::

    points = ci_ahead(session, "GB", now, now + timedelta(hours=6), now)
    expected_g = sum(p.ci_g_per_kwh * p.step_s / 3.6e6 * power_w for p in points)
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from itertools import pairwise

from slurm_carbon.errors import IntensityUnavailable
from slurm_carbon.forecast.intensity import (
    ALLOWED_STEPS_S,
    DEFAULT_METHOD,
    FIT_WINDOW_DAYS,
    HISTORY_DAYS,
    forecast,
    history_steps,
)
from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.store import Session, SessionFactory, transaction
from slurm_carbon.store.intensity import (
    add_ci_points,
    ci_points,
    ci_series,
    ci_summary,
    latest_actual_source,
    latest_forecasts,
)
from slurm_carbon.vocabulary import OWN_FORECAST_SOURCE, CiKind, CiSignal

__all__ = [
    "FORECAST_HORIZON",
    "HISTORY_READ",
    "MAX_FILLED_GAP",
    "MAX_POINTS_PER_RUN",
    "SCORED_DAYS",
    "OwnForecaster",
    "StoredScore",
    "ci_ahead",
    "regular_tail",
    "score_stored",
]

#: How far ahead our own forecast goes: a day, the longest horizon our method is
#: scored at (README, "Carbon intensity ahead"); the providers' own forecasts reach further.
FORECAST_HORIZON = timedelta(hours=24)
#: Actuals read per forecast: the method's fit window and the week of history its
#: first fitted row needs; more would change nothing.
HISTORY_READ = timedelta(days=FIT_WINDOW_DAYS + HISTORY_DAYS)
#: The longest gap in the actuals filled by carrying the value before it: a few missed
#: polls of a provider; a longer outage starts the series afresh after it.
MAX_FILLED_GAP = timedelta(hours=3)
#: Days of stored forecasts scored, back from the last stored actual: four weeks hold
#: every weekday four times and bound what one run reads.
SCORED_DAYS = 28
#: The most points one region's forecast stores in a run: the horizon at the finest step.
MAX_POINTS_PER_RUN = int(FORECAST_HORIZON.total_seconds()) // min(ALLOWED_STEPS_S)

# Preference ranks: lower wins where two points cover the same time.
_PROVIDER, _OWN, _ACTUAL = 0, 1, 2


def _rank(point: CiPoint) -> int:
    return _OWN if point.source.startswith(f"{OWN_FORECAST_SOURCE}:") else _PROVIDER


def _carried(actuals: Sequence[CiPoint], end: datetime) -> list[tuple[int, CiPoint]]:
    """Each actual lasting until the next one, the last until ``end``."""
    spans = []
    for point, following in zip(actuals, [*actuals[1:], None], strict=True):
        until = following.time if following is not None else max(end, point.time)
        step_s = max(1, int((until - point.time).total_seconds()))
        spans.append((_ACTUAL, replace(point, step_s=step_s)))
    return spans


def _best(candidates: Sequence[tuple[int, CiPoint]], at: datetime) -> CiPoint | None:
    """The preferred point covering ``at``: best rank, then latest issue, then source name."""
    covering = [
        (rank, point)
        for rank, point in candidates
        if point.time <= at < point.time + timedelta(seconds=point.step_s)
    ]
    if not covering:
        return None
    return min(covering, key=lambda c: (c[0], -c[1].issued_at.timestamp(), c[1].source))[1]


def ci_ahead(
    session: Session, region: str, start: datetime, end: datetime, now: datetime
) -> list[CiPoint]:
    """Carbon intensity expected over [start, end) as known at `now`.

    For each time, the latest forecast issued at or before ``now`` (a
    provider's own forecast preferred over ours when both cover it), else the
    latest actual value (at or before that time and ``now``) carried forward;
    [] when nothing is stored for the region.

    The points are cut to the range and to where a preferred figure takes over,
    so they tile ``[start, end)`` (widened to whole seconds) in time order,
    except where nothing covers a time (before the first stored figure). Each
    is a stored figure with its source, kind (FORECAST, or ACTUAL for carried
    values), ``issued_at`` and the step it holds for here. Units: gCO2e/kWh, seconds.
    """
    # Whole seconds, as the points' steps are: a piece between ``now`` with its
    # microseconds and the next point would otherwise be shorter than a second.
    start = start.replace(microsecond=0)
    if end.microsecond:
        end = end.replace(microsecond=0) + timedelta(seconds=1)
    if end <= start:
        return []
    candidates: list[tuple[int, CiPoint]] = [
        (_rank(point), point) for point in latest_forecasts(session, region, start, end, now)
    ]
    source = latest_actual_source(session, region, now, end)
    if source is not None:
        actuals = ci_series(
            session, region, source, min(start, now), min(end, now), signal=CiSignal.AVERAGE
        )
        candidates += _carried([p for p in actuals if p.time < end], end)
    bounds = {start, end}
    for _, point in candidates:
        bounds.update(
            t for t in (point.time, point.time + timedelta(seconds=point.step_s)) if start < t < end
        )
    edges = sorted(bounds)
    out: list[CiPoint] = []
    last: CiPoint | None = None
    for a, b in pairwise(edges):
        best = _best(candidates, a)
        step_s = int((b - a).total_seconds())
        if best is None:
            last = None
        elif best is last and out:
            out[-1] = replace(out[-1], step_s=out[-1].step_s + step_s)
        else:
            out.append(replace(best, time=a, step_s=step_s))
            last = best
    return out


def regular_tail(points: Sequence[CiPoint]) -> tuple[int, list[CiPoint]]:
    """The step and the regular end of a series of actuals (oldest first), gaps filled.

    The step is the most common gap; a gap of a whole number of steps up to
    :data:`MAX_FILLED_GAP` is filled with the value before it (one point per
    missing step); the series starts again after a longer gap or a time off the step.

    Raises:
        IntensityUnavailable: fewer than two points, or a step not in ``ALLOWED_STEPS_S``.
    """
    if len(points) < 2:  # a step needs two points
        raise IntensityUnavailable(f"{len(points)} actual point(s), no step")
    gaps = Counter(int((b.time - a.time).total_seconds()) for a, b in pairwise(points))
    step_s = gaps.most_common(1)[0][0]
    if step_s not in ALLOWED_STEPS_S:
        raise IntensityUnavailable(f"a step of {step_s} s is not 15 min, 30 min or 1 h")
    step = timedelta(seconds=step_s)
    tail = [replace(points[-1], step_s=step_s)]
    for before in reversed(points[:-1]):
        gap = tail[-1].time - before.time
        if gap % step or gap > max(step, MAX_FILLED_GAP):
            break
        tail.extend(
            replace(before, time=tail[-1].time - step, step_s=step_s)
            for _ in range(gap // step - 1)
        )
        tail.append(replace(before, step_s=step_s))
    return step_s, tail[::-1]


class OwnForecaster:
    """Forecasts a region from its stored actuals with our method and stores the forecast.

    Args:
        factory: Sessions on the store.
        method: One of :data:`~slurm_carbon.forecast.intensity.METHODS`.
    """

    def __init__(self, factory: SessionFactory, method: str = DEFAULT_METHOD) -> None:
        self.factory = factory
        self.method = method
        self.source = f"{OWN_FORECAST_SOURCE}:{method}"

    def __call__(self, region: str, now: datetime) -> int:
        """Forecast ``region`` from its actuals known at ``now``; return how many points were new.

        Raises:
            IntensityUnavailable: too little regular history (the reason in the message).
            StoreError: the database could not be used.
        """
        with transaction(self.factory) as session:
            source = latest_actual_source(session, region, now)
            if source is None:
                raise IntensityUnavailable("no stored actuals")
            actuals = ci_series(
                session, region, source, now - HISTORY_READ, now, signal=CiSignal.AVERAGE
            )
            step_s, series = regular_tail([p for p in actuals if p.time <= now])
            origin = series[-1].time
            if any(
                p.issued_at == origin
                for p in ci_points(
                    session,
                    region,
                    origin,
                    origin + FORECAST_HORIZON + timedelta(seconds=1),
                    kind=CiKind.FORECAST,
                    source=self.source,
                )
            ):
                return 0
        if len(series) < history_steps(step_s):
            raise IntensityUnavailable(
                f"{len(series)} regular points of {source} since {series[0].time.isoformat()},"
                f" our forecast needs {HISTORY_DAYS} days"
            )
        values = [p.ci_g_per_kwh for p in series]
        synthetic = any(p.synthetic for p in series)
        step = timedelta(seconds=step_s)
        made = [
            CiPoint(
                region=region,
                time=origin + ahead * step,
                step_s=step_s,
                ci_g_per_kwh=forecast(values, step_s, ahead, self.method),
                source=self.source,
                kind=CiKind.FORECAST,
                signal=CiSignal.AVERAGE,
                issued_at=origin,
                synthetic=synthetic,
            )
            for ahead in range(1, FORECAST_HORIZON // step + 1)
        ]
        with transaction(self.factory) as session:
            return add_ci_points(session, made)


@dataclass
class StoredScore:
    """Stored forecasts of a region scored against its actuals, per source and horizon.

    Units: percent for ``mape`` (None: no point at that horizon); seconds for horizons.
    """

    actual_source: str
    mape: dict[str, dict[int, float | None]] = field(default_factory=dict)
    points: dict[str, dict[int, int]] = field(default_factory=dict)


def score_stored(session: Session, region: str, horizons_s: Sequence[int]) -> StoredScore:
    """MAPE of each source's stored forecasts of ``region`` at each horizon.

    The actuals are the average-signal series with the most stored points; the
    forecasts scored are those whose target lies in the last :data:`SCORED_DAYS`
    up to its last point. A forecast point's horizon is its time less its
    ``issued_at``; it counts toward the nearest of ``horizons_s`` if less than
    one of its steps from it, against the actual whose period holds its time
    (actuals of zero are left out: a relative error needs a base).

    Raises:
        IntensityUnavailable: no actuals or no forecasts stored for the region.
    """
    series = [
        s for s in ci_summary(session, region) if s.signal is CiSignal.AVERAGE and s.count > 1
    ]
    actual = max(
        (s for s in series if s.kind is CiKind.ACTUAL),
        key=lambda s: (s.count, s.last),
        default=None,
    )
    if actual is None:
        raise IntensityUnavailable(f"no stored actuals of region {region!r} to score against")
    start = actual.last - timedelta(days=SCORED_DAYS)
    until = actual.last + timedelta(seconds=1)
    truth = ci_points(
        session,
        region,
        start - timedelta(days=1),
        until,
        kind=CiKind.ACTUAL,
        source=actual.source,
        signal=CiSignal.AVERAGE,
    )
    made = ci_points(session, region, start, until, kind=CiKind.FORECAST, signal=CiSignal.AVERAGE)
    if not made:
        raise IntensityUnavailable(
            f"no stored forecasts of region {region!r} in the {SCORED_DAYS} days"
            f" to {actual.last.isoformat()}"
        )
    times = [p.time for p in truth]
    errors: dict[str, dict[int, list[float]]] = {}
    for point in made:
        at = bisect.bisect_right(times, point.time) - 1
        if at < 0 or point.time >= truth[at].time + timedelta(seconds=truth[at].step_s):
            continue
        base = truth[at].ci_g_per_kwh
        lead_s = (point.time - point.issued_at).total_seconds()
        nearest = min(horizons_s, key=lambda h: abs(lead_s - h))
        by_horizon = errors.setdefault(point.source, {h: [] for h in horizons_s})
        if base > 0 and abs(lead_s - nearest) < point.step_s:
            by_horizon[nearest].append(abs(point.ci_g_per_kwh - base) / base * 100)
    score = StoredScore(actual_source=actual.source)
    for source, by_horizon in sorted(errors.items()):
        score.mape[source] = {h: sum(e) / len(e) if e else None for h, e in by_horizon.items()}
        score.points[source] = {h: len(e) for h, e in by_horizon.items()}
    return score
