"""Carbon-intensity points in the store: idempotent writes, series and summaries by region.

Points go in and come out as :class:`~slurm_carbon.intensity.base.CiPoint`.
The unique key (region, source, time, kind, signal, issued_at) makes a
re-imported trace or a re-polled hour add nothing. The store keeps no step: it
is read back as the gap to the next point of the same series (the last point
repeats the previous gap). Annual figures are never stored; they are read from
the embedded table when needed. A synthetic point (a demonstration's series)
stays flagged when read back.

:func:`add_ci_points` and :func:`ci_points` work in the caller's transaction
(nothing there commits); :func:`save_points` and :func:`stored_actuals` open
their own. Units: ``ci_g_per_kwh`` in gCO2e/kWh; times are aware UTC datetimes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from slurm_carbon.errors import ConfigError
from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.intensity.series import steps_until_next
from slurm_carbon.store.models import CarbonIntensityPoint
from slurm_carbon.store.repositories import _insert
from slurm_carbon.store.transactions import SessionFactory, transaction
from slurm_carbon.vocabulary import CiKind, CiSignal

__all__ = [
    "DEFAULT_STEP_S",
    "LOOKBACK",
    "CiSeriesSummary",
    "add_ci_points",
    "ci_points",
    "ci_series",
    "ci_summary",
    "latest_actual_source",
    "latest_forecasts",
    "save_points",
    "stored_actuals",
]

_KEY = ["region", "source", "time", "kind", "signal", "issued_at"]
# Rows per INSERT: well under SQLite's and PostgreSQL's bound-parameter limits.
_CHUNK = 500
#: The step of a series with a single point. Units: seconds.
DEFAULT_STEP_S = 3600
#: How far before a range a point may start and still cover its beginning: a
#: day covers hourly, half-hourly and daily series.
LOOKBACK = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class CiSeriesSummary:
    """What is stored for one region from one source, of one kind and signal.

    Units: gCO2e/kWh for the statistics.
    """

    region: str
    source: str
    kind: CiKind
    signal: CiSignal
    count: int
    first: datetime
    last: datetime
    mean_g_per_kwh: float
    min_g_per_kwh: float
    max_g_per_kwh: float


def _row(point: CiPoint) -> dict[str, Any]:
    if point.kind is CiKind.ANNUAL:
        raise ConfigError("annual carbon-intensity figures are not stored")
    return {
        "region": point.region,
        "source": point.source,
        "time": point.time,
        "ci_g_per_kwh": point.ci_g_per_kwh,
        "kind": point.kind,
        "signal": point.signal,
        "issued_at": point.issued_at,
        "synthetic": point.synthetic,
    }


def add_ci_points(session: Session, points: Iterable[CiPoint]) -> int:
    """Store the points not stored yet; return how many were new.

    A point whose key is already stored is skipped, whatever its value: the
    first figure stored for a key wins. The step is not stored.

    Raises:
        ConfigError: a point is annual (those are not stored).
    """
    rows = [_row(point) for point in points]
    new = 0
    statement = (
        _insert(session, CarbonIntensityPoint)
        .on_conflict_do_nothing(index_elements=_KEY)
        .returning(CarbonIntensityPoint.id)
    )
    for offset in range(0, len(rows), _CHUNK):
        new += len(session.execute(statement, rows[offset : offset + _CHUNK]).all())
    return new


def _point(row: CarbonIntensityPoint, step_s: int) -> CiPoint:
    return CiPoint(
        region=row.region,
        time=row.time,
        step_s=step_s,
        ci_g_per_kwh=row.ci_g_per_kwh,
        source=row.source,
        kind=row.kind,
        signal=row.signal,
        issued_at=row.issued_at,
        synthetic=row.synthetic,
    )


def _with_steps(rows: Sequence[CarbonIntensityPoint]) -> list[CiPoint]:
    """Points from stored rows (of one or more series), with steps inferred per series."""
    series: dict[tuple[str, str, CiKind, CiSignal, datetime | None], list[CarbonIntensityPoint]]
    series = {}
    for row in rows:
        issued = row.issued_at if row.kind is CiKind.FORECAST else None
        series.setdefault((row.region, row.source, row.kind, row.signal, issued), []).append(row)
    points: list[CiPoint] = []
    for members in series.values():
        members.sort(key=lambda row: row.time)
        steps = steps_until_next([row.time for row in members], DEFAULT_STEP_S)
        points.extend(_point(row, step) for row, step in zip(members, steps, strict=True))
    return points


def ci_points(  # noqa: PLR0913 (filters, each optional)
    session: Session,
    region: str,
    start: datetime,
    end: datetime,
    *,
    kind: CiKind | None = None,
    source: str | None = None,
    signal: CiSignal | None = None,
) -> list[CiPoint]:
    """Stored points of ``region`` with ``start <= time < end``, by source, time and issue time.

    Each point's step is the gap to the next stored point of its series in the range.
    """
    query = select(CarbonIntensityPoint).where(
        CarbonIntensityPoint.region == region,
        CarbonIntensityPoint.time >= start,
        CarbonIntensityPoint.time < end,
    )
    if kind is not None:
        query = query.where(CarbonIntensityPoint.kind == kind)
    if source is not None:
        query = query.where(CarbonIntensityPoint.source == source)
    if signal is not None:
        query = query.where(CarbonIntensityPoint.signal == signal)
    query = query.order_by(
        CarbonIntensityPoint.source, CarbonIntensityPoint.time, CarbonIntensityPoint.issued_at
    )
    rows = list(session.execute(query).scalars())
    return sorted(_with_steps(rows), key=lambda p: (p.source, p.time, p.issued_at))


def save_points(factory: SessionFactory, points: Iterable[CiPoint]) -> int:
    """Store the points (annual ones skipped) in one transaction; return how many were new.

    Raises:
        StoreError: the database could not be used.
    """
    kept = [point for point in points if point.kind is not CiKind.ANNUAL]
    with transaction(factory) as session:
        return add_ci_points(session, kept)


def stored_actuals(
    factory: SessionFactory, *, signal: CiSignal = CiSignal.AVERAGE
) -> Callable[[str, datetime, datetime], list[CiPoint]]:
    """A reader of stored actual points for :func:`~slurm_carbon.intensity.chain.best_series`.

    The reader returns the points of the source with the most of them in the
    range (series from different sources are not mixed), by time, starting
    with the point whose period holds ``start`` (it may begin up to
    :data:`LOOKBACK` earlier).
    """

    def read(region: str, start: datetime, end: datetime) -> list[CiPoint]:
        with transaction(factory) as session:
            points = ci_points(
                session, region, start - LOOKBACK, end, kind=CiKind.ACTUAL, signal=signal
            )
        by_source: dict[str, list[CiPoint]] = {}
        for point in points:
            by_source.setdefault(point.source, []).append(point)
        if not by_source:
            return []
        most = max(by_source, key=lambda source: len(by_source[source]))
        best = sorted(by_source[most], key=lambda p: p.time)
        first = max((i for i, p in enumerate(best) if p.time <= start), default=0)
        return best[first:]

    return read


def ci_summary(
    session: Session,
    region: str,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[CiSeriesSummary]:
    """Count, time span and statistics of each stored series of ``region`` in ``[start, end)``."""
    point = CarbonIntensityPoint
    query = select(
        point.source,
        point.kind,
        point.signal,
        func.count(),
        func.min(point.time),
        func.max(point.time),
        func.avg(point.ci_g_per_kwh),
        func.min(point.ci_g_per_kwh),
        func.max(point.ci_g_per_kwh),
    ).where(point.region == region)
    if start is not None:
        query = query.where(point.time >= start)
    if end is not None:
        query = query.where(point.time < end)
    query = query.group_by(point.source, point.kind, point.signal).order_by(
        point.source, point.kind, point.signal
    )
    return [
        CiSeriesSummary(
            region=region,
            source=source,
            kind=kind,
            signal=signal,
            count=int(count),
            first=first,
            last=last,
            mean_g_per_kwh=float(mean),
            min_g_per_kwh=float(low),
            max_g_per_kwh=float(high),
        )
        for source, kind, signal, count, first, last, mean, low, high in session.execute(query)
    ]


def ci_series(  # noqa: PLR0913 (the series' key, the range and an optional signal)
    session: Session,
    region: str,
    source: str,
    start: datetime,
    end: datetime,
    *,
    signal: CiSignal | None = None,
) -> list[CiPoint]:
    """Actual CI points of a region and source from the last one at or before ``start`` to ``end``.

    Oldest first, each lasting until the next; for a time with several issues,
    the latest issue only; of one ``signal`` when given.
    """
    where = (
        CarbonIntensityPoint.region == region,
        CarbonIntensityPoint.source == source,
        CarbonIntensityPoint.kind == CiKind.ACTUAL,
        *(() if signal is None else (CarbonIntensityPoint.signal == signal,)),
    )
    first = session.execute(
        select(func.max(CarbonIntensityPoint.time)).where(
            *where, CarbonIntensityPoint.time <= start
        )
    ).scalar_one_or_none()
    statement = (
        select(CarbonIntensityPoint)
        .where(*where, CarbonIntensityPoint.time >= (first or start))
        .where(CarbonIntensityPoint.time <= end)
        .order_by(CarbonIntensityPoint.time, CarbonIntensityPoint.issued_at)
    )
    latest = {row.time: row for row in session.execute(statement).scalars()}
    return sorted(_with_steps(list(latest.values())), key=lambda p: p.time)


def latest_actual_source(
    session: Session,
    region: str,
    now: datetime,
    end: datetime | None = None,
    *,
    signal: CiSignal = CiSignal.AVERAGE,
) -> str | None:
    """The source of the newest actual point of ``region`` at or before ``now``, before ``end``.

    Of two sources with points at that time, the first by name; None when none is stored.
    """
    point = CarbonIntensityPoint
    return session.execute(
        select(point.source)
        .where(
            point.region == region,
            point.kind == CiKind.ACTUAL,
            point.signal == signal,
            point.time <= now,
            *(() if end is None else (point.time < end,)),
        )
        .order_by(point.time.desc(), point.source)
        .limit(1)
    ).scalar_one_or_none()


def latest_forecasts(  # noqa: PLR0913 (the region, the range, the time of knowledge, the signal)
    session: Session,
    region: str,
    start: datetime,
    end: datetime,
    now: datetime,
    *,
    signal: CiSignal = CiSignal.AVERAGE,
) -> list[CiPoint]:
    """Per source and time, the stored forecast of the latest issue at or before ``now``.

    Times from :data:`LOOKBACK` before ``start`` (a point may cover the range's
    beginning) to before ``end``; sorted by source and time. Each point's step
    is the gap to the source's next time (the last repeats the one before).
    """
    point = CarbonIntensityPoint
    where = (
        point.region == region,
        point.kind == CiKind.FORECAST,
        point.signal == signal,
        point.time >= start - LOOKBACK,
        point.time < end,
        point.issued_at <= now,
    )
    latest = (
        select(point.source, point.time, func.max(point.issued_at).label("issued_at"))
        .where(*where)
        .group_by(point.source, point.time)
        .subquery()
    )
    rows = session.execute(
        select(point)
        .join(
            latest,
            (point.source == latest.c.source)
            & (point.time == latest.c.time)
            & (point.issued_at == latest.c.issued_at),
        )
        .where(*where)
        .order_by(point.source, point.time)
    ).scalars()
    by_source: dict[str, list[CarbonIntensityPoint]] = {}
    for row in rows:
        by_source.setdefault(row.source, []).append(row)
    points: list[CiPoint] = []
    for members in by_source.values():
        steps = steps_until_next([row.time for row in members], DEFAULT_STEP_S)
        points.extend(_point(row, step) for row, step in zip(members, steps, strict=True))
    return points
