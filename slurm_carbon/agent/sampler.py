"""Sampling every device and turning readings into per-job interval energy.

GPU: the delta of ``energy_mj`` between two readings (method ``counter``);
where the GPU has no counter or it went backwards (reset), power integrated
over the sample period (method ``integrated``). The GPU's power limit read at
each sample is taken to hold since the previous one, and each interval
reports its time-weighted mean (``cap_w``); likewise its busy clock
(utilization x SM clock, :class:`~slurm_carbon.sensors.base.GpuBusy`, the
profiler's throughput estimate for a job without progress: ``busy_clock_mhz``),
and each GPU its limit range (read once per GPU). CPU/DRAM: each RAPL domain's
delta (wraparound handled) split among the node's jobs by CPU-time share, or,
without RAPL, an estimate per job (method ``estimated``).

The energy between a device's last reading and now is spread over that span,
but never before ``floor_s`` (the time up to which intervals are already
closed): after a restart or a GPU that could not be read for a while, the
energy of the gap lands in the jobs' open intervals, none lost, none twice.
Unless a job started or stopped inside a gap longer than an interval: how much
of the gap's energy was the job's is then unknown (a busy GPU draws many times
its idle power, so a split by time is no measure), and it goes to no job, which
shows as the job's missing coverage rather than as a lower figure.
Units: joules, seconds; counters in their own units.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from slurm_carbon.agent.cpu import CpuEnergyEstimate, JobCpuTime
from slurm_carbon.agent.intervals import Holder, attribute
from slurm_carbon.agent.metrics import AgentMetrics, Sensor
from slurm_carbon.agent.registry import Job
from slurm_carbon.agent.spool import DeviceRef, Reading, Spool
from slurm_carbon.errors import SensorError, SensorUnsupported
from slurm_carbon.sensors.base import CpuDomain, CpuEnergyBackend, DomainKind, Gpu, PowerLimits
from slurm_carbon.sensors.counters import counter_delta
from slurm_carbon.text import escape_control

__all__ = ["Sampler", "cpu_device_id"]

logger = logging.getLogger(__name__)


def cpu_device_id(domain: CpuDomain) -> str:
    """The wire name of a RAPL domain: ``cpu-package-0``, ``dram-package-0``."""
    return f"{domain.kind.value}-{domain.name.split('/')[0]}"


def _limit_mw(gpu: Gpu) -> int | None:
    """The GPU's power limit now, or None when it cannot be read (energy is still counted)."""
    try:
        return gpu.power_limit_mw()
    except SensorError:
        return None


