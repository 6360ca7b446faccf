"""The cleanest-start cases, as data: one table that the Python and the Lua implementations run.

Each case is a regular CI series (``start``, ``step_s``, ``ci``: one gCO2e/kWh value per
step, a step function), a job of ``length_s`` seconds submitted at ``now`` that may start
up to ``within_s`` later, and the expected answer: ``best_start`` (epoch seconds) and
``saving_pct``, or both ``None`` when there is no advice (``now``'s window is not wholly
inside the series). Expected values are worked out by hand in each case's ``why``.

The definition (``slurm_carbon.forecast.advice.cleanest_start``): candidates are ``now``
and every ``start + k*step_s`` after ``now`` up to ``now + within_s`` whose window
``[s, s + length_s)`` lies wholly inside ``[start, start + n*step_s)``; the least mean
intensity wins, the earliest on ties (a later candidate wins only when its mean is lower
by more than ``TIE_G_PER_KWH``); ``saving_pct = 100 * (1 - m(best) / m(now))``, 0 when
``m(now)`` is 0.
"""

from __future__ import annotations

from typing import TypedDict

__all__ = ["CASES", "T0", "TIE_G_PER_KWH", "AdviceCase"]

#: A time on a whole hour (2025-12-02T00:00:00Z), so every step size divides it.
T0 = 1764633600
#: Means closer than this are a tie (float sums of the same values in another order).
TIE_G_PER_KWH = 1e-9
_H = 3600


class AdviceCase(TypedDict):
    """One case: the inputs of ``cleanest_start`` and its expected answer."""

    name: str
    why: str
    start: int
    step_s: int
    ci: list[float]
    now: int
    length_s: int
    within_s: int
    best_start: int | None
    saving_pct: float | None


CASES: list[AdviceCase] = [
    {
        "name": "valley",
        "why": "means 400, 250, 100, 250, 400 from now to +4 h: +2 h, 1 - 100/400",
        "start": T0,
        "step_s": _H,
        "ci": [400, 400, 100, 100, 400, 400],
        "now": T0,
        "length_s": 2 * _H,
        "within_s": 4 * _H,
        "best_start": T0 + 2 * _H,
        "saving_pct": 75.0,
    },
    {
        "name": "tie goes to the earliest",
        "why": "means 300, 200, 300, 200, 300: +1 h and +3 h tie, +1 h; 1 - 200/300",
        "start": T0,
        "step_s": _H,
        "ci": [300, 200, 300, 200, 300],
        "now": T0,
        "length_s": _H,
        "within_s": 4 * _H,
        "best_start": T0 + _H,
        "saving_pct": 100 / 3,
    },
    {
        "name": "now in the middle of a step",
        "why": "now +30 min: (100 + 300) / 2 = 200; +1 h 300, +2 h 300, +3 h 50: 1 - 50/200",
        "start": T0,
        "step_s": _H,
        "ci": [100, 300, 300, 50],
        "now": T0 + _H // 2,
        "length_s": _H,
        "within_s": 3 * _H,
        "best_start": T0 + 3 * _H,
        "saving_pct": 75.0,
    },
    {
        "name": "now's window not covered: no advice",
        "why": "a 3 h job, 2 h of series",
        "start": T0,
        "step_s": _H,
        "ci": [100, 200],
        "now": T0,
        "length_s": 3 * _H,
        "within_s": 24 * _H,
        "best_start": None,
        "saving_pct": None,
    },
    {
        "name": "series starting after now: no advice",
        "why": "now's window begins an hour before the first value",
        "start": T0 + _H,
        "step_s": _H,
        "ci": [100, 100, 100],
        "now": T0,
        "length_s": _H,
        "within_s": 24 * _H,
        "best_start": None,
        "saving_pct": None,
    },
    {
        "name": "job longer than the series: no advice",
        "why": "a 10 h job, 6 h of series",
        "start": T0,
        "step_s": _H,
        "ci": [300, 300, 100, 100, 300, 300],
        "now": T0,
        "length_s": 10 * _H,
        "within_s": 24 * _H,
        "best_start": None,
        "saving_pct": None,
    },
    {
        "name": "zero intensity now",
        "why": "m(now) = 0: nothing is lower, now, saving 0",
        "start": T0,
        "step_s": _H,
        "ci": [0, 0, 100],
        "now": T0,
        "length_s": _H,
        "within_s": 2 * _H,
        "best_start": T0,
        "saving_pct": 0.0,
    },
    {
        "name": "zero intensity later",
        "why": "means 200, 0, 0: +1 h, 1 - 0/200",
        "start": T0,
        "step_s": _H,
        "ci": [200, 0, 0],
        "now": T0,
        "length_s": _H,
        "within_s": 2 * _H,
        "best_start": T0 + _H,
        "saving_pct": 100.0,
    },
    {
        "name": "within shorter than a step",
        "why": "30 min: no step boundary after now within it; now only, saving 0",
        "start": T0,
        "step_s": _H,
        "ci": [300, 100, 100],
        "now": T0,
        "length_s": _H,
        "within_s": _H // 2,
        "best_start": T0,
        "saving_pct": 0.0,
    },
    {
        "name": "candidates leaving the series are skipped",
        "why": "means 300, 200; +2 h would end past the series: +1 h, 1 - 200/300",
        "start": T0,
        "step_s": _H,
        "ci": [300, 300, 100],
        "now": T0,
        "length_s": 2 * _H,
        "within_s": 24 * _H,
        "best_start": T0 + _H,
        "saving_pct": 100 / 3,
    },
    {
        "name": "quarter-hour steps, now between them",
        "why": (
            "now +10 min: (3000*200 + 600*100)/3600 = 183.33; then 175, 150, 125, 100 at +1 h;"
            " +75 min would end past the series: +1 h, 1 - 100/183.33 = 45.45"
        ),
        "start": T0,
        "step_s": 900,
        "ci": [200, 200, 200, 200, 100, 100, 100, 100],
        "now": T0 + 600,
        "length_s": _H,
        "within_s": 3 * _H,
        "best_start": T0 + _H,
        "saving_pct": 100 * (1 - 100 / (660000 / 3600)),
    },
    {
        "name": "a job length that is not whole steps",
        "why": "90 min: means 300, 300, (300 + 100/2)/1.5 = 233.33, 100: +3 h, 1 - 100/300",
        "start": T0,
        "step_s": _H,
        "ci": [300, 300, 300, 100, 100, 100],
        "now": T0,
        "length_s": 5400,
        "within_s": 3 * _H,
        "best_start": T0 + 3 * _H,
        "saving_pct": 200 / 3,
    },
    {
        "name": "the last candidate is the one ending at the series' end",
        "why": "means 400, 400, 400, 225, 50 at +2 h, ending exactly at the end: 1 - 50/400",
        "start": T0,
        "step_s": 1800,
        "ci": [400, 400, 400, 400, 50, 50],
        "now": T0,
        "length_s": _H,
        "within_s": 24 * _H,
        "best_start": T0 + 2 * _H,
        "saving_pct": 87.5,
    },
]
