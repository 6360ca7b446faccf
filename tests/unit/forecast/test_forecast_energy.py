"""The remaining-energy forecast: exact on hand-made periods, right where the baseline is biased."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from slurm_carbon.forecast.energy import (
    FIRST_PERIODS_REL,
    MIN_PROGRESS,
    MIN_REL,
    UNSEEN_CAP_REL,
    CapChange,
    MeasuredPeriod,
    baseline_remaining_j,
    forecast_remaining,
)
from slurm_carbon.forecast.energy_eval import evaluate_job_energy
from slurm_carbon.sensors.profiles import synthetic_profile

#: Relative tolerance of "exact": float rounding only.
EXACT = 1e-9
#: Issue 10's targets after 10 % of the work: MAPE in percent.
TARGET_CONSTANT_CAP_PCT = 2.0
TARGET_CAP_CHANGES_PCT = 5.0
#: Our intervals are 90 % intervals; over 200 jobs, coverage below 85 % means they are too narrow.
MIN_COVERAGE_PCT = 85.0
#: Jobs per scenario in the noisy replay (about a second in all).
REPLAY_JOBS = 200


@dataclass(frozen=True)
class Point:
    power_w: float
    throughput: float


@dataclass(frozen=True)
class TwoCaps:
    """A hand-made curve: 100 W draws 80 W for 0.6 units/s, 200 W draws 200 W for 1 unit/s.

    Energy per unit: 133.3 J at 100 W, 200 J at 200 W.
    """

    max_limit_w: float = 200.0

    def at(self, limit_w: float) -> Point:
        return Point(80.0, 0.6) if limit_w <= 150 else Point(200.0, 1.0)


#: The hand-made job: 1,000 units of work; periods of 10 s.
WORK = 1000.0
STEP_S = 10.0


def run(caps: list[float], host_w: float = 0.0) -> list[MeasuredPeriod]:
    """The job at exactly the curve's rates, one period per cap."""
    periods = []
    done = 0.0
    for cap in caps:
        point = TwoCaps().at(cap)
        done += point.throughput * STEP_S
        energy = {"gpu": point.power_w * STEP_S, "cpu": host_w * STEP_S}
        periods.append(MeasuredPeriod(STEP_S, energy, cap, done / WORK))
    return periods


def test_a_constant_cap_is_forecast_exactly_by_both() -> None:
    periods = run([200.0] * 10)  # 100 units done: 10 %

    ours = forecast_remaining(periods, profile=TwoCaps())

    assert ours.method == "profile"
    assert ours.remaining_j["gpu"] == pytest.approx(900 * 200.0, rel=EXACT)
    assert ours.remaining_s == pytest.approx(900.0, rel=EXACT)
    assert baseline_remaining_j(10 * 200.0 * STEP_S, 0.1) == pytest.approx(180_000, rel=EXACT)


def test_after_a_cap_change_the_baseline_is_biased_and_ours_is_right() -> None:
    # 5 periods at 200 W (50 units, 10,000 J), then 5 at 100 W (30 units, 4,000 J): 8 % done.
    periods = run([200.0] * 5 + [100.0] * 5)
    truth_j = 920 / 0.6 * 80.0  # the rest at 100 W: 122,666.7 J

    ours = forecast_remaining(periods, profile=TwoCaps())
    observed = forecast_remaining(periods)  # no profile: the rates seen at 100 W
    baseline = baseline_remaining_j(14_000.0, 0.08)

    assert baseline == pytest.approx(161_000.0, rel=EXACT)  # 31 % high
    assert ours.total_j == pytest.approx(truth_j, rel=EXACT)
    assert observed.method == "observed"
    assert observed.total_j == pytest.approx(truth_j, rel=EXACT)
    assert ours.remaining_s == pytest.approx(920 / 0.6, rel=EXACT)


def test_a_planned_change_to_an_unseen_cap_is_counted_and_widens_the_interval() -> None:
    periods = run([200.0] * 10)  # 10 % done at 200 W; 100 W planned 100 s from now

    ours = forecast_remaining(periods, profile=TwoCaps(), plan=[CapChange(100.0, 100.0)])

    at_200_j = 100 * 200.0  # 100 s: 100 units
    at_100_j = 800 / 0.6 * 80.0  # the other 800 units
    assert ours.total_j == pytest.approx(at_200_j + at_100_j, rel=EXACT)
    assert ours.remaining_s == pytest.approx(100 + 800 / 0.6, rel=EXACT)
    # No spread between identical periods: the width is the floor and the unseen-cap allowance.
    share = at_100_j / (at_200_j + at_100_j)
    expected = MIN_REL + UNSEEN_CAP_REL * share
    assert ours.high_j / ours.total_j - 1 == pytest.approx(expected, rel=1e-6)


