"""Carbon-intensity points: idempotent writes, series and summaries by region.

The unique key (region, source, time, kind, signal, issued_at) makes a
re-imported trace or a re-polled hour add nothing. The caller owns the
transaction: nothing here commits. Units: ``ci_g_per_kwh`` in gCO2e/kWh.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from slurm_carbon.store.models import CarbonIntensityPoint
from slurm_carbon.store.repositories import _insert
from slurm_carbon.vocabulary import CiKind, CiSignal

__all__ = [
    "CiSeriesSummary",
    "NewCiPoint",
    "add_ci_points",
    "ci_points",
    "ci_summary",
]

_KEY = ["region", "source", "time", "kind", "signal", "issued_at"]
# Rows per INSERT: well under SQLite's and PostgreSQL's bound-parameter limits.
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class NewCiPoint:
    """One carbon-intensity figure to store; see :class:`CarbonIntensityPoint`.

    Units: ``ci_g_per_kwh`` in gCO2e/kWh; times are aware datetimes.
    """

    region: str
    source: str
    time: datetime
    ci_g_per_kwh: float
    kind: CiKind
    signal: CiSignal
    issued_at: datetime


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


def add_ci_points(session: Session, points: Iterable[NewCiPoint]) -> int:
    """Store the points not stored yet; return how many were new.

    A point whose key is already stored is skipped, whatever its value: the
    first figure stored for a key wins.
    """
    rows = [asdict(point) for point in points]
    new = 0
    statement = (
        _insert(session, CarbonIntensityPoint)
        .on_conflict_do_nothing(index_elements=_KEY)
        .returning(CarbonIntensityPoint.id)
    )
    for offset in range(0, len(rows), _CHUNK):
        new += len(session.execute(statement, rows[offset : offset + _CHUNK]).all())
    return new


def ci_points(  # noqa: PLR0913 (filters, each optional)
    session: Session,
    region: str,
    start: datetime,
    end: datetime,
    *,
    kind: CiKind | None = None,
    source: str | None = None,
    signal: CiSignal | None = None,
) -> list[NewCiPoint]:
    """Stored points of ``region`` with ``start <= time < end``, by time then issue time."""
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
    return [
        NewCiPoint(
            region=row.region,
            source=row.source,
            time=row.time,
            ci_g_per_kwh=row.ci_g_per_kwh,
            kind=CiKind(row.kind),
            signal=CiSignal(row.signal),
            issued_at=row.issued_at,
        )
        for row in session.execute(query).scalars()
    ]


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
            kind=CiKind(kind),
            signal=CiSignal(signal),
            count=int(count),
            first=first,
            last=last,
            mean_g_per_kwh=float(mean),
            min_g_per_kwh=float(low),
            max_g_per_kwh=float(high),
        )
        for source, kind, signal, count, first, last, mean, low, high in session.execute(query)
    ]
