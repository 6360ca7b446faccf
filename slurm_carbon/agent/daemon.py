"""The agent's loop: one :meth:`Agent.tick` per sample period.

A tick: read the hand-off files and the jobs' progress files, list the GPUs,
apply cap requests and follow the caps the service decided (pulled by the
shipper), then in one SQLite transaction spool the new progress
points, add every device's energy since its last reading to the
jobs' open intervals, persist the readings, close the intervals that ended
(aligned to ``interval_s`` in UTC, clipped to the job's start and stop) into
the outbox, and record the jobs fully accounted; then delete those jobs'
hand-off files and restore the caps that must be. A crash at any point leaves
``agent.db`` consistent with the last committed tick, so a restarted agent
neither loses nor double-counts energy.
"""

from __future__ import annotations

import logging
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from slurm_carbon.agent.caps import CapKeeper
from slurm_carbon.agent.capsock import CapChannel
from slurm_carbon.agent.cpu import CpuEnergyEstimate, JobCpuTime
from slurm_carbon.agent.metrics import AgentMetrics
from slurm_carbon.agent.progress_files import ProgressReader
from slurm_carbon.agent.registry import Job, JobRegistry
from slurm_carbon.agent.sampler import Sampler
from slurm_carbon.agent.shipper import Shipper
from slurm_carbon.agent.spool import Spool
from slurm_carbon.agent.trust import check_spool
from slurm_carbon.errors import SensorError
from slurm_carbon.jobprogress import DEFAULT_PROGRESS_DIR
from slurm_carbon.sensors.base import CpuEnergyBackend, Gpu, GpuBackend

__all__ = ["Agent", "AgentConfig"]

logger = logging.getLogger(__name__)

_CLOSED_UNTIL = "closed_until"
_FINISHED_KEEP_S = 7 * 86400


@dataclass(frozen=True)
class AgentConfig:
    """Where the agent works and how often.

    Attributes:
        node: This node's short host name (part of every interval's key).
        spool_dir: ``$SPOOL``: ``jobs/`` from the shims.
        state_dir: ``$STATE``: ``agent.db``.
        sample_s: Seconds between samples.
        interval_s: Interval length; intervals are ``[k*interval_s, (k+1)*interval_s)`` UTC.
        sweep_s: Seconds between sweeps restoring caps of GPUs no job holds.
        cap_socket: Where ``agent set-cap`` reaches the agent, or ``None``.
        shared_gpus: Slurm shares GPUs between jobs here (gres/shard, gres/mps):
            split a GPU's energy among its jobs instead of giving it to the latest.
        progress_dir: Where the Prolog creates the jobs' progress files.
    """

    node: str
    spool_dir: Path
    state_dir: Path
    sample_s: float = 1.0
    interval_s: float = 60.0
    sweep_s: float = 30.0
    cap_socket: Path | None = None
    shared_gpus: bool = False
    progress_dir: Path = Path(DEFAULT_PROGRESS_DIR)

    @property
    def db_path(self) -> Path:
        """``$STATE/agent.db``."""
        return self.state_dir / "agent.db"


