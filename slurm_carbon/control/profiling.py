"""Online power profiling of a job: warm up, try limits from the maximum down, settle.

Zeus's power-limit optimizer (ml-energy/zeus, ``zeus/optimizer/power_limit.py``)
profiles a training job in its first epoch: a few warm-up iterations, then each
power limit for a few iterations, from the highest down, then the best limit
for the rest. We do not see iterations, only time, energy and the job's
progress, so :class:`Profiler` does the same by the clock, as a state machine
fed with observations (pure: no I/O, no clock; the caller passes the times):

``warming_up``
    For :data:`WARMUP_S` after the job starts it asks for the maximum limit and
    measures nothing (data loading, cuDNN autotuning and compilation make the
    first minutes unlike the rest).
``profiling``
    It asks for each allowed limit in turn, the maximum first, then down by
    ``LIMIT_STEP_W``; after a change it waits :data:`SETTLE_S`, then measures
    for :data:`WINDOW_S`: power = energy / time, throughput = work / time. A
    limit whose throughput is below the maximum's by more than
    :data:`STOP_SLOWDOWN` ends the descent (lower limits are slower still).
``settled``
    The profile is known; the caller's policy chooses limits from now on, and
    the caller caches the profile for the GPU model and the job's
    :func:`workload_key`, so the next job of that kind starts here.
``ended``
    The job ended before profiling settled (:meth:`Profiler.end`): its points
    are a partial result, and never cached (:attr:`Profiler.cacheable`).

**Work.** An observation's work is the job's progress over it (the fraction of
its work, ``slurm_carbon.progress``); a job that reports none is measured by
its GPU's **busy clock** instead (utilization x SM clock,
:class:`~slurm_carbon.sensors.base.GpuBusy`: utilization alone stays at 100 %
under a cap, the kernels just run longer), assuming a job does its work at a
rate proportional to the SM cycles its kernels get (true of a compute-bound
job; a memory-bound one slows less than its clock, so its slowdown is
over-estimated; one waiting on I/O looks busy less often, whatever the
limit). Such a profile is an estimate (:attr:`Profiler.estimated`). The first
counted observation decides which signal the profile uses; observations
without it, or with no work at all, are not counted. Throughputs are stored
relative to the maximum limit's (1.0 there), so the profile of one job serves
the next of the same kind, however long.

An observation counts for the limit being measured only when that limit was in
force over it (within :data:`LIMIT_TOLERANCE_W`), its energy is finite and not
negative, and it starts after the settle time: the caller's observations
should be short against :data:`WINDOW_S` (an observation straddling the settle
time is dropped whole).

Units: seconds, watts, joules; throughput relative to the maximum limit's.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from slurm_carbon.accounting.job_words import BadJobWord, parse_job_words
from slurm_carbon.control.policies import LIMIT_STEP_W
from slurm_carbon.errors import ConfigError
from slurm_carbon.sensors.profiles import ProfilePoint
from slurm_carbon.vocabulary import ProfilingPhase

__all__ = [
    "GENERIC_JOB_NAMES",
    "LIMIT_TOLERANCE_W",
    "MAX_WORKLOAD_KEY_CHARS",
    "SETTLE_S",
    "STOP_SLOWDOWN",
    "WARMUP_S",
    "WINDOW_S",
    "Observation",
    "Profiler",
    "workload_key",
]

WARMUP_S = 180.0
"""Time after the job starts that is not measured: data loading, cuDNN autotuning and
compilation take the first minutes of a training job (Zeus skips its first 10 iterations;
we see time, not iterations). Units: seconds."""

SETTLE_S = 15.0
"""Time after a limit change that is not measured: the driver applies a limit within a
second, but NVML's power reading is a one-second average and clocks and temperature
take several seconds to settle. Units: seconds."""

WINDOW_S = 120.0
"""How long each limit is measured: two of the agent's 60 s intervals, so that a
throughput read from progress reports a few seconds apart is averaged over many. With 25 W
steps and the agent's 60 s intervals (the one after each change starts before the settle
time ends and is dropped), a 300 W GPU down to 100 W is profiled 29 minutes after the job
starts: 180 s of warm-up, 120 s at 300 W, then 180 s per limit. Units: seconds."""

STOP_SLOWDOWN = 0.5
"""The descent stops at the first limit at which the job is this much slower than at the
maximum (time per unit of work 1.5 times as long): every window spent there costs the job
a third of its work, and no policy within a slowdown budget of a few percent holds such a
limit for long, so lower limits are not worth trying. Dimensionless."""

LIMIT_TOLERANCE_W = 0.5
"""How far the limit in force may be from the one being measured and still count: NVML
sets limits in milliwatts, and half a watt still tells 25 W steps apart. Units: watts."""

MAX_WORKLOAD_KEY_CHARS = 255
"""The longest job name used as a workload key (the store's ``workload_key`` column);
a longer name gives no key, so such a job is profiled but its profile not cached."""

GENERIC_JOB_NAMES = frozenset({"bash", "interactive", "sbatch", "sh", "wrap"})
"""Names Slurm gives jobs that did not choose one (``sbatch`` from standard input,
``--wrap``, ``salloc``/``srun --pty``): they say nothing of the work, so give no key."""


class _Signal(enum.Enum):
    PROGRESS = "progress"
    BUSY_CLOCK = "busy_clock"


@dataclass(frozen=True)
class Observation:
    """What one GPU of the job did over a stretch of time.

    Attributes:
        start_s: Start of the stretch. Units: seconds (any epoch, the caller's).
        end_s: Its end, after ``start_s``. Units: seconds.
        limit_w: The power limit in force over it. Units: watts.
        energy_j: The GPU's energy over it. Units: joules.
        progress: The job's progress over it (fraction of its work); None when the job
            reports none.
        busy_clock_mhz: The GPU's mean busy clock over it (utilization x SM clock);
            None when not read. Units: MHz.
    """

    start_s: float
    end_s: float
    limit_w: float
    energy_j: float
    progress: float | None = None
    busy_clock_mhz: float | None = None


@dataclass
class _Window:
    energy_j: float = 0.0
    duration_s: float = 0.0
    work: float = 0.0


class Profiler:
    """The profiling state machine of one job's GPUs (see the module's docstring).

    Feed it observations in time order with :meth:`observe`; hold the limit it
    returns (None: the policy's choice); call :meth:`end` when the job ends.
    """

    def __init__(
        self,
        min_limit_w: float,
        max_limit_w: float,
        started_s: float,
        *,
        cached: tuple[ProfilePoint, ...] | None = None,
    ) -> None:
        """Profile between the device's limits, for a job started at ``started_s``.

        Args:
            min_limit_w: The device's lowest allowed limit. Units: watts.
            max_limit_w: Its highest. Units: watts.
            started_s: When the job started. Units: seconds.
            cached: The profile cached for this GPU model and workload key: the
                job starts settled with it, and nothing is profiled.

        Raises:
            ConfigError: The limits are not finite with ``0 < min <= max``.
        """
        if not (math.isfinite(min_limit_w) and math.isfinite(max_limit_w)):
            raise ConfigError("power limits must be finite")
        if not 0 < min_limit_w <= max_limit_w:
            raise ConfigError(
                f"power limits {min_limit_w:g}-{max_limit_w:g} W: need 0 < min <= max"
            )
        count = math.floor((max_limit_w - min_limit_w) / LIMIT_STEP_W + 1e-9)
        self._limits_w = tuple(max_limit_w - k * LIMIT_STEP_W for k in range(count + 1))
        self._index = 0
        self._counting_from_s = started_s + WARMUP_S
        self._signal: _Signal | None = None
        self._window = _Window()
        self._measured: list[tuple[float, float, float]] = []  # (limit_w, power_w, throughput)
        self._cached = cached
        self.phase = ProfilingPhase.SETTLED if cached else ProfilingPhase.WARMING_UP

    @property
    def limit_w(self) -> float | None:
        """The limit to hold now; None once settled or ended (the policy chooses)."""
        if self.phase is ProfilingPhase.WARMING_UP:
            return self._limits_w[0]
        if self.phase is ProfilingPhase.PROFILING:
            return self._limits_w[self._index]
        return None

    @property
    def points(self) -> tuple[ProfilePoint, ...]:
        """The profile so far, ascending by limit, throughput relative to the maximum's.

        The cached profile when the job started settled with one; a partial
        result when the job ended mid-profiling; empty before the first window.
        """
        if self._cached:
            return self._cached
        if not self._measured:
            return ()
        top = self._measured[0][2]
        return tuple(
            ProfilePoint(limit_w, power_w, throughput / top)
            for limit_w, power_w, throughput in sorted(self._measured)
        )

    @property
    def limits_w(self) -> tuple[float, ...]:
        """Every limit profiled, the highest first. Units: watts."""
        return self._limits_w

    @property
    def estimated(self) -> bool:
        """Whether the throughputs come from the busy clock (no progress): an estimate."""
        return self._signal is _Signal.BUSY_CLOCK

    @property
    def cacheable(self) -> bool:
        """Whether :attr:`points` is a whole profile learned by this job (to cache)."""
        return self.phase is ProfilingPhase.SETTLED and self._cached is None

    def observe(self, observation: Observation) -> float | None:
        """Take one observation (in time order); return the limit to hold next."""
        if self.phase is ProfilingPhase.WARMING_UP and observation.end_s >= self._counting_from_s:
            self.phase = ProfilingPhase.PROFILING
        counted = self._counted(observation) if self.phase is ProfilingPhase.PROFILING else None
        if counted is not None:
            self._add(observation, *counted)
            if self._window.duration_s >= WINDOW_S:
                self._next_limit(observation.end_s)
        return self.limit_w

    def end(self) -> None:
        """The job ended: an unsettled profile stays partial and is never cached."""
        if self.phase is not ProfilingPhase.SETTLED:
            self.phase = ProfilingPhase.ENDED

    def _work(self, observation: Observation) -> tuple[_Signal, float] | None:
        if observation.progress is not None and self._signal is not _Signal.BUSY_CLOCK:
            return _Signal.PROGRESS, observation.progress
        if observation.busy_clock_mhz is not None and self._signal is not _Signal.PROGRESS:
            duration_s = observation.end_s - observation.start_s
            return _Signal.BUSY_CLOCK, observation.busy_clock_mhz * duration_s
        return None

    def _counted(self, observation: Observation) -> tuple[_Signal, float] | None:
        """The observation's signal and work, if it counts for the limit being measured."""
        work = self._work(observation)
        counts = (
            work is not None
            and math.isfinite(work[1])
            and work[1] > 0
            and observation.start_s >= self._counting_from_s
            and observation.end_s > observation.start_s
            and abs(observation.limit_w - self._limits_w[self._index]) <= LIMIT_TOLERANCE_W
            and math.isfinite(observation.energy_j)
            and observation.energy_j >= 0
        )
        return work if counts else None

    def _add(self, observation: Observation, signal: _Signal, work: float) -> None:
        self._signal = signal
        self._window.energy_j += observation.energy_j
        self._window.duration_s += observation.end_s - observation.start_s
        self._window.work += work

    def _next_limit(self, at_s: float) -> None:
        window = self._window
        throughput = window.work / window.duration_s
        limit_w = self._limits_w[self._index]
        self._measured.append((limit_w, window.energy_j / window.duration_s, throughput))
        self._window = _Window()
        too_slow = self._measured[0][2] / throughput - 1 > STOP_SLOWDOWN
        if too_slow or self._index + 1 == len(self._limits_w):
            self.phase = ProfilingPhase.SETTLED
            return
        self._index += 1
        self._counting_from_s = at_s + SETTLE_S


def workload_key(job_name: str | None, comment: str | None) -> str | None:
    """The key a job's power profile is cached under, for its GPU model; None: no key.

    The comment's ``carbon_profile=NAME`` when it gives one, else the job's
    name, unless that is empty, one of :data:`GENERIC_JOB_NAMES` or longer than
    :data:`MAX_WORKLOAD_KEY_CHARS`. A comment with malformed words (refused at
    submission, so only an administrator's later change) is read as giving no
    profile name.
    """
    try:
        named = parse_job_words(comment).profile
    except BadJobWord:
        named = None
    if named is not None:
        return named
    if not job_name or job_name in GENERIC_JOB_NAMES or len(job_name) > MAX_WORKLOAD_KEY_CHARS:
        return None
    return job_name
