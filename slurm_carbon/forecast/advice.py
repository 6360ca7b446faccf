"""Submit-time advice: the cleanest start of a job over a regular CI series, and the advice file.

The advice file is the contract between the service (which writes one per partition) and
``deploy/slurm/job_submit.lua`` (which reads it at submit time): plain ASCII, one
``key=value`` per line, in this order::

    version=1
    generated=<epoch s, UTC, when written>
    partition=<name>
    region=<grid region code>
    source=<stored forecast's source, or "actual-carried">
    issued=<epoch s: the series' issue time>
    hint=on|off
    threshold_pct=<the saving from which the hint is printed, 0..100>
    defer_default_s=<the delay carbon_defer=auto means>
    step_s=900|1800|3600
    start=<epoch s of the first value, a multiple of step_s>
    ci=<gCO2e/kWh, one per step, comma-separated, at most ADVICE_MAX_POINTS>
    hint_min_s=<the shortest job the hint is printed for; optional, missing: 0>

A reader treats the file as absent when it is too large, not ASCII, of another version,
misses a key other than an optional one, repeats a key or holds a malformed, non-finite
or negative value, or was generated more than ``ADVICE_STALE_S`` ago or more than
``ADVICE_FUTURE_S`` ahead. Unknown keys are ignored (an older reader ignores the optional
ones). Pure: no I/O here (the service writes, the lua reads).

Units: times in epoch seconds (UTC), durations in seconds, CI in gCO2e/kWh.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.vocabulary import CiKind

__all__ = [
    "ADVICE_AHEAD_S",
    "ADVICE_CARRIED_SOURCE",
    "ADVICE_EVERY_S",
    "ADVICE_FUTURE_S",
    "ADVICE_MAX_BYTES",
    "ADVICE_MAX_POINTS",
    "ADVICE_STALE_S",
    "ADVICE_STEPS_S",
    "ADVICE_TIE_G_PER_KWH",
    "ADVICE_VERSION",
    "Advice",
    "AdviceSeries",
    "CiSteps",
    "CleanestStart",
    "advice_series",
    "cleanest_start",
    "format_advice",
    "parse_advice",
]

#: The file format's version; a reader refuses any other.
ADVICE_VERSION = 1
#: How often the service rewrites the files: a stored forecast changes hourly at most, and
#: a file is stale after ADVICE_STALE_S, which leaves five rewrites to fail before that.
ADVICE_EVERY_S = 300
#: Older than this, a file is absent: advice from a forecast the service stopped renewing
#: (writer down) is not given; 30 min is six missed rewrites and half an hourly step.
ADVICE_STALE_S = 1800
#: Generated further ahead than this, a file is absent (a clock set wrong); one rewrite.
ADVICE_FUTURE_S = 300
#: Largest file read: 192 values of up to 7 characters and the other keys fit in 2 KiB;
#: slurmctld reads the file inline, so a larger one is refused unread.
ADVICE_MAX_BYTES = 8192
#: Most values: 48 h at 15 min (72 at 1 h covers 72 h).
ADVICE_MAX_POINTS = 192
#: The series' allowed steps (s): the stored forecasts' steps.
ADVICE_STEPS_S = (900, 1800, 3600)
#: Mean intensities closer than this are a tie (the same values summed in another order).
ADVICE_TIE_G_PER_KWH = 1e-9
#: The source written when the series is only the last actual value held.
ADVICE_CARRIED_SOURCE = "actual-carried"

_KEYS = (
    "version",
    "generated",
    "partition",
    "region",
    "source",
    "issued",
    "hint",
    "threshold_pct",
    "defer_default_s",
    "step_s",
    "start",
    "ci",
)
#: Keys a reader does without (their default when missing), written after the others.
_OPTIONAL = ("hint_min_s",)
_INT = re.compile(r"\d{1,12}", re.ASCII)
_NUMBER = re.compile(r"\d{1,9}(?:\.\d{1,9})?", re.ASCII)
_NAME = re.compile(r"[A-Za-z0-9_.:+-]{1,64}", re.ASCII)
_HINT = {"on": True, "off": False}
_MAX_PCT = 100.0


@dataclass(frozen=True)
class CiSteps:
    """A regular CI series: a step function.

    Attributes:
        start: The first value's time. Units: epoch seconds.
        step_s: The step (positive). Units: seconds.
        ci: One value per step, each holding over its step. Units: gCO2e/kWh.
    """

    start: int
    step_s: int
    ci: tuple[float, ...]

    @property
    def end(self) -> int:
        """The end of the last step. Units: epoch seconds."""
        return self.start + len(self.ci) * self.step_s


@dataclass(frozen=True)
class Advice:
    """One partition's advice file.

    Attributes:
        generated: When written. Units: epoch seconds.
        partition: The Slurm partition.
        region: Its grid region code.
        source: The series' source (``ADVICE_CARRIED_SOURCE``: the last actual held).
        issued: The series' issue time. Units: epoch seconds.
        hint: Whether the sbatch hint is printed for this partition.
        threshold_pct: The least saving for which the hint is printed. Units: percent.
        defer_default_s: What ``carbon_defer=auto`` means. Units: seconds.
        step_s: The series' step. Units: seconds.
        start: The first value's time, a multiple of ``step_s``. Units: epoch seconds.
        ci: One value per step from ``start``. Units: gCO2e/kWh.
        hint_min_s: The shortest job the hint is printed for (0: any). Units: seconds.
    """

    generated: int
    partition: str
    region: str
    source: str
    issued: int
    hint: bool
    threshold_pct: float
    defer_default_s: int
    step_s: int
    start: int
    ci: tuple[float, ...]
    hint_min_s: int = 0

    @property
    def series(self) -> CiSteps:
        """The file's series."""
        return CiSteps(self.start, self.step_s, self.ci)


