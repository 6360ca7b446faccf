import numpy as np
import pytest

from slurm_carbon.control.policies import LimitGrid
from slurm_carbon.control.replay import Decision, ReplaySetup, replay_jobs
from tests.unit.control.test_control_policies import PROFILE

HOUR_S = 3600.0
T0 = 1_600_000_000.0
# A dirty first hour, then clean; one job of 2 h at the maximum (the next start is
# past the trace's end less 1.3 x 2 h), a 6 % budget (200 W's 11.1 % is over it).
SETUP = ReplaySetup(max_slowdown=0.06, job_s=2 * HOUR_S, start_every_s=6 * HOUR_S, period_s=HOUR_S)
TRACE = np.array([400.0, 100.0, 100.0, 100.0])


def replayed() -> dict[str, dict[str, float]]:
    return replay_jobs(LimitGrid.of(PROFILE, step_w=100.0), T0, 3600, TRACE, SETUP).summary()


def test_none_and_static_run_at_the_maximum() -> None:
    result = replay_jobs(LimitGrid.of(PROFILE, step_w=100.0), T0, 3600, TRACE, SETUP)

    assert result.jobs == 1
    # 250 W for 2 h over 400 then 100 gCO2e/kWh.
    assert result.policies["none"].co2e_g == pytest.approx(125.0)
    assert result.policies["none"].energy_j == pytest.approx(1.8e6)
    assert result.policies["static"] == result.policies["none"]


def test_our_policy_with_its_forecast() -> None:
    # First day: persistence. Hour 1 at 300 W (400 g/kWh is all it sees: a flat
    # forecast), then 200 W for the hour and for the last 400 s: 120 g, 1.62 MJ, 7600 s.
    carbon = replayed()["carbon"]

    assert carbon["carbon_reduction_pct"] == pytest.approx(4.0)
    assert carbon["energy_reduction_pct"] == pytest.approx(10.0)
    assert carbon["mean_slowdown_pct"] == pytest.approx(100 / 18)
    # Static hull at 1/18 slowdown: half-way to 200 W's 24.8 % (94 g, slowdown 1/9).
    assert carbon["hull_reduction_pct"] == pytest.approx(12.4)
    assert carbon["premium_pp"] == pytest.approx(-8.4)


def test_the_oracle_caps_the_dirty_hour() -> None:
    # 200 W in the dirty hour (72 g), 300 W (25 g), 200 W for 400 s (2 g): 99 g.
    oracle = replayed()["carbon_oracle"]

    assert oracle["carbon_reduction_pct"] == pytest.approx(20.8)
    assert oracle["premium_pp"] == pytest.approx(8.4)
    assert oracle["worst_slowdown_pct"] == pytest.approx(100 / 18)


def test_chase_caps_the_dirty_hour_only() -> None:
    # 200 W (72 g), then 300 W for 3960 s (27.5 g): 99.5 g in 7560 s.
    chase = replayed()["chase"]

    assert chase["carbon_reduction_pct"] == pytest.approx(20.4)
    assert chase["mean_slowdown_pct"] == pytest.approx(5.0)
    assert chase["premium_pp"] == pytest.approx(20.4 - 11.16)


def test_the_decisions_are_one_per_period() -> None:
    result = replay_jobs(LimitGrid.of(PROFILE, step_w=100.0), T0, 3600, TRACE, SETUP)

    assert result.decisions == [
        Decision(T0, T0, 300.0),
        Decision(T0, T0 + HOUR_S, 200.0),
        Decision(T0, T0 + 2 * HOUR_S, 200.0),
    ]


def test_a_trace_too_short_for_a_job_is_refused() -> None:
    with pytest.raises(ValueError, match=r"shorter than 1.3 x the job's 2 h"):
        replay_jobs(LimitGrid.of(PROFILE, step_w=100.0), T0, 3600, TRACE[:2], SETUP)


def test_our_policy_keeps_every_job_within_its_budget() -> None:
    rng = np.random.default_rng(7)
    days = 21
    hours = np.arange(days * 24)
    trace = 300 + 150 * np.sin(hours * 2 * np.pi / 24) + rng.normal(0, 40, len(hours))
    setup = ReplaySetup(max_slowdown=0.1, job_s=24 * HOUR_S, start_every_s=12 * HOUR_S)

    result = replay_jobs(LimitGrid.of(PROFILE, step_w=100.0), T0, 3600, trace, setup)

    for name in ("carbon", "carbon_oracle"):
        assert max(result.policies[name].slowdowns) <= 0.1 + 1e-9
        assert result.policies[name].mean_slowdown > 0.05  # the budget is used
    assert result.summary()["carbon_oracle"]["premium_pp"] > 0


def test_partly_known_future_lies_between_the_forecast_and_the_oracle() -> None:
    # The value of a better forecast: ours with the actual CI for the first hours.
    grid = LimitGrid.of(PROFILE, step_w=100.0)

    def known(seconds: float) -> dict[str, dict[str, float]]:
        setup = ReplaySetup(
            max_slowdown=0.06,
            job_s=2 * HOUR_S,
            start_every_s=6 * HOUR_S,
            period_s=HOUR_S,
            known_ahead_s=seconds,
        )
        return replay_jobs(grid, T0, 3600, TRACE, setup).summary()

    assert "carbon_partial" not in replayed()
    # Less than a step ahead adds nothing to what the forecast knows: the origin's value.
    assert known(HOUR_S / 2)["carbon_partial"] == known(HOUR_S / 2)["carbon"]
    # The clean hours are known from the first decision on: the oracle's figures.
    assert known(HOUR_S)["carbon_partial"] == pytest.approx(known(HOUR_S)["carbon_oracle"])
