"""Which share of a job's node-time its stored intervals cover, node by node.

A node whose agent never reported for the job (down, cut off, its spool lost)
leaves its part of the job unmeasured: the job's energy is then what the other
nodes measured, and its quality says so (the silent nodes and the share of
node-time covered) rather than showing a lower energy as if it were whole.

Node-time is the run time times the nodes of the job; a node's covered time is
the union of its intervals' times within the run (a GPU's and a CPU's interval
over the same time count once).

A node's intervals are on its own clock (its agent opens and closes them at its
Prolog's and Epilog's hand-offs), the run on slurmctld's: a node whose clock is
off reports a run that lies outside sacct's Start..End by the offset, wholly
outside when the offset exceeds the run. Its intervals are therefore moved, as a
whole, by the least that brings the most of them into the run (nothing for a node
already within it, or one that reported only part of its run) before they are
clipped (:func:`_clock_shift`).

Units: times in seconds (``_s``); shares are fractions (0..1).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["JobCoverage", "NodeCoverage", "NodeSpan", "node_coverage"]


@dataclass(frozen=True)
class NodeSpan:
    """A time ``[start, end)`` for which a node reported energy of the job."""

    node: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class NodeCoverage:
    """One node's covered time.

    Attributes:
        node: The node's name.
        covered_s: Its reported time within the run. Units: seconds.
        share: That time over the run time (0..1; an empty run: 1 if it reported).
    """

    node: str
    covered_s: float
    share: float


@dataclass(frozen=True)
class JobCoverage:
    """A job's coverage: each node of its node list, in the list's order."""

    nodes: tuple[NodeCoverage, ...]

    @property
    def share(self) -> float:
        """The share of the job's node-time covered (the nodes' mean share, 0..1)."""
        return sum(node.share for node in self.nodes) / len(self.nodes)

    @property
    def silent(self) -> tuple[str, ...]:
        """The nodes that reported nothing of the job."""
        return tuple(node.node for node in self.nodes if node.share == 0)

    @property
    def complete(self) -> bool:
        """Whether every node reported (gaps within a node show in :attr:`share` only)."""
        return not self.silent


def node_coverage(
    nodes: Sequence[str], spans: Iterable[NodeSpan], start: datetime, end: datetime
) -> JobCoverage:
    """The coverage of the run ``[start, end)`` on ``nodes`` by the reported ``spans``.

    Spans of nodes not in ``nodes`` are ignored; times outside the run are clipped.

    Raises:
        ValueError: ``nodes`` is empty.
    """
    if not nodes:
        raise ValueError("no node to cover")
    by_node: dict[str, list[tuple[datetime, datetime]]] = {node: [] for node in nodes}
    for span in spans:
        if span.node in by_node:
            by_node[span.node].append((span.start, span.end))
    run_s = (end - start).total_seconds()
    found = []
    for node in nodes:
        times = by_node[node]
        shift = _clock_shift(times, start, end)
        clipped = [(max(low - shift, start), min(high - shift, end)) for low, high in times]
        covered_s = _union_s(clipped)
        empty_run_share = 1.0 if times else 0.0
        share = min(covered_s / run_s, 1.0) if run_s > 0 else empty_run_share
        found.append(NodeCoverage(node, covered_s, share))
    return JobCoverage(tuple(found))


def _clock_shift(
    times: list[tuple[datetime, datetime]], start: datetime, end: datetime
) -> timedelta:
    """How far a node's clock is taken to be ahead of the run's.

    The shift closest to none that brings the most of ``times`` (its intervals, on its
    clock) into the run ``[start, end)``: among the shifts that fit the span of ``times``
    inside the run (or, when the span is longer than the run, the run inside the span),
    the one nearest zero.
    """
    if not times:
        return timedelta(0)
    early = min(low for low, _ in times) - start
    late = max(high for _, high in times) - end
    return min(max(timedelta(0), min(early, late)), max(early, late))


def _union_s(times: list[tuple[datetime, datetime]]) -> float:
    """The length of the union of the times (empty ones ignored). Units: seconds."""
    total_s = 0.0
    reach: datetime | None = None
    for low, high in sorted(t for t in times if t[1] > t[0]):
        if reach is None or low > reach:
            total_s += (high - low).total_seconds()
            reach = high
        elif high > reach:
            total_s += (high - reach).total_seconds()
            reach = high
    return total_s