@dataclass
class Sampler:
    """Reads devices and adds their energy to the spool's open intervals.

    Args:
        spool: Where energy and readings go (the caller holds the transaction).
        interval_s: Interval length. Units: seconds.
        cpu_backend: RAPL counters, or ``None``.
        cpu_estimate: Used when ``cpu_backend`` is ``None``.
        cpu_time: Jobs' CPU time, to split RAPL energy; ``None`` splits by time.
        metrics: Where failed reads are counted (each one, though logged once).
    """

    spool: Spool
    interval_s: float
    cpu_backend: CpuEnergyBackend | None = None
    cpu_estimate: CpuEnergyEstimate | None = None
    cpu_time: JobCpuTime | None = None
    metrics: AgentMetrics = field(default_factory=AgentMetrics)
    _readings: dict[str, Reading] = field(default_factory=dict)
    _failing: set[str] = field(default_factory=set)
    _cpu_seen: dict[int, float] = field(default_factory=dict)
    _limits: dict[str, PowerLimits] = field(default_factory=dict)

    def load(self) -> None:
        """Resume from the readings persisted by the last run."""
        self._readings = self.spool.readings()

    # -- bookkeeping -----------------------------------------------------------

    def _failed(self, sensor: Sensor, device: str, err: SensorError) -> None:
        self.metrics.sensor_error(sensor, err)
        if device not in self._failing:
            self._failing.add(device)
            logger.warning(
                "cannot read %s (its energy loses precision until it can): %s", device, err
            )

    def _ok(self, device: str) -> None:
        if device in self._failing:
            self._failing.discard(device)
            logger.info("%s can be read again", device)

    def _record(self, device: str, reading: Reading) -> Reading | None:
        previous = self._readings.get(device)
        self._readings[device] = reading
        self.spool.set_reading(device, reading)
        return previous

    def _add(  # noqa: PLR0913 - one span of one device
        self,
        *,
        device: DeviceRef,
        t0_s: float,
        t1_s: float,
        energy_j: float,
        holders: Sequence[Holder],
        method: str,
        cap_mw: int | None = None,
        busy_mhz: float | None = None,
    ) -> None:
        if t1_s - t0_s > self.interval_s and any(
            t0_s < edge < t1_s
            for h in holders
            for edge in (h.start_s, h.stop_s)
            if edge is not None
        ):
            logger.warning(
                "%s: %.0f s unread with a job's start or stop inside; its %.0f J are left to"
                " no job (missing coverage, not a guess)",
                escape_control(device.uuid),
                t1_s - t0_s,
                energy_j,
            )
            return
        for share in attribute(t0_s, t1_s, energy_j, holders, self.interval_s):
            self.spool.add_energy(
                job_id=share.job_id,
                device=device,
                slot_start_s=share.slot_start_s,
                energy_j=share.energy_j,
                method=method,
                sharing="shared" if share.shared else "exclusive",
                cap_mw=cap_mw,
                busy_mhz=busy_mhz,
                seconds=share.seconds,
            )

    # -- GPUs ------------------------------------------------------------------

    def sample_gpus(
        self, now_s: float, floor_s: float, gpus: Sequence[Gpu], holders: Mapping[str, list[Job]]
    ) -> None:
        """Read every GPU; give each job its share of its GPUs' energy."""
        for gpu in gpus:
            info = gpu.info
            try:
                self._sample_gpu(now_s, floor_s, gpu, holders.get(info.uuid, []))
            except SensorError as err:
                self._failed("gpu", f"GPU {info.uuid} (minor {info.minor})", err)
            else:
                self._ok(f"GPU {info.uuid} (minor {info.minor})")

    def _sample_gpu(self, now_s: float, floor_s: float, gpu: Gpu, jobs: Sequence[Job]) -> None:
        info = gpu.info
        try:
            energy_mj: int | None = gpu.energy_mj()
        except SensorUnsupported:
            energy_mj = None
        previous = self._readings.get(info.uuid)
        delta_mj = None
        if previous is not None and previous.value is not None and energy_mj is not None:
            delta_mj = counter_delta(previous.value, energy_mj, None)
        power_mw = None
        if delta_mj is None:
            power_mw = gpu.power_mw()
        self._record(info.uuid, Reading(energy_mj, power_mw, now_s))
        if previous is None or now_s <= previous.t_s:
            return
        if delta_mj is not None:
            energy_j, method = delta_mj / 1000, "counter"
        else:
            assert power_mw is not None  # noqa: S101 - read just above
            mean_mw = power_mw if previous.power_mw is None else (power_mw + previous.power_mw) / 2
            energy_j, method = mean_mw * (now_s - previous.t_s) / 1000, "integrated"
        limits = self._gpu_limits(gpu)
        device = DeviceRef(
            info.uuid,
            "gpu",
            info.model,
            info.minor,
            None if limits is None else limits.min_mw / 1000,
            None if limits is None else limits.max_mw / 1000,
        )
        busy = gpu.busy()
        holders = [Holder(j.job_id, j.start_s, j.stop_s) for j in jobs]
        self._add(
            device=device,
            t0_s=max(previous.t_s, floor_s),
            t1_s=now_s,
            energy_j=energy_j,
            holders=holders,
            method=method,
            cap_mw=_limit_mw(gpu),
            busy_mhz=None if busy is None else busy.busy_clock_mhz,
        )

    def _gpu_limits(self, gpu: Gpu) -> PowerLimits | None:
        """The GPU's limit range, read once (it does not change); None while unreadable."""
        uuid = gpu.info.uuid
        if uuid not in self._limits:
            try:
                self._limits[uuid] = gpu.power_limits()
            except SensorError:
                return None
        return self._limits[uuid]

    # -- CPU and DRAM ----------------------------------------------------------

    def sample_cpu(self, now_s: float, floor_s: float, jobs: Sequence[Job]) -> None:
        """Read RAPL (or the estimate) and share it among ``jobs``."""
        if self.cpu_backend is not None:
            self._sample_rapl(now_s, floor_s, jobs, self.cpu_backend)
        elif self.cpu_estimate is not None:
            self._sample_estimate(now_s, floor_s, jobs, self.cpu_estimate)

    def _cpu_weights(self, jobs: Sequence[Job]) -> dict[int, float]:
        """Each job's CPU seconds since the last tick; all 1.0 when any is unknown."""
        if self.cpu_time is None:
            return {job.job_id: 1.0 for job in jobs}
        now_seen = {job.job_id: self.cpu_time.cpu_time_s(job.job_id) for job in jobs}
        weights: dict[int, float] = {}
        for job_id, seen in now_seen.items():
            before = self._cpu_seen.get(job_id)
            if seen is None or before is None:
                weights = {}
                break
            weights[job_id] = max(seen - before, 0.0)
        self._cpu_seen = {k: v for k, v in now_seen.items() if v is not None}
        if not weights:
            return {job.job_id: 1.0 for job in jobs}
        return weights

    def _sample_rapl(
        self, now_s: float, floor_s: float, jobs: Sequence[Job], backend: CpuEnergyBackend
    ) -> None:
        weights = self._cpu_weights(jobs)
        holders = [Holder(j.job_id, j.start_s, j.stop_s, weights[j.job_id]) for j in jobs]
        try:
            domains = backend.domains()
        except SensorError as err:
            self._failed("rapl", "RAPL", err)
            return
        self._ok("RAPL")
        for domain in domains:
            device_id = cpu_device_id(domain)
            try:
                energy_uj = backend.energy_uj(domain)
            except SensorError as err:
                self._failed("rapl", f"RAPL domain {domain.name}", err)
                continue
            self._ok(f"RAPL domain {domain.name}")
            previous = self._record(device_id, Reading(energy_uj, None, now_s))
            if previous is None or previous.value is None or now_s <= previous.t_s:
                continue
            delta_uj = counter_delta(previous.value, energy_uj, domain.max_energy_uj)
            if delta_uj is None:
                logger.warning("RAPL domain %s: reading %d out of range", domain.name, energy_uj)
                continue
            device = DeviceRef(device_id, domain.kind.value)
            self._add(
                device=device,
                t0_s=max(previous.t_s, floor_s),
                t1_s=now_s,
                energy_j=delta_uj / 1e6,
                holders=holders,
                method="counter",
            )

    def _sample_estimate(
        self, now_s: float, floor_s: float, jobs: Sequence[Job], estimate: CpuEnergyEstimate
    ) -> None:
        for kind in (DomainKind.CPU, DomainKind.DRAM):
            device_id = f"{kind.value}-estimate"
            previous = self._record(device_id, Reading(None, None, now_s))
            if previous is None or now_s <= previous.t_s:
                continue
            t0_s = max(previous.t_s, floor_s)
            running = [
                j for j in jobs if j.start_s < now_s and (j.stop_s is None or j.stop_s > t0_s)
            ]
            device = DeviceRef(device_id, kind.value)
            for job in running:
                start_s = max(t0_s, job.start_s)
                end_s = now_s if job.stop_s is None else min(now_s, job.stop_s)
                if end_s <= start_s:
                    continue
                try:
                    energy_j = estimate.energy_j(job.job_id, kind, start_s, end_s)
                except SensorError as err:
                    self._failed("cpu_estimate", f"{kind.value} estimate", err)
                    continue
                for share in attribute(
                    start_s,
                    end_s,
                    energy_j,
                    [Holder(job.job_id, job.start_s, job.stop_s)],
                    self.interval_s,
                ):
                    self.spool.add_energy(
                        job_id=job.job_id,
                        device=device,
                        slot_start_s=share.slot_start_s,
                        energy_j=share.energy_j,
                        method="estimated",
                        sharing="shared" if len(running) > 1 else "exclusive",
                    )