@dataclass(frozen=True)
class CleanestStart:
    """The cleanest start of a job, and the window means it was chosen by.

    Attributes:
        start: The cleanest start. Units: epoch seconds.
        mean_now: The mean intensity of the window starting now. Units: gCO2e/kWh.
        mean_best: The mean intensity of the window starting at ``start``. Units: gCO2e/kWh.
        saving_pct: ``100 * (1 - mean_best / mean_now)``, 0 when ``mean_now`` is 0.
    """

    start: int
    mean_now: float
    mean_best: float
    saving_pct: float


def _window_mean(series: CiSteps, begin: int, length_s: int) -> float:
    """The mean of the step function over ``[begin, begin + length_s)``, inside the series."""
    end = begin + length_s
    step_s = series.step_s
    index = (begin - series.start) // step_s
    total = 0.0
    while series.start + index * step_s < end:
        low = max(begin, series.start + index * step_s)
        high = min(end, series.start + (index + 1) * step_s)
        total += series.ci[index] * (high - low)
        index += 1
    return total / length_s


def cleanest_start(series: CiSteps, now: int, length_s: int, within_s: int) -> CleanestStart | None:
    """The start, from ``now`` to ``now + within_s``, whose window has the least mean CI.

    Candidates are ``now`` and every step boundary ``start + k*step_s`` after ``now`` up to
    ``now + within_s`` whose window ``[s, s + length_s)`` lies wholly inside the series
    ``[start, start + len(ci)*step_s)``. The intensity holds over each step. The least
    mean wins, the earliest on ties (within ``ADVICE_TIE_G_PER_KWH``).

    Args:
        series: The CI series.
        now: The submit time. Units: epoch seconds.
        length_s: The job's length, its time limit (positive). Units: seconds.
        within_s: How much later it may start (non-negative). Units: seconds.

    Returns:
        The cleanest start, or None when the window starting now is not wholly inside the
        series (no advice).

    Raises:
        ValueError: A non-positive step or length, or a negative ``within_s``.
    """
    step_s = series.step_s
    if step_s <= 0 or length_s <= 0 or within_s < 0:
        raise ValueError("cleanest_start needs a positive step and length, within_s >= 0")
    if now < series.start or now + length_s > series.end:
        return None
    mean_now = _window_mean(series, now, length_s)
    best, mean_best = now, mean_now
    candidate = series.start + ((now - series.start) // step_s + 1) * step_s
    while candidate <= now + within_s and candidate + length_s <= series.end:
        mean = _window_mean(series, candidate, length_s)
        if mean < mean_best - ADVICE_TIE_G_PER_KWH:
            best, mean_best = candidate, mean
        candidate += step_s
    saving_pct = 0.0 if mean_now <= 0 else 100.0 * (1.0 - mean_best / mean_now)
    return CleanestStart(best, mean_now, mean_best, saving_pct)


def _number(value: float) -> str:
    """A value with at most one decimal, no trailing zeros (``398``, ``377.5``)."""
    return f"{value:.1f}".removesuffix(".0")


def format_advice(advice: Advice) -> str:
    """The file's text, keys in the contract's order."""
    values = (
        str(ADVICE_VERSION),
        str(advice.generated),
        advice.partition,
        advice.region,
        advice.source,
        str(advice.issued),
        "on" if advice.hint else "off",
        _number(advice.threshold_pct),
        str(advice.defer_default_s),
        str(advice.step_s),
        str(advice.start),
        ",".join(_number(value) for value in advice.ci),
        str(advice.hint_min_s),
    )
    keys = (*_KEYS, *_OPTIONAL)
    return "".join(f"{key}={value}\n" for key, value in zip(keys, values, strict=True))


def _fields(text: str) -> dict[str, str] | None:
    if len(text.encode("utf-8")) > ADVICE_MAX_BYTES or not text.isascii():
        return None
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if key in _KEYS or key in _OPTIONAL:
            if not sep or key in fields:
                return None
            fields[key] = value
    return fields if all(key in fields for key in _KEYS) else None


def _ci(text: str) -> tuple[float, ...] | None:
    values = text.split(",")
    if len(values) > ADVICE_MAX_POINTS or not all(_NUMBER.fullmatch(v) for v in values):
        return None
    return tuple(float(value) for value in values)


def parse_advice(text: str, now: int) -> Advice | None:
    """The advice in ``text``, or None when a reader must treat the file as absent.

    Args:
        text: The file's content.
        now: The reading time. Units: epoch seconds.

    Returns:
        The advice, or None (too large, not ASCII, another version, a key missing,
        repeated or malformed, a non-finite or negative value, stale or from the future).
    """
    fields = _fields(text)
    if fields is None or fields["version"] != str(ADVICE_VERSION):
        return None
    ints = ("generated", "issued", "defer_default_s", "step_s", "start")
    names = ("partition", "region", "source")
    if not all(_INT.fullmatch(fields[key]) for key in ints) or not all(
        _NAME.fullmatch(fields[key]) for key in names
    ):
        return None
    hint_min = fields.get("hint_min_s", "0")
    if not _INT.fullmatch(hint_min):
        return None
    generated, issued, defer_s, step_s, start = (int(fields[key]) for key in ints)
    ci = _ci(fields["ci"])
    hint = _HINT.get(fields["hint"])
    threshold = fields["threshold_pct"]
    if (
        ci is None
        or hint is None
        or not _NUMBER.fullmatch(threshold)
        or float(threshold) > _MAX_PCT
        or defer_s <= 0
        or step_s not in ADVICE_STEPS_S
        or start % step_s
        or now - generated > ADVICE_STALE_S
        or generated - now > ADVICE_FUTURE_S
    ):
        return None
    partition, region, source = (fields[key] for key in names)
    return Advice(
        generated,
        partition,
        region,
        source,
        issued,
        hint,
        float(threshold),
        defer_s,
        step_s,
        start,
        ci,
        int(hint_min),
    )


#: How far ahead the advice's series reaches: 48 h, a day of choice for a day-long job.
ADVICE_AHEAD_S = 48 * 3600


@dataclass(frozen=True)
class AdviceSeries:
    """The regular series advice is given from, and what it is.

    Attributes:
        steps: The series, on one of ``ADVICE_STEPS_S``.
        source: The forecast's source, or ``ADVICE_CARRIED_SOURCE`` when no forecast
            covers it (the last actual value held).
        issued: The forecast's issue time (the carried actual's time). Units: epoch seconds.
    """

    steps: CiSteps
    source: str
    issued: int

    @property
    def carried(self) -> bool:
        """Whether the series is only the last actual value held."""
        return self.source == ADVICE_CARRIED_SOURCE


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _coarsest_step(points: Sequence[CiPoint]) -> int:
    """The coarsest allowed step on which every point's start and end fall (else the finest)."""
    edges = {_epoch(p.time) for p in points} | {_epoch(p.time) + p.step_s for p in points}
    edges -= {min(edges), max(edges)}
    fitting = [step for step in ADVICE_STEPS_S if all(edge % step == 0 for edge in edges)]
    return max(fitting, default=min(ADVICE_STEPS_S))


def _slot_mean(points: Sequence[CiPoint], begin: int, end: int) -> float | None:
    """The time-weighted mean over ``[begin, end)``, None when the points leave a gap."""
    covered, total = 0, 0.0
    for point in points:
        low = max(begin, _epoch(point.time))
        high = min(end, _epoch(point.time) + point.step_s)
        if high > low:
            covered += high - low
            total += point.ci_g_per_kwh * (high - low)
    return total / (end - begin) if covered == end - begin else None


def advice_series(points: Sequence[CiPoint], now: int) -> AdviceSeries | None:
    """The CI ahead of ``now`` as a regular series, for the advice file and ``advise``.

    ``points`` is what :func:`slurm_carbon.service.ci_forecast.ci_ahead` returns from
    the last whole hour at or before ``now``: stored forecasts, and the last actual
    carried where none covers. The step is the coarsest of ``ADVICE_STEPS_S`` on which
    every point's edges fall (else 15 min, each step the time-weighted mean); the
    series starts on the step at or before ``now``, stops at the first gap, at the end
    of the last forecast (a carried value after it is not a forecast), after
    ``ADVICE_MAX_POINTS`` values or ``ADVICE_AHEAD_S`` after ``now``.

    Returns:
        The series, or None when nothing covers the step holding ``now``.
    """
    forecasts = [p for p in points if p.kind is CiKind.FORECAST]
    if not points:
        return None
    step_s = _coarsest_step(points)
    start = now - now % step_s
    end = min(max(_epoch(p.time) + p.step_s for p in (forecasts or points)), now + ADVICE_AHEAD_S)
    values: list[float] = []
    slot = start
    while slot + step_s <= end and len(values) < ADVICE_MAX_POINTS:
        mean = _slot_mean(points, slot, slot + step_s)
        if mean is None:
            break
        values.append(mean)
        slot += step_s
    if not values:
        return None
    if not forecasts:
        return AdviceSeries(
            CiSteps(start, step_s, tuple(values)),
            ADVICE_CARRIED_SOURCE,
            max(_epoch(p.issued_at) for p in points),
        )
    by_source: dict[str, int] = {}
    for point in forecasts:
        by_source[point.source] = by_source.get(point.source, 0) + point.step_s
    source = max(by_source, key=lambda name: (by_source[name], name))
    issued = max(_epoch(p.issued_at) for p in forecasts if p.source == source)
    return AdviceSeries(CiSteps(start, step_s, tuple(values)), source, issued)