def test_other_device_kinds_draw_their_past_power_for_the_time_left() -> None:
    periods = run([200.0] * 10, host_w=50.0)

    ours = forecast_remaining(periods, profile=TwoCaps())

    assert ours.remaining_j["cpu"] == pytest.approx(50.0 * 900.0, rel=EXACT)
    assert ours.total_j == pytest.approx(50.0 * 900 + 200.0 * 900, rel=EXACT)


def test_one_progress_report_gives_the_first_period_width() -> None:
    periods = [MeasuredPeriod(STEP_S, {"gpu": 2000.0}, 200.0, 0.01)]

    ours = forecast_remaining(periods, profile=TwoCaps())

    assert ours.high_j / ours.total_j - 1 == pytest.approx(FIRST_PERIODS_REL, rel=EXACT)


def test_without_progress_the_time_limit_bounds_it() -> None:
    periods = [
        MeasuredPeriod(STEP_S, {"gpu": 1000.0, "cpu": 500.0}),  # 150 W
        MeasuredPeriod(STEP_S, {"gpu": 3000.0, "cpu": 500.0}),  # 350 W
    ]

    ours = forecast_remaining(periods, time_left_s=3600.0)

    assert ours.method == "time_limit"
    assert ours.total_j == pytest.approx(250.0 * 3600, rel=EXACT)  # past mean power
    assert (ours.low_j, ours.high_j) == (0.0, pytest.approx(350.0 * 3600, rel=EXACT))
    assert ours.remaining_high_s == 3600.0


def test_a_first_report_of_almost_nothing_is_no_progress_to_scale_up() -> None:
    """0.0001 done after 10 s would forecast 100,000 s more: under MIN_PROGRESS, a bound."""
    periods = [MeasuredPeriod(STEP_S, {"gpu": 2000.0}, progress=MIN_PROGRESS / 100)]

    ours = forecast_remaining(periods, time_left_s=600.0)

    assert ours.method == "time_limit"
    assert ours.total_j == pytest.approx(2000.0 / STEP_S * 600, rel=EXACT)
    with pytest.raises(ValueError, match="time left"):
        forecast_remaining(periods)
    enough = [MeasuredPeriod(STEP_S, {"gpu": 2000.0}, progress=MIN_PROGRESS)]
    assert forecast_remaining(enough).method == "observed"


@pytest.mark.parametrize(
    ("periods", "time_left_s", "message"),
    [
        ([], None, "no measured periods"),
        ([MeasuredPeriod(0.0, {"gpu": 1.0}, None, 0.1)], None, "duration"),
        ([MeasuredPeriod(1.0, {"gpu": -1.0}, None, 0.1)], None, "energy"),
        ([MeasuredPeriod(1.0, {"gpu": 1.0}, None, 1.5)], None, "progress"),
        ([MeasuredPeriod(1.0, {"gpu": 1.0}, math.nan, 0.1)], None, "cap"),
        ([MeasuredPeriod(1.0, {"gpu": 1.0})], None, "time left"),
    ],
)
def test_bad_periods_are_refused(
    periods: list[MeasuredPeriod], time_left_s: float | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        forecast_remaining(periods, time_left_s=time_left_s)


def test_on_noisy_jobs_ours_meets_the_targets_beats_the_baseline_and_covers_the_truth() -> None:
    result = evaluate_job_energy(synthetic_profile(), jobs=REPLAY_JOBS, seed=7)

    ours, baseline = result.mape["cap_changes"]["ours"], result.mape["cap_changes"]["baseline"]
    assert result.mape["constant_cap"]["ours"]["10%"] <= TARGET_CONSTANT_CAP_PCT
    assert ours["10%"] <= TARGET_CAP_CHANGES_PCT
    assert all(ours[c] < baseline[c] for c in ("10%", "25%", "50%"))
    # With a constant cap, ours and the baseline are the same predictor.
    assert result.mape["constant_cap"]["ours"] == result.mape["constant_cap"]["baseline"]
    assert all(v >= MIN_COVERAGE_PCT for by in result.coverage.values() for v in by.values())
