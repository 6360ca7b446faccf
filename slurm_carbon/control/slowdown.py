"""A capped job's slowdown measured against its own power profile: pure, no I/O, no clock.

Each interval with a known power limit ``cap_w`` did ``throughput(cap_w) /
throughput(max)`` of the work the profile's highest limit would have done in it
(one whose limit is not known: all of it); the time after the last interval
(not shipped yet, or the job's last seconds) runs at the last one's limit. The
work done, as seconds at the highest limit, is the job's *nominal* time; its
slowdown is its run time over that, less one. The capping decider
(:mod:`slurm_carbon.service.capping`) measures a running job's slowdown so far
with it, and the writer a finished job's, stored with its result.

The figure is an estimate: it is as good as the profile. A profile whose
throughput at some lower limit exceeds the highest limit's (a noisy measure)
can give a slightly negative slowdown.

Units: seconds, watts; times aware UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from slurm_carbon.sensors.profiles import PowerProfile

__all__ = ["CappedSpan", "Slowdown", "measured_slowdown", "nominal_s"]


@dataclass(frozen=True, slots=True)
class CappedSpan:
    """One interval of a job's GPUs and the power limit in force over it.

    Attributes:
        start: The interval's start (aware UTC).
        end: Its end.
        cap_w: The limit in force (mean over the job's GPUs); None: not known.
            Units: watts.
    """

    start: datetime
    end: datetime
    cap_w: float | None


@dataclass(frozen=True, slots=True)
class Slowdown:
    """A job's slowdown against its profile and the nominal time it implies.

    Attributes:
        slowdown: Run time over the nominal time, less one (0.019: 1.9 % slower).
        nominal_s: The work done, as seconds at the profile's highest limit.
    """

    slowdown: float
    nominal_s: float


def nominal_s(
    spans: Sequence[CappedSpan], profile: PowerProfile, start: datetime, until: datetime
) -> float:
    """Work done over [start, until), as seconds at the profile's highest limit.

    Spans are counted once per distinct (start, end) (a job's GPUs share their
    intervals); only their parts within [start, until) count. Units: seconds.
    """
    top = profile.at(profile.max_limit_w).throughput

    def lost(low: datetime, high: datetime, cap_w: float | None) -> float:
        if cap_w is None:
            return 0.0
        seconds = (min(high, until) - max(low, start)).total_seconds()
        return max(0.0, seconds) * (1 - profile.at(cap_w).throughput / top)

    ordered = sorted({(s.start, s.end): s.cap_w for s in spans}.items())
    lost_s = sum(lost(low, high, cap_w) for (low, high), cap_w in ordered)
    if ordered:
        (_, last_end), last_cap_w = ordered[-1]
        lost_s += lost(last_end, until, last_cap_w)
    return max(0.0, (until - start).total_seconds() - lost_s)


def measured_slowdown(
    spans: Sequence[CappedSpan], profile: PowerProfile, start: datetime, end: datetime
) -> Slowdown | None:
    """The slowdown of a job that ran over [start, end); None when there is no figure.

    No figure: no span with a known limit (nothing to measure against the
    profile, which is not 0), or no work done (a run of no time).
    """
    if all(s.cap_w is None for s in spans):
        return None
    nominal = nominal_s(spans, profile, start, end)
    if nominal <= 0:
        return None
    return Slowdown((end - start).total_seconds() / nominal - 1, nominal)
