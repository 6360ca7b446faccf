from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from slurm_carbon.errors import ConfigError
from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.intensity.chain import best_series
from slurm_carbon.intensity.embedded import EmbeddedAnnual
from slurm_carbon.intensity.replay import synthetic_daily
from slurm_carbon.store.intensity import add_ci_points, ci_points, save_points, stored_actuals
from slurm_carbon.vocabulary import CiKind, CiSignal

T = datetime(2024, 3, 1, tzinfo=UTC)


def _actual(i: int, source: str = "trace", step_s: int = 1800) -> CiPoint:
    time = T + timedelta(seconds=step_s * i)
    return CiPoint("ST", time, step_s, 50.0 + i, source, CiKind.ACTUAL, CiSignal.AVERAGE, time)


@pytest.fixture
def factory(session: Session) -> sessionmaker[Session]:
    return sessionmaker(bind=session.connection(), join_transaction_mode="create_savepoint")


def test_round_trip_infers_the_step(factory: sessionmaker[Session]) -> None:
    points = [_actual(i) for i in range(4)]
    annual = EmbeddedAnnual().history("DE", T, T + timedelta(hours=1))
    assert save_points(factory, [*points, *annual]) == 4  # annual figures are not stored
    assert save_points(factory, points) == 0
    read = stored_actuals(factory)("ST", T, T + timedelta(hours=2))
    assert read == points  # steps of 1800 s recovered from the gaps


def test_best_series_reads_stored_actuals_first(factory: sessionmaker[Session]) -> None:
    save_points(factory, [_actual(i, "big") for i in range(4)] + [_actual(0, "small")])
    series = best_series("ST", T, T + timedelta(hours=2), stored=stored_actuals(factory))
    assert [p.source for p in series] == ["big"] * 4
    # Not covered by what is stored: the annual figure of the country asked for.
    series = best_series(
        "ST", T, T + timedelta(hours=3), stored=stored_actuals(factory), annual_region="SE"
    )
    assert [p.kind for p in series] == [CiKind.ANNUAL]


def test_a_range_inside_one_period_is_covered_by_the_point_before_it(
    factory: sessionmaker[Session],
) -> None:
    points = [_actual(i) for i in range(4)]  # every 1800 s from T
    save_points(factory, points)

    inside = T + timedelta(seconds=1800 + 100), T + timedelta(seconds=1800 + 200)
    read = stored_actuals(factory)("ST", *inside)

    assert read == points[1:2]
    assert best_series("ST", *inside, stored=stored_actuals(factory)) == points[1:2]


def test_single_point_and_annual_refused(session: Session) -> None:
    add_ci_points(session, [_actual(0)])
    (point,) = ci_points(session, "ST", T, T + timedelta(hours=1))
    assert point.step_s == 3600
    with pytest.raises(ConfigError, match="annual"):
        add_ci_points(session, EmbeddedAnnual().history("DE", T, T + timedelta(hours=1))[:1])


def test_a_synthetic_series_read_back_is_still_synthetic(factory: sessionmaker[Session]) -> None:
    day = synthetic_daily("ST", 300.0, T, 3)
    save_points(factory, [*day, _actual(10, "trace")])
    read = stored_actuals(factory)("ST", T, T + timedelta(hours=3))
    assert read == day
    assert all(point.synthetic for point in read)
    with factory() as session:
        assert [p.synthetic for p in ci_points(session, "ST", T, T + timedelta(days=1))] == [
            True,
            True,
            True,
            False,
        ]
