import math

import pytest

from slurm_carbon.control.policies import (
    LimitGrid,
    chase_index,
    clamp_limit,
    none_index,
    plan_carbon,
    plan_chase,
    static_index,
)
from slurm_carbon.errors import ConfigError
from slurm_carbon.sensors.profiles import PowerProfile, ProfilePoint

HOUR_S = 3600.0
# Energy per unit of work 166.7, 200, 250; slowdown 66.7 %, 11.1 %, 0 %.
PROFILE = PowerProfile(
    name="three",
    model="m",
    points=(
        ProfilePoint(100.0, 100.0, 0.6),
        ProfilePoint(200.0, 180.0, 0.9),
        ProfilePoint(300.0, 250.0, 1.0),
    ),
    idle_power_w=10.0,
    source="hand-made",
)


def grid() -> LimitGrid:
    return LimitGrid.of(PROFILE, step_w=100.0)


def limit(index: int) -> float:
    return float(grid().limits_w[index])


def test_the_grid_steps_down_from_the_top_within_the_device_range() -> None:
    clamped = LimitGrid.of(PROFILE, device_range_w=(150.0, 250.0), step_w=50.0)

    assert clamped.limits_w.tolist() == [150.0, 200.0, 250.0]
    assert clamped.power_w.tolist() == [140.0, 180.0, 215.0]
    assert clamped.limits_w[none_index(clamped)] == 250.0


def test_the_default_grid_steps_by_25_w() -> None:
    assert LimitGrid.of(PROFILE).limits_w.tolist() == [100.0 + 25 * k for k in range(9)]


def test_node_overhead_is_added_to_every_limit() -> None:
    assert LimitGrid.of(PROFILE, step_w=100.0, overhead_w=50.0).power_w.tolist() == [
        150.0,
        230.0,
        300.0,
    ]


def test_a_device_range_outside_the_profile_is_refused() -> None:
    with pytest.raises(ConfigError, match="do not meet"):
        LimitGrid.of(PROFILE, device_range_w=(400.0, 500.0))


def test_clamp_limit() -> None:
    assert [clamp_limit(v, 100.0, 300.0) for v in (50.0, 150.0, 350.0)] == [100.0, 150.0, 300.0]


def test_none_is_the_maximum() -> None:
    assert limit(none_index(grid())) == 300.0


@pytest.mark.parametrize(("budget", "expected"), [(0.025, 300.0), (0.12, 200.0), (1.0, 100.0)])
def test_static_is_the_least_energy_within_the_budget(budget: float, expected: float) -> None:
    assert limit(static_index(grid(), budget)) == expected


@pytest.mark.parametrize(("ci", "expected"), [(100.0, 300.0), (400.0, 200.0)])
def test_chase_caps_when_the_grid_is_at_its_dirtiest(ci: float, expected: float) -> None:
    # (0.5 x P x CI + 0.5 x 300 W x 400) / throughput: at CI 400, 200 W costs
    # 106,667 against 110,000 at 300 W; at CI 100, 300 W costs 72,500 against 76,667.
    assert limit(chase_index(grid(), ci, 400.0)) == expected


@pytest.mark.parametrize(
    ("past", "max_ci", "expected"), [((200.0, 400.0, 50.0), 400.0, 300.0), ((), 100.0, 200.0)]
)
def test_chase_takes_max_ci_from_the_past_window_else_the_periods_own(
    past: tuple[float, ...], max_ci: float, expected: float
) -> None:
    # At CI 100 and MaxCI 400, 300 W (above); at MaxCI 100, 200 W costs
    # (9,000 + 15,000) / 0.9 = 26,667 against (12,500 + 15,000) / 1 at 300 W.
    decision = plan_chase(grid(), 100.0, past)

    assert (decision.ci_g_per_kwh, decision.max_ci_g_per_kwh) == (100.0, max_ci)
    assert limit(decision.index) == expected


def test_the_envelope_goes_from_least_energy_to_fastest() -> None:
    mu, chosen = grid().envelope

    assert mu.tolist() == pytest.approx([60.0, 450.0])
    assert chosen.tolist() == [0, 1, 2]


@pytest.mark.parametrize(("ci", "planned"), [((100.0, 200.0), (2, 1)), ((200.0, 100.0), (1, 2))])
def test_carbon_slows_the_dirty_period_to_keep_the_deadline(
    ci: tuple[float, float], planned: tuple[int, int]
) -> None:
    # 1.9 h of work at the maximum in 2 h: one hour at 200 W (0.9) and one at 300 W.
    decision = plan_carbon(grid(), ci, HOUR_S, 1.9 * HOUR_S, 2 * HOUR_S)

    assert decision.planned == planned
    assert decision.index == planned[0]
    assert decision.lambda_ == pytest.approx(450.0 * 100.0)


def test_carbon_without_time_pressure_takes_the_least_energy() -> None:
    decision = plan_carbon(grid(), (300.0, 300.0), HOUR_S, 1.0 * HOUR_S, 2 * HOUR_S)

    assert (decision.index, decision.lambda_) == (0, 0.0)


def test_carbon_runs_a_late_job_at_the_maximum() -> None:
    decision = plan_carbon(grid(), (300.0,), HOUR_S, 2.0 * HOUR_S, 1.5 * HOUR_S)

    assert limit(decision.index) == 300.0
    assert math.isinf(decision.lambda_)


def test_carbon_plans_enough_work_for_the_window() -> None:
    ci = (300.0, 120.0, 80.0, 500.0, 90.0, 260.0)
    work_left, time_left = 5.5 * HOUR_S, 6 * HOUR_S  # a 9.1 % slowdown allowed

    planned = plan_carbon(grid(), ci, HOUR_S, work_left, time_left).planned

    work = sum(grid().throughput[i] * HOUR_S for i in planned)
    assert work >= work_left
    assert work - work_left < 0.1 * HOUR_S  # the least lambda: no faster than needed
    assert limit(planned[3]) < 300.0  # the dirtiest hour is capped
