"""Learning a running job's power profile online, from the store, at each sweep.

When no profile is stored for a job's GPU model and workload key,
:class:`~slurm_carbon.service.capping.CapDecider` drives the profiling state
machine (:class:`~slurm_carbon.control.profiling.Profiler`) with what the store
holds, here:

- **Stateless.** Nothing is kept between sweeps: each sweep builds a new
  :class:`Profiler` and feeds it every stored GPU interval of the job, so any
  replica, or a restarted service, reaches the same phase and limit.
- **Observations.** One per interval span (start, end) of the job's GPUs: the
  GPUs' mean energy (a profile is per GPU), the mean limit they reported
  (``cap_w``; a span where one GPU's limit is unknown is left out), the
  progress made over it, interpolated linearly between the job's progress
  reports (a span not within the reports has none), and the GPUs' mean busy
  clock (``busy_clock_mhz``, utilization x SM clock; a span where one GPU's is
  unknown has none). A span
  whose limit differs from the one before is left out: the limit changed as it
  began, and the state machine's own settle time (counted from the end of the
  window before) does not know when the agent applied the change.
- **Limits.** From the limit in force over the job's first interval (the
  GPU's default, nothing being decided before) down by 25 W to the highest
  lowest limit its GPUs reported (NVML's constraints; a limit the agent
  clamps would never be measured), or, from an older agent that reports none,
  to :data:`PROFILING_FLOOR` of the first limit.
- **Progress first, else the busy clock.** The job's progress measures its
  work; a job that reports none is measured by its GPUs' busy clock, and the
  profile learned is an estimate (source
  :data:`~slurm_carbon.vocabulary.PROFILE_LEARNED_BUSY_CLOCK`). A job with
  neither is not profiled.
- **Leases.** The limit asked for is recorded as the job's decision, policy
  :data:`~slurm_carbon.vocabulary.PROFILING_POLICY`, from now for
  :data:`PROFILING_LEASE`, and renewed (or changed) at a later sweep: the
  state machine counts only the intervals run at the limit it measures, so
  each limit is held until the sweep after its window ends, whatever the
  writer's ``--sweep-s`` (the shorter, the sooner profiling ends).

Units: watts, seconds; times aware UTC.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import numpy as np

from slurm_carbon.control.profiling import Observation, Profiler
from slurm_carbon.store.caps import CapDecisionRecord
from slurm_carbon.store.progress import ProgressPoint
from slurm_carbon.store.results import StoredInterval
from slurm_carbon.vocabulary import PROFILING_POLICY, ProfilingPhase

__all__ = [
    "PROFILING_FLOOR",
    "PROFILING_LEASE",
    "gpu_observations",
    "learn_online",
    "profiling_decision",
]

PROFILING_FLOOR = 0.5
"""The lowest limit profiled, as a fraction of the job's first limit (the GPU's default),
when its GPUs did not report their own lowest (an older agent): NVIDIA's data-centre
GPUs allow limits down to a third (V100, A100) or two sevenths (H100) of their highest,
so half is within every one's range; and a job is seldom within a slowdown budget of a
few percent so far down. Dimensionless."""

PROFILING_LEASE = timedelta(minutes=10)
"""How long a profiling limit is decided for: twice the writer's default ``--sweep-s``
(300 s), so one late sweep does not hand the GPU back to its default in the middle of a
window; renewed when less than half is left. Should the service stop deciding, the agent
restores the GPU when the lease ends."""


def _progress_at(points: Sequence[ProgressPoint], times_s: np.ndarray) -> np.ndarray:
    """The job's progress at each of ``times_s``, interpolated; NaN outside the reports."""
    if not points:
        return np.full(len(times_s), math.nan)
    known_s = np.array([p.time.timestamp() for p in points])
    fractions = np.maximum.accumulate(np.array([p.fraction for p in points]))
    at: np.ndarray = np.interp(times_s, known_s, fractions, left=math.nan, right=math.nan)
    return at


