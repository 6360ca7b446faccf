"""The advice replay: jobs submitted at every step, the start the forecast chose, the oracle's."""

from __future__ import annotations

import numpy as np
import pytest

from slurm_carbon.forecast.advice_replay import AdviceDecision, replay_advice

HOUR = 3600
# Dirty, dirty, clean, clean, dirty, dirty: one value per hour from t=0.
VALUES = np.array([400.0, 400.0, 100.0, 100.0, 400.0, 400.0])
# The oracle's choices for a 1 h job within 2 h, submitted at 0..3 h: 2, 2, 2, 3 h
# (100 each), against 400, 400, 100, 100 starting at once: 1 - 400/1000.
ORACLE_PCT = 60.0


def persistence(horizons: int) -> np.ndarray:
    """``made[h - 1, i]``: the value at ``i`` carried forward."""
    return np.tile(VALUES, (horizons, 1))


def perfect(horizons: int) -> np.ndarray:
    padded = np.concatenate([VALUES, np.full(horizons, VALUES[-1])])
    return np.array([padded[h : h + len(VALUES)] for h in range(1, horizons + 1)])


def test_a_perfect_forecast_gets_the_oracles_saving_and_persistence_none() -> None:
    exact = replay_advice(0, HOUR, VALUES, perfect(2), [HOUR], 2 * HOUR, warmup_s=0)
    carried = replay_advice(0, HOUR, VALUES, persistence(2), [HOUR], 2 * HOUR, warmup_s=0)

    assert exact.figures[HOUR].jobs == 4
    assert exact.figures[HOUR].oracle_saving_pct == pytest.approx(ORACLE_PCT)
    assert exact.figures[HOUR].advice_saving_pct == pytest.approx(ORACLE_PCT)
    assert carried.figures[HOUR].advice_saving_pct == pytest.approx(0.0)
    assert carried.figures[HOUR].oracle_saving_pct == pytest.approx(ORACLE_PCT)
    assert [d.start_s for d in carried.decisions] == [0, HOUR, 2 * HOUR, 3 * HOUR]


def test_the_start_follows_the_forecast_and_the_saving_the_actual_values() -> None:
    made = persistence(2)
    made[1] = 0.0  # every origin's forecast says the step two hours ahead is free of carbon

    result = replay_advice(0, HOUR, VALUES, made, [HOUR], 2 * HOUR, warmup_s=0)

    assert result.decisions == [
        AdviceDecision(submit_s=s * HOUR, job_s=HOUR, start_s=(s + 2) * HOUR) for s in range(4)
    ]
    # Actual: 100, 100, 400, 400 against 400, 400, 100, 100 at once: no saving.
    assert result.figures[HOUR].advice_saving_pct == pytest.approx(0.0)


def test_a_job_longer_than_a_step_is_measured_over_its_whole_window() -> None:
    # 1.5 h within 1 h: submits 0..3 h (3 h + 1 h + 1.5 h <= 6 h); at once 400+200 (0 h),
    # 400+50 (1 h), 100+50 (2 h), 100+200 (3 h) per 1.5 h; the oracle starts at 1, 2, 2, 3 h.
    result = replay_advice(0, HOUR, VALUES, perfect(3), [HOUR * 3 // 2], HOUR, warmup_s=0)

    figures = result.figures[HOUR * 3 // 2]
    assert figures.jobs == 4
    at_once = 600 + 450 + 150 + 300
    best = 450 + 150 + 150 + 300
    assert figures.oracle_saving_pct == pytest.approx(100 * (1 - best / at_once))


def test_no_job_is_submitted_before_the_warm_up_or_ends_past_the_trace() -> None:
    result = replay_advice(0, HOUR, VALUES, perfect(4), [HOUR, 3 * HOUR], 2 * HOUR, warmup_s=HOUR)

    assert result.figures[HOUR].jobs == 3
    assert result.figures[3 * HOUR].jobs == 1  # submitted at 1 h, may end at 6 h
    assert {d.submit_s for d in result.decisions if d.job_s == 3 * HOUR} == {HOUR}


def test_a_forecast_too_short_for_the_window_is_refused() -> None:
    with pytest.raises(ValueError, match="horizons"):
        replay_advice(0, HOUR, VALUES, perfect(1), [HOUR], 2 * HOUR, warmup_s=0)
