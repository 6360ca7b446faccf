"""Which stored energy is a job's: its own intervals, and its share of unmeasured node parts.

A node's token may report energy for any job of its cluster, so
:func:`own_intervals` keeps only the intervals from the job's nodes within its
run time (give or take :data:`RUN_TIME_SLACK`). :func:`energy_spans` turns them
into accounting spans, and :func:`unmeasured_spans` adds the job's share of its
nodes' unmeasured parts where the :class:`~slurm_carbon.service.site.Site`
configures a fixed power for them.

Units: energy in joules, power in watts.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from slurm_carbon import accounting as acc
from slurm_carbon.service.site import Site
from slurm_carbon.slurm.hostlist import expand_hostlist
from slurm_carbon.store.results import StoredInterval
from slurm_carbon.text import escape_control
from slurm_carbon.vocabulary import DeviceKind, EnergyMethod, Sharing

__all__ = ["RUN_TIME_SLACK", "energy_spans", "own_intervals", "unmeasured_spans"]

logger = logging.getLogger(__name__)

#: How far before a job's Start and after its End its intervals still count. The
#: agent clips intervals to the job's start and stop as its node saw them, on the
#: node's clock, so only clock skew between the node and slurmctld and the hooks'
#: delay need room. 300 s is MUNGE's default credential TTL: Slurm's daemons
#: authenticate every message with MUNGE, so a node whose clock is off by more
#: cannot run jobs at all, and any skew Slurm tolerates is kept (a node 90 s off:
#: tests/unit/service/test_results.py, tests/integration/test_faults_clock.py).
RUN_TIME_SLACK = timedelta(seconds=300)


def energy_spans(intervals: Sequence[StoredInterval]) -> list[acc.EnergySpan]:
    """The stored intervals as accounting spans, one each."""
    return [
        acc.EnergySpan(
            device_kind=row.kind,
            start=row.start,
            end=row.end,
            energy_j=row.energy_j,
            method=row.method,
            sharing=row.sharing,
        )
        for row in intervals
    ]


def unmeasured_spans(
    intervals: Sequence[StoredInterval],
    site: Site,
    sharers: Mapping[tuple[str, datetime], int],
) -> list[acc.EnergySpan]:
    """The job's share of its nodes' unmeasured parts, one estimated span per node and slot.

    A node's fixed power over the job's time in each interval slot, divided
    among the jobs that have energy on that node in that slot.
    """
    windows: dict[tuple[str, datetime], datetime] = {}
    for row in intervals:
        key = (row.node, row.start)
        windows[key] = max(windows.get(key, row.end), row.end)
    spans = []
    for (node, start), end in sorted(windows.items()):
        power_w = site.unmeasured_power_w(node)
        if not power_w:
            continue
        jobs = max(1, sharers.get((node, start), 1))
        spans.append(
            acc.EnergySpan(
                device_kind=DeviceKind.OTHER,
                start=start,
                end=end,
                energy_j=power_w * (end - start).total_seconds() / jobs,
                method=EnergyMethod.ESTIMATED,
                sharing=Sharing.SHARED if jobs > 1 else Sharing.EXCLUSIVE,
            )
        )
    return spans


def own_intervals(
    label: str,
    intervals: Sequence[StoredInterval],
    *,
    node_list: str | None,
    start: datetime | None,
    end: datetime,
) -> list[StoredInterval]:
    """The intervals a job can have used: from its nodes, within its run time.

    A node's token may report energy for any job of its cluster; intervals
    from a node not in ``node_list`` (Slurm's host list; None: not known, not
    checked) or outside
    ``[start - RUN_TIME_SLACK, end + RUN_TIME_SLACK]`` (all of them when the job
    never started) are dropped, and what was dropped is logged in one line.
    """
    nodes = None if node_list is None else set(expand_hostlist(node_list))
    kept: list[StoredInterval] = []
    foreign: list[StoredInterval] = []
    outside: list[StoredInterval] = []
    for row in intervals:
        if nodes is not None and row.node not in nodes:
            foreign.append(row)
        elif start is None or row.start < start - RUN_TIME_SLACK or row.end > end + RUN_TIME_SLACK:
            outside.append(row)
        else:
            kept.append(row)
    if foreign or outside:
        names = ",".join(sorted({row.node for row in foreign}))
        logger.warning(
            "job %s: %d of %d intervals dropped: %d from nodes not in its NodeList %s (%s),"
            " %d outside its run time",
            escape_control(label),
            len(foreign) + len(outside),
            len(intervals),
            len(foreign),
            escape_control(node_list or "?"),
            escape_control(names),
            len(outside),
        )
    return kept
