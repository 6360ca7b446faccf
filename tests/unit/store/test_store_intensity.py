from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.store.intensity import add_ci_points, ci_points, ci_summary
from slurm_carbon.vocabulary import CiKind, CiSignal

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def _points(
    n: int, *, region: str = "DE", source: str = "em", kind: CiKind = CiKind.ACTUAL
) -> list[CiPoint]:
    return [
        CiPoint(
            region=region,
            source=source,
            time=T0 + timedelta(hours=i),
            step_s=3600,
            ci_g_per_kwh=100.0 + i,
            kind=kind,
            signal=CiSignal.AVERAGE,
            issued_at=T0 + timedelta(hours=i) if kind is CiKind.ACTUAL else T0,
        )
        for i in range(n)
    ]


def test_add_is_idempotent_and_first_value_wins(session: Session) -> None:
    assert add_ci_points(session, _points(3)) == 3
    changed = [replace(p, ci_g_per_kwh=999.0) for p in _points(4)]
    assert add_ci_points(session, changed) == 1
    stored = ci_points(session, "DE", T0, T0 + timedelta(days=1))
    assert [p.ci_g_per_kwh for p in stored] == [100.0, 101.0, 102.0, 999.0]
    assert stored[0].time == T0
    assert stored[0].time.tzinfo is not None
    assert add_ci_points(session, []) == 0


def test_successive_forecasts_are_all_kept(session: Session) -> None:
    first = _points(2, kind=CiKind.FORECAST)
    second = [
        replace(p, ci_g_per_kwh=p.ci_g_per_kwh + 5, issued_at=T0 + timedelta(hours=1))
        for p in first
    ]
    assert add_ci_points(session, first + second) == 4
    forecasts = ci_points(session, "DE", T0, T0 + timedelta(days=1), kind=CiKind.FORECAST)
    assert [(p.ci_g_per_kwh, p.issued_at) for p in forecasts] == [
        (100.0, T0),
        (105.0, T0 + timedelta(hours=1)),
        (101.0, T0),
        (106.0, T0 + timedelta(hours=1)),
    ]


def test_filters_and_range(session: Session) -> None:
    add_ci_points(session, _points(5) + _points(2, source="uk") + _points(2, region="FR"))
    assert len(ci_points(session, "DE", T0 + timedelta(hours=1), T0 + timedelta(hours=3))) == 3
    assert {
        p.source for p in ci_points(session, "DE", T0, T0 + timedelta(days=1), source="uk")
    } == {"uk"}
    assert ci_points(session, "DE", T0, T0 + timedelta(days=1), signal=CiSignal.MARGINAL) == []


def test_summary_per_series(session: Session) -> None:
    add_ci_points(session, _points(5) + _points(2, source="uk") + _points(3, kind=CiKind.FORECAST))
    summaries = ci_summary(session, "DE")
    assert [(s.source, s.kind, s.count) for s in summaries] == [
        ("em", CiKind.ACTUAL, 5),
        ("em", CiKind.FORECAST, 3),
        ("uk", CiKind.ACTUAL, 2),
    ]
    em = summaries[0]
    assert (em.first, em.last) == (T0, T0 + timedelta(hours=4))
    assert (em.mean_g_per_kwh, em.min_g_per_kwh, em.max_g_per_kwh) == (102.0, 100.0, 104.0)
    (later,) = ci_summary(session, "DE", T0 + timedelta(hours=3), T0 + timedelta(hours=9))[:1]
    assert (later.count, later.mean_g_per_kwh) == (2, pytest.approx(103.5))
    assert ci_summary(session, "XX") == []


def test_large_batches_are_chunked(session: Session) -> None:
    assert add_ci_points(session, _points(1234, region="BIG")) == 1234
    assert add_ci_points(session, _points(1234, region="BIG")) == 0