class Agent:
    """The node daemon.

    Args:
        config: Paths and periods.
        gpu_backend: The node's GPUs, or ``None`` for a CPU-only node.
        cpu_backend: RAPL, or ``None``.
        cpu_estimate: Used for CPU/DRAM when ``cpu_backend`` is ``None``.
        cpu_time: Jobs' CPU time, to split RAPL energy (``None``: split by time).
        shipper: Run on its own thread by :meth:`run_forever`; ``None`` ships nothing.
        clock: Wall clock (seconds since the epoch).
        monotonic: For sleeping between ticks.

    Attributes:
        metrics: What it leaves for its ``/metrics`` (see :mod:`slurm_carbon.agent.metrics`).
    """

    def __init__(  # noqa: PLR0913 - everything that touches the world is injected
        self,
        config: AgentConfig,
        *,
        gpu_backend: GpuBackend | None = None,
        cpu_backend: CpuEnergyBackend | None = None,
        cpu_estimate: CpuEnergyEstimate | None = None,
        cpu_time: JobCpuTime | None = None,
        shipper: Shipper | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.gpu_backend = gpu_backend
        self.shipper = shipper
        self.clock = clock
        self.monotonic = monotonic
        self.metrics = AgentMetrics()
        self.spool = Spool(config.db_path)
        self.registry = JobRegistry(config.spool_dir / "jobs", shared_gpus=config.shared_gpus)
        self.sampler = Sampler(
            self.spool,
            config.interval_s,
            cpu_backend=cpu_backend,
            cpu_estimate=cpu_estimate,
            cpu_time=cpu_time,
            metrics=self.metrics,
        )
        self.caps = CapKeeper(self.spool)
        self.progress = ProgressReader(config.progress_dir)
        self.cap_requests = CapChannel(config.cap_socket)
        self._started = False
        self._last_sweep_s = float("-inf")
        self._gpus_failing = False
        self._spool_failing = False

    # -- one tick --------------------------------------------------------------

    def _gpus(self) -> Sequence[Gpu]:
        if self.gpu_backend is None:
            return []
        try:
            gpus = self.gpu_backend.gpus()
        except SensorError as err:
            self.metrics.sensor_error("gpu", err)
            if not self._gpus_failing:
                logger.warning("cannot list GPUs (GPU energy loses precision): %s", err)
            self._gpus_failing = True
            return []
        if self._gpus_failing:
            logger.info("GPUs can be listed again")
        self._gpus_failing = False
        return gpus

    def start(self) -> None:
        """Check the spool, resume from ``agent.db``, restore every saved cap.

        Done by the first tick if not called before.

        Raises:
            ConfigError: The spool is not root's alone (see :func:`check_spool`),
                or the set-cap socket cannot be created.
        """
        if self._started:
            return
        check_spool(self.config.spool_dir)
        self.cap_requests.open()
        self._started = True
        self.sampler.load()
        failed = self.caps.restore_all(self._gpus())
        if failed:
            logger.error("%d saved power limits could not be restored yet", failed)

    def tick(self, now_s: float | None = None) -> None:
        """Sample, integrate, persist, close intervals, restore caps. Units: seconds."""
        self.start()
        now = self.clock() if now_s is None else now_s
        jobs = self.registry.scan(self.spool.finished_jobs())
        self.metrics.jobs = len(jobs)
        progress = self.progress.read(jobs, now)
        gpus = self._gpus()
        holders = self.registry.gpu_holders(jobs.values(), [gpu.info for gpu in gpus])
        for pending in self.cap_requests.take():
            applied, message = self.caps.apply(
                now, pending.request, pending.uid, jobs=jobs, holders=holders, gpus=gpus
            )
            pending.reply(applied=applied, message=message)
        if self.shipper is not None:
            leases = self.shipper.caps.leases()
            self.caps.follow(now, leases, jobs=jobs, holders=holders, gpus=gpus)
        floor = self.spool.meta(_CLOSED_UNTIL)
        floor = float("-inf") if floor is None else floor
        try:
            with self.spool.transaction():
                for point in progress:
                    self.spool.add_progress(point.job_id, point.time_s, point.fraction)
                self.sampler.sample_gpus(now, floor, gpus, holders)
                self.sampler.sample_cpu(now, floor, list(jobs.values()))
                finished = self._close(now, jobs)
                self.spool.set_meta(_CLOSED_UNTIL, max(now, floor))
                self.spool.forget_finished_before(now - _FINISHED_KEEP_S)
        except sqlite3.Error as err:
            self._spool_failed(err)
            finished = []
        else:
            if self._spool_failing:
                logger.info("agent.db can be written again")
            self._spool_failing = False
        for job_id in finished:
            self.registry.forget(job_id)
            self.progress.remove(job_id)
        sweep = now - self._last_sweep_s >= self.config.sweep_s
        if sweep:
            self._last_sweep_s = now
        self.caps.reconcile(now, holders, gpus, sweep=sweep)

    def _spool_failed(self, err: sqlite3.Error) -> None:
        """Read on from the readings agent.db kept; log once that it cannot be written.

        Nothing of the failed tick was kept (a full disk, say), so the next tick that
        can write counts the whole span since those readings.
        """
        self.sampler.load()
        if not self._spool_failing:
            logger.warning(
                "agent.db cannot be written (%s): energy is counted from the devices' "
                "counters once it can be",
                err,
            )
        self._spool_failing = True

    def _close(self, now_s: float, jobs: Mapping[int, Job]) -> list[int]:
        """Move ended intervals to the outbox; return the jobs now fully accounted."""
        interval_s = self.config.interval_s
        node = self.config.node
        for interval in self.spool.open_intervals():
            job = jobs.get(interval.job_id)
            slot_end = interval.slot_start_s + interval_s
            if job is None:  # hand-off files removed by hand: close what we have
                end = min(slot_end, now_s)
                self.spool.close_interval(node, interval, interval.slot_start_s, end)
                continue
            start = max(interval.slot_start_s, job.start_s)
            if job.stop_s is not None and job.stop_s <= now_s:
                end = min(slot_end, job.stop_s)
                # Energy counted after the stop (before its file appeared) is not the job's.
                self.spool.close_interval(node, interval, start, end if end > start else None)
            elif slot_end <= now_s:
                self.spool.close_interval(node, interval, start, slot_end)
        finished = [j.job_id for j in jobs.values() if j.stop_s is not None and j.stop_s <= now_s]
        for job_id in finished:
            stop_s = jobs[job_id].stop_s
            assert stop_s is not None  # noqa: S101 - filtered above
            self.spool.mark_finished(job_id, stop_s, now_s)
            logger.info("job %d accounted", job_id)
        return finished

    # -- lifetime --------------------------------------------------------------

    def shutdown(self, now_s: float | None = None) -> None:
        """Account jobs that stopped, persist, restore every cap, close."""
        try:
            self.tick(now_s)
        except Exception:
            logger.exception("last tick failed")
        self.cap_requests.close()
        failed = self.caps.restore_all(self._gpus())
        if failed:
            logger.error("%d power limits could not be restored at shutdown", failed)
        self.spool.close()
        if self.gpu_backend is not None:
            self.gpu_backend.close()

    def run_forever(self, stop: threading.Event | None = None) -> None:
        """Tick every ``sample_s`` until SIGTERM/SIGINT (or ``stop``), then shut down."""
        stop = stop or threading.Event()
        if threading.current_thread() is threading.main_thread():

            def on_signal(signum: int, _frame: FrameType | None) -> None:
                logger.info("signal %d: shutting down", signum)
                stop.set()

            signal.signal(signal.SIGTERM, on_signal)
            signal.signal(signal.SIGINT, on_signal)
        shipper_thread = None
        if self.shipper is not None:
            shipper_thread = threading.Thread(
                target=self.shipper.run, args=(stop,), name="shipper", daemon=True
            )
            shipper_thread.start()
        logger.info("agent started on %s (sample %.3g s)", self.config.node, self.config.sample_s)
        due = self.monotonic()
        while not stop.is_set():
            began = self.monotonic()
            self.metrics.sampling_lag_s = max(0.0, began - due)
            try:
                self.tick()
            except Exception:
                logger.exception("tick failed (continuing)")
            due = began + self.config.sample_s
            stop.wait(max(0.0, due - self.monotonic()))
        self.shutdown()
        if shipper_thread is not None:
            shipper_thread.join(timeout=10)
        logger.info("agent stopped")
