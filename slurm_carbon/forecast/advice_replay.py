"""The submit-time advice replayed on a carbon-intensity trace, against the oracle.

A job of each length is submitted at every step of a regular trace after a
warm-up (:data:`WARMUP_S`, the history the forecaster needs), when its latest
possible end (submit + ``within_s`` + length) lies inside the trace (the last
value holds one step). Its start is :func:`~slurm_carbon.forecast.advice.cleanest_start`
over what was known at submit time: the value at the submit step, then the
forecast made from the values up to it (``made``, as
:func:`slurm_carbon.control.replay.forecast_matrix` returns it). The oracle's is
``cleanest_start`` over the trace itself. Both are measured on the actual trace
for a job drawing constant power, the intensity a step function: the saving is
``100 x (1 - sum of the chosen windows' CI / sum of the windows starting at once)``.

Pure: arrays in, figures out; no I/O, no clock.

Units: times in epoch seconds, durations in seconds, CI in gCO2e/kWh.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from slurm_carbon.forecast.advice import CiSteps, cleanest_start

__all__ = [
    "WARMUP_S",
    "AdviceDecision",
    "AdviceFigures",
    "AdviceReplay",
    "horizons_needed",
    "replay_advice",
]

#: No job is submitted in the trace's first week: the forecaster's default method
#: needs a week of history (before it, it falls back to yesterday's values).
WARMUP_S = 7 * 86_400

Floats = NDArray[np.float64]


@dataclass(frozen=True)
class AdviceDecision:
    """One job: when submitted, how long, when the advice started it. Units: s."""

    submit_s: int
    job_s: int
    start_s: int


@dataclass(frozen=True)
class AdviceFigures:
    """One job length over all its submissions. Units: percent."""

    jobs: int
    advice_saving_pct: float
    oracle_saving_pct: float


@dataclass(frozen=True)
class AdviceReplay:
    """Per job length (s): its figures; every decision, in submit order per length."""

    figures: dict[int, AdviceFigures]
    decisions: list[AdviceDecision]


def horizons_needed(step_s: int, job_s: int, within_s: int) -> int:
    """The forecast steps a submission needs after its own: the latest window's end."""
    return max(1, -(-(within_s + job_s) // step_s) - 1)


class _Integral:
    """The integral of the step function ``values`` from ``first_s``: CI x s."""

    def __init__(self, first_s: int, step_s: int, values: Floats) -> None:
        self.first_s, self.step_s = first_s, step_s
        self.values = values.tolist()
        self.base = np.concatenate([[0.0], np.cumsum(values) * step_s]).tolist()

    def at(self, time_s: int) -> float:
        k, into = divmod(time_s - self.first_s, self.step_s)
        if k == len(self.values):
            return float(self.base[k])
        return float(self.base[k] + self.values[k] * into)

    def window(self, start_s: int, length_s: int) -> float:
        return self.at(start_s + length_s) - self.at(start_s)


def replay_advice(  # noqa: PLR0913, PLR0917 (the trace, its forecasts, what is replayed)
    first_s: int,
    step_s: int,
    values: Floats,
    made: Floats,
    job_lengths_s: Sequence[int],
    within_s: int,
    *,
    warmup_s: int = WARMUP_S,
) -> AdviceReplay:
    """Replay the advice for jobs of each length (module docstring).

    Args:
        first_s: The first value's time. Units: epoch seconds.
        step_s: The trace's step. Units: seconds.
        values: One CI value per step.
        made: ``made[h - 1, i]``: the forecast of value ``i + h`` made from values ``0..i``,
            at least :func:`horizons_needed` rows for the longest job.
        job_lengths_s: The jobs' lengths (positive). Units: seconds.
        within_s: How much later a job may start. Units: seconds.
        warmup_s: No submission before ``first_s + warmup_s``. Units: seconds.

    Returns:
        Per length, the jobs and both savings (0 for a length with no job).

    Raises:
        ValueError: ``made`` has too few horizons for the longest job.
    """
    needed = max(horizons_needed(step_s, job_s, within_s) for job_s in job_lengths_s)
    if made.shape[0] < needed:
        raise ValueError(f"the forecast has {made.shape[0]} horizons, {needed} are needed")
    actual = CiSteps(first_s, step_s, tuple(values.tolist()))
    integral = _Integral(first_s, step_s, values)
    ahead = made[:needed].T.tolist()
    first_submit = -(-warmup_s // step_s)
    figures: dict[int, AdviceFigures] = {}
    decisions: list[AdviceDecision] = []
    for job_s in job_lengths_s:
        at_once = advised = oracle = 0.0
        jobs = 0
        for i in range(first_submit, len(values)):
            submit_s = first_s + i * step_s
            if submit_s + within_s + job_s > actual.end:
                break
            known = CiSteps(submit_s, step_s, (float(values[i]), *ahead[i]))
            chosen = cleanest_start(known, submit_s, job_s, within_s)
            best = cleanest_start(actual, submit_s, job_s, within_s)
            if chosen is None or best is None:  # both series cover the window: never
                raise ValueError("the series do not cover the job's window")
            decisions.append(AdviceDecision(submit_s, job_s, chosen.start))
            at_once += integral.window(submit_s, job_s)
            advised += integral.window(chosen.start, job_s)
            oracle += integral.window(best.start, job_s)
            jobs += 1
        figures[job_s] = AdviceFigures(jobs, _saving(advised, at_once), _saving(oracle, at_once))
    return AdviceReplay(figures, decisions)


def _saving(chosen: float, at_once: float) -> float:
    return 0.0 if at_once <= 0 else 100.0 * (1.0 - chosen / at_once)
