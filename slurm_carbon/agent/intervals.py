"""Splitting a sampled span of energy among jobs and wall-clock intervals (pure).

A sample gives the energy a device used between two times. That energy is
spread uniformly over the span, cut at every job start/stop and every interval
boundary ``k * interval_s`` (UTC), and shared among the jobs holding the device
in each piece by their weights. Units: seconds, joules.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Holder", "Share", "attribute", "slot_of"]


@dataclass(frozen=True)
class Holder:
    """A job holding a device during (part of) a span.

    Attributes:
        job_id: The Slurm job id.
        start_s: When the job started (its Prolog ran). Units: seconds since the epoch.
        stop_s: When it stopped, or ``None`` while it runs.
        weight: Its share among the holders of the same piece of the span
            (e.g. CPU seconds used); holders whose weights sum to zero share equally.
    """

    job_id: int
    start_s: float
    stop_s: float | None
    weight: float = 1.0


@dataclass(frozen=True)
class Share:
    """Energy given to one job in one interval.

    Attributes:
        job_id: The job.
        slot_start_s: The aligned interval start ``k * interval_s``. Units: seconds.
        energy_j: Units: joules.
        shared: Whether another job held the device at the same time.
        seconds: How long the piece lasted. Units: seconds.
    """

    job_id: int
    slot_start_s: float
    energy_j: float
    shared: bool
    seconds: float = 0.0


def slot_of(t_s: float, interval_s: float) -> float:
    """Return the start of the aligned interval holding ``t_s``. Units: seconds."""
    return math.floor(t_s / interval_s) * interval_s


def attribute(
    t0_s: float, t1_s: float, energy_j: float, holders: Sequence[Holder], interval_s: float
) -> list[Share]:
    """Spread ``energy_j`` used over ``[t0_s, t1_s]`` among ``holders`` and intervals.

    Energy of a piece of the span that no holder covers belongs to no job and
    is left out (an idle device). Units: seconds, joules.

    Returns:
        One :class:`Share` per job per interval piece; their sum is
        ``energy_j`` when the holders cover the whole span.
    """
    if t1_s <= t0_s or energy_j <= 0 or not holders:
        return []
    cuts = {t0_s, t1_s}
    for holder in holders:
        for edge in (holder.start_s, holder.stop_s):
            if edge is not None and t0_s < edge < t1_s:
                cuts.add(edge)
    k = math.floor(t0_s / interval_s) + 1
    while k * interval_s < t1_s:
        cuts.add(k * interval_s)
        k += 1
    edges = sorted(cuts)
    span_s = t1_s - t0_s
    shares: list[Share] = []
    for a, b in itertools.pairwise(edges):
        active = [h for h in holders if h.start_s <= a and (h.stop_s is None or h.stop_s >= b)]
        if not active:
            continue
        piece_j = energy_j * (b - a) / span_s
        total = sum(max(h.weight, 0.0) for h in active)
        slot = slot_of((a + b) / 2, interval_s)
        for holder in active:
            fraction = max(holder.weight, 0.0) / total if total > 0 else 1 / len(active)
            if fraction > 0:
                shares.append(
                    Share(holder.job_id, slot, piece_j * fraction, len(active) > 1, b - a)
                )
    return shares
