"""ci_ahead: the best stored carbon intensity over a range, as known at a time (both databases)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.service.ci_forecast import ci_ahead
from slurm_carbon.store.intensity import add_ci_points
from slurm_carbon.vocabulary import CiKind, CiSignal

T0 = datetime(2026, 12, 1, tzinfo=UTC)
H = timedelta(hours=1)
OURS = "slurm_carbon:blend"


def _series(
    source: str,
    first: datetime,
    values: list[float],
    *,
    kind: CiKind = CiKind.FORECAST,
    issued_at: datetime | None = None,
    step: timedelta = H,
    region: str = "GB",
    signal: CiSignal = CiSignal.AVERAGE,
) -> list[CiPoint]:
    return [
        CiPoint(
            region=region,
            time=first + i * step,
            step_s=int(step.total_seconds()),
            ci_g_per_kwh=value,
            source=source,
            kind=kind,
            signal=signal,
            issued_at=(first + i * step) if issued_at is None else issued_at,
        )
        for i, value in enumerate(values)
    ]


def _view(points: list[CiPoint]) -> list[tuple[float, float, str, CiKind]]:
    """(hours after T0, hours held, source, kind) of each point, with its value in the source."""
    return [
        (
            (p.time - T0) / H,
            p.step_s / 3600,
            f"{p.source}={p.ci_g_per_kwh:g}",
            p.kind,
        )
        for p in points
    ]


def test_nothing_stored_gives_nothing(session: Session) -> None:
    add_ci_points(session, _series("uk", T0, [100.0], kind=CiKind.ACTUAL, region="FR"))

    assert ci_ahead(session, "GB", T0, T0 + 6 * H, T0) == []


def test_the_provider_is_preferred_over_ours_and_actuals_fill_what_no_forecast_covers(
    session: Session,
) -> None:
    now = T0 + 2 * H
    add_ci_points(
        session,
        _series("uk", T0, [200.0, 210.0, 220.0], kind=CiKind.ACTUAL)
        # the provider covers hours 3-4, ours hours 2-5: ours shows only at 2 and 5
        + _series("uk", T0 + 3 * H, [300.0, 310.0], issued_at=now)
        + _series(OURS, T0 + 2 * H, [400.0, 410.0, 420.0, 430.0], issued_at=now),
    )

    ahead = ci_ahead(session, "GB", T0 + 90 * timedelta(minutes=1), T0 + 8 * H, now)

    assert _view(ahead) == [
        (1.5, 0.5, "uk=210", CiKind.ACTUAL),
        (2.0, 1.0, f"{OURS}=400", CiKind.FORECAST),
        (3.0, 1.0, "uk=300", CiKind.FORECAST),
        (4.0, 1.0, "uk=310", CiKind.FORECAST),
        (5.0, 1.0, f"{OURS}=430", CiKind.FORECAST),
        # after every forecast: the latest actual known at `now` (hour 2), carried forward
        (6.0, 2.0, "uk=220", CiKind.ACTUAL),
    ]
    assert all(p.signal is CiSignal.AVERAGE for p in ahead)


def test_the_latest_issue_known_at_now_wins(session: Session) -> None:
    early, late = T0, T0 + H
    add_ci_points(
        session,
        _series("uk", T0 + H, [100.0, 110.0, 120.0], issued_at=early)
        + _series("uk", T0 + 2 * H, [150.0, 160.0], issued_at=late)
        # issued after `now`: unknown then, never used
        + _series("uk", T0 + H, [999.0, 999.0, 999.0], issued_at=T0 + 3 * H),
    )

    before_late = ci_ahead(session, "GB", T0 + H, T0 + 4 * H, early)
    after_late = ci_ahead(session, "GB", T0 + H, T0 + 4 * H, late)

    assert [p.ci_g_per_kwh for p in before_late] == [100.0, 110.0, 120.0]
    assert [p.ci_g_per_kwh for p in after_late] == [100.0, 150.0, 160.0]
    assert [p.issued_at for p in after_late] == [early, late, late]


def test_a_value_held_across_the_range_is_one_point_cut_to_it(session: Session) -> None:
    add_ci_points(
        session,
        _series("uk", T0 - 48 * H, [180.0], kind=CiKind.ACTUAL)
        + _series("uk", T0, [250.0], kind=CiKind.ACTUAL, signal=CiSignal.MARGINAL),
    )

    ahead = ci_ahead(session, "GB", T0, T0 + 3 * H, T0 + H)

    # a two-day-old average actual is still the latest known; the marginal one is not used
    assert _view(ahead) == [(0.0, 3.0, "uk=180", CiKind.ACTUAL)]
    assert ahead[0].issued_at == T0 - 48 * H


def test_actuals_after_now_are_unknown_and_half_hour_forecasts_keep_their_step(
    session: Session,
) -> None:
    half = timedelta(minutes=30)
    add_ci_points(
        session,
        _series("uk", T0, [100.0, 200.0, 300.0], kind=CiKind.ACTUAL)
        + _series("uk", T0 + 3 * H, [50.0, 60.0], issued_at=T0, step=half),
    )

    ahead = ci_ahead(session, "GB", T0, T0 + 5 * H, T0)

    assert _view(ahead) == [
        (0.0, 3.0, "uk=100", CiKind.ACTUAL),
        (3.0, 0.5, "uk=50", CiKind.FORECAST),
        (3.5, 0.5, "uk=60", CiKind.FORECAST),
        (4.0, 1.0, "uk=100", CiKind.ACTUAL),
    ]


def test_a_range_from_a_now_with_microseconds_is_widened_to_whole_seconds(
    session: Session,
) -> None:
    """From 0.42 s before a point's start: that sliver cannot be a point of whole-second
    step (on the cluster it raised ValueError and failed the writer's whole pass)."""
    add_ci_points(session, _series("uk", T0 - H, [900.0, 50.0], issued_at=T0 - H))
    start = T0 - timedelta(seconds=0.42)

    ahead = ci_ahead(session, "GB", start, T0 + timedelta(minutes=30, microseconds=5), start)

    assert [(p.time, p.step_s, p.ci_g_per_kwh) for p in ahead] == [
        (T0 - timedelta(seconds=1), 1, 900.0),
        (T0, 1801, 50.0),
    ]