def gpu_observations(
    gpu: Sequence[StoredInterval],
    caps_w: Mapping[datetime, float],
    progress: Sequence[ProgressPoint],
    busy_mhz: Mapping[datetime, float],
) -> list[Observation]:
    """The observations of a job's GPUs: one per span with a known limit, in time order.

    Args:
        gpu: The job's GPU intervals.
        caps_w: Their mean limit per interval start (where every GPU's is known).
        progress: The job's progress reports, in time order.
        busy_mhz: Their mean busy clock per interval start (likewise). Units: MHz.
    """
    energy: dict[tuple[datetime, datetime], list[float]] = {}
    for interval in gpu:
        if interval.start in caps_w:
            energy.setdefault((interval.start, interval.end), []).append(interval.energy_j)
    ordered = sorted(energy)
    spans = [  # a span right after a limit change is not measured: the limit is settling
        span
        for span, before in zip(ordered, [None, *ordered[:-1]], strict=True)
        if before is None or caps_w[before[0]] == caps_w[span[0]]
    ]
    starts = _progress_at(progress, np.array([s.timestamp() for s, _ in spans]))
    ends = _progress_at(progress, np.array([e.timestamp() for _, e in spans]))
    return [
        Observation(
            start_s=start.timestamp(),
            end_s=end.timestamp(),
            limit_w=caps_w[start],
            energy_j=float(np.mean(energy[(start, end)])),
            progress=None if math.isnan(done) else float(done),
            busy_clock_mhz=busy_mhz.get(start),
        )
        for (start, end), done in zip(spans, ends - starts, strict=True)
    ]


def learn_online(
    observations: Sequence[Observation],
    started: datetime,
    *,
    ended: bool,
    min_limit_w: float | None,
) -> Profiler | None:
    """The job's profiler fed with its observations; None when it has none to start from.

    Args:
        observations: :func:`gpu_observations`, in time order.
        started: When the job started.
        ended: Whether the job has ended (an unsettled profile is then partial).
        min_limit_w: The lowest limit every GPU of the job allows, None when not
            reported (then :data:`PROFILING_FLOOR` of the first limit). Units: watts.
    """
    if not observations:
        return None
    max_limit_w = observations[0].limit_w
    lowest_w = PROFILING_FLOOR * max_limit_w if min_limit_w is None else min_limit_w
    profiler = Profiler(min(lowest_w, max_limit_w), max_limit_w, started.timestamp())
    for observation in observations:
        profiler.observe(observation)
    if ended:
        profiler.end()
    return profiler


def profiling_decision(
    profiler: Profiler,
    *,
    job_id: int,
    latest: CapDecisionRecord | None,
    now: datetime,
) -> CapDecisionRecord | None:
    """The decision holding the limit ``profiler`` asks for; None: ``latest`` holds it still.

    Args:
        profiler: A profiler warming up or profiling.
        job_id: The job's row id.
        latest: The job's latest decision, if any.
        now: The sweep's time.
    """
    limit_w = profiler.limit_w
    assert limit_w is not None  # noqa: S101 (the caller's: warming up or profiling)
    if (
        latest is not None
        and latest.policy == PROFILING_POLICY
        and latest.power_limit_w == limit_w
        and latest.period_end - now > PROFILING_LEASE / 2
    ):
        return None
    if profiler.phase is ProfilingPhase.WARMING_UP:
        where = "warming up"
    else:
        limits_w = profiler.limits_w
        where = f"limit {limits_w.index(limit_w) + 1} of {len(limits_w)}"
    return CapDecisionRecord(
        job_id=job_id,
        device=None,
        period_start=now,
        period_end=now + PROFILING_LEASE,
        power_limit_w=limit_w,
        policy=PROFILING_POLICY,
        reason=f"{PROFILING_POLICY}: {limit_w:g} W ({where})",
        decided_at=now,
    )
