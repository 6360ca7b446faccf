"""Carbon-intensity points to and from the store.

The store keeps no step: it is read back as the gap to the next point of the
same series (the last point repeats the previous gap). Annual figures are
never stored; they are read from the embedded table when needed. Units: gCO2e/kWh.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta

from slurm_carbon.errors import ConfigError
from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.intensity.series import steps_until_next
from slurm_carbon.store import SessionFactory, transaction
from slurm_carbon.store.intensity import NewCiPoint, add_ci_points, ci_points
from slurm_carbon.vocabulary import CiKind, CiSignal
from slurm_carbon.vocabulary import CiKind as StoredKind
from slurm_carbon.vocabulary import CiSignal as StoredSignal

__all__ = ["DEFAULT_STEP_S", "from_stored", "save_points", "stored_actuals", "to_stored"]

# The step of a series with a single point. Units: seconds.
DEFAULT_STEP_S = 3600
# How far before a range a point may start and still cover its beginning: a
# day covers hourly, half-hourly and daily series.
LOOKBACK = timedelta(days=1)


def to_stored(point: CiPoint) -> NewCiPoint:
    """The row for ``point``.

    Raises:
        ConfigError: the point is annual (those are not stored).
    """
    if point.kind is CiKind.ANNUAL:
        raise ConfigError("annual carbon-intensity figures are not stored")
    return NewCiPoint(
        region=point.region,
        source=point.source,
        time=point.time,
        ci_g_per_kwh=point.ci_g_per_kwh,
        kind=StoredKind(point.kind.value),
        signal=StoredSignal(point.signal.value),
        issued_at=point.issued_at,
    )


def from_stored(rows: Sequence[NewCiPoint]) -> list[CiPoint]:
    """Points from stored rows (of one or more series), with steps inferred per series."""
    series: dict[tuple[str, str, StoredKind, StoredSignal, datetime | None], list[NewCiPoint]] = {}
    for row in rows:
        issued = row.issued_at if row.kind is StoredKind.FORECAST else None
        series.setdefault((row.region, row.source, row.kind, row.signal, issued), []).append(row)
    points: list[CiPoint] = []
    for members in series.values():
        members.sort(key=lambda row: row.time)
        steps = steps_until_next([row.time for row in members], DEFAULT_STEP_S)
        points.extend(
            CiPoint(
                region=row.region,
                time=row.time,
                step_s=step,
                ci_g_per_kwh=row.ci_g_per_kwh,
                source=row.source,
                kind=CiKind(row.kind.value),
                signal=CiSignal(row.signal.value),
                issued_at=row.issued_at,
            )
            for row, step in zip(members, steps, strict=True)
        )
    return sorted(points, key=lambda p: (p.time, p.source))


def save_points(factory: SessionFactory, points: Iterable[CiPoint]) -> int:
    """Store the points (annual ones skipped) in one transaction; return how many were new.

    Raises:
        StoreError: the database could not be used.
    """
    rows = [to_stored(point) for point in points if point.kind is not CiKind.ANNUAL]
    with transaction(factory) as session:
        return add_ci_points(session, rows)


def stored_actuals(
    factory: SessionFactory, *, signal: CiSignal = CiSignal.AVERAGE
) -> Callable[[str, datetime, datetime], list[CiPoint]]:
    """A reader of stored actual points for :func:`~slurm_carbon.intensity.chain.best_series`.

    The reader returns the points of the source with the most of them in the
    range (series from different sources are not mixed), starting with the
    point whose period holds ``start`` (it may begin up to :data:`LOOKBACK`
    earlier).
    """

    def read(region: str, start: datetime, end: datetime) -> list[CiPoint]:
        with transaction(factory) as session:
            rows = ci_points(
                session,
                region,
                start - LOOKBACK,
                end,
                kind=StoredKind.ACTUAL,
                signal=StoredSignal(signal),
            )
        by_source: dict[str, list[NewCiPoint]] = {}
        for row in rows:
            by_source.setdefault(row.source, []).append(row)
        if not by_source:
            return []
        best = from_stored(max(by_source.values(), key=len))
        first = max((i for i, p in enumerate(best) if p.time <= start), default=0)
        return best[first:]

    return read
