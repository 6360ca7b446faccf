"""Carbon intensity ahead: the best stored forecast of a region, as known at a time.

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

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from itertools import pairwise

from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.store import Session
from slurm_carbon.store.intensity import ci_series, latest_actual_source, latest_forecasts
from slurm_carbon.vocabulary import OWN_FORECAST_SOURCE, CiSignal

__all__ = ["ci_ahead"]

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
    so they tile ``[start, end)`` in time order, except where nothing covers a
    time (before the first stored figure). Each is a stored figure with its
    source, kind (FORECAST, or ACTUAL for carried values), ``issued_at`` and
    the step it holds for here. Units: gCO2e/kWh, seconds.
    """
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
