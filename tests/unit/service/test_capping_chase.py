"""CapDecider under ``chase``: Chase's rule each period, the baseline beside ``carbon``.

The period's intensity is the best stored figure for it (as for ``carbon``); MaxCI the
highest of the week up to the period's start (``control.policies.plan_chase``, the
replay's function): neither an older value nor one forecast after the period counts.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from slurm_carbon.control.policies import LimitGrid, chase_index
from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.sensors.profiles import PowerProfile
from slurm_carbon.store import SessionFactory
from slurm_carbon.store.intensity import add_ci_points
from slurm_carbon.vocabulary import CiKind, CiSignal
from tests.unit.service.test_capping import (
    KEY,
    MODEL,
    NOW,
    PERIOD_START,
    POINTS,
    decider,
    forecast,
    measure,
    running,
)


def actual(session: Session, *values: tuple[timedelta, float]) -> None:
    """Hourly actuals for SE, each ``(how long before the period, value)``."""
    add_ci_points(
        session,
        [
            CiPoint(
                "SE",
                PERIOD_START - before,
                3600,
                value,
                "em",
                CiKind.ACTUAL,
                CiSignal.AVERAGE,
                PERIOD_START - before,
            )
            for before, value in values
        ],
    )
    session.commit()


def test_chase_decides_by_chases_rule_on_the_periods_ci_and_the_past_weeks_max(
    session: Session, factory: SessionFactory
) -> None:
    measure(session, 231)
    # 900 eight days ago (out of force since 200 a week and an hour ago, the value
    # the week starts with) and 900 forecast after this period: a MaxCI of 900 would
    # keep 300 W at CI 100; the week's 450 gives 200 W.
    actual(
        session,
        (timedelta(days=8), 900.0),
        (timedelta(days=7, hours=1), 200.0),
        (timedelta(days=3), 450.0),
        (timedelta(hours=1), 250.0),
    )
    forecast(session, [100.0] + [900.0] * 47)
    grid = LimitGrid.of(PowerProfile(KEY, MODEL, POINTS, 0.0, "test"))

    record = decider(factory, policy="static", partitions={"gpu": {"policy": "chase"}}).decide(
        running(231), NOW
    )

    assert record is not None
    assert record.power_limit_w == float(grid.limits_w[chase_index(grid, 100.0, 450.0)]) == 200.0
    assert record.power_limit_w != float(grid.limits_w[chase_index(grid, 100.0, 900.0)])
    assert (record.policy, record.period_start) == ("chase", PERIOD_START)
    assert record.reason == "chase: 200 W, CI 100 of max 450 g/kWh"


def test_chase_without_intensity_takes_the_static_limit(
    session: Session, factory: SessionFactory
) -> None:
    measure(session, 232)

    record = decider(factory, policy="chase").decide(running(232), NOW)

    assert record is not None
    assert record.power_limit_w == 275.0
    assert record.reason == "chase: 275 W, no carbon intensity for SE: the static limit"
