"""The protocols every sensor backend implements.

Units: energy in millijoules (``_mj``) or microjoules (``_uj``) as the
hardware counts it, power in milliwatts (``_mw``), time in seconds (``_s``).
Counters are cumulative and may wrap or reset; callers take deltas with
:func:`slurm_carbon.sensors.counters.counter_delta`.

Every method may raise a :class:`~slurm_carbon.errors.SensorError` subclass:
:class:`~slurm_carbon.errors.SensorUnsupported`,
:class:`~slurm_carbon.errors.SensorPermission` or
:class:`~slurm_carbon.errors.DeviceLost`; nothing else escapes a backend.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "CpuDomain",
    "CpuEnergyBackend",
    "DomainKind",
    "Gpu",
    "GpuBackend",
    "GpuBusy",
    "GpuInfo",
    "PowerLimits",
]


@dataclass(frozen=True)
class GpuInfo:
    """What identifies a GPU.

    Attributes:
        uuid: NVML's UUID (``GPU-...``): the identity stored everywhere.
        minor: The minor number of ``/dev/nvidia<minor>``; Slurm's
            ``SLURM_JOB_GPUS`` and the Prolog's ``CUDA_VISIBLE_DEVICES`` name
            GPUs by it, never by the NVML enumeration index.
        model: The product name, e.g. ``"Tesla V100-SXM2-32GB"``.
    """

    uuid: str
    minor: int
    model: str


@dataclass(frozen=True)
class PowerLimits:
    """A GPU's power-limit range. Units: milliwatts."""

    min_mw: int
    max_mw: int
    default_mw: int

    def clamp(self, limit_mw: int) -> int:
        """Return ``limit_mw`` moved into ``[min_mw, max_mw]``."""
        return max(self.min_mw, min(self.max_mw, limit_mw))


@dataclass(frozen=True)
class GpuBusy:
    """How busy a GPU is: what the online profiler measures a job's work by without progress.

    Utilization alone does not fall under a power cap: at a lower limit the
    kernels run longer at lower clocks, and the GPU stays 100 % busy. The
    throughput proxy is therefore the **busy clock**, utilization x SM clock:
    the SM cycles the GPU ran kernels for per second, an estimate of the work
    it does (exact for a compute-bound job; a memory-bound one slows less than
    its clock, so its slowdown is over-estimated).

    Attributes:
        utilization_pct: Percent of the sample period in which a kernel ran
            (NVML's ``nvmlDeviceGetUtilizationRates(handle).gpu``), 0..100.
        sm_clock_mhz: The SM clock now (``nvmlDeviceGetClockInfo(handle,
            NVML_CLOCK_SM)``). Units: MHz.
    """

    utilization_pct: float
    sm_clock_mhz: float

    @property
    def busy_clock_mhz(self) -> float:
        """Utilization x SM clock: the SM cycles spent running kernels per second. Units: MHz."""
        return self.utilization_pct / 100 * self.sm_clock_mhz


class Gpu(Protocol):
    """One GPU."""

    @property
    def info(self) -> GpuInfo:
        """UUID, minor number and model."""
        ...

    def energy_mj(self) -> int:
        """Total energy since the driver loaded. Units: millijoules.

        Raises:
            SensorUnsupported: The GPU has no energy counter (before Volta);
                integrate :meth:`power_mw` instead.
        """
        ...

    def power_mw(self) -> int:
        """Current power draw. Units: milliwatts."""
        ...

    def power_limit_mw(self) -> int:
        """The power limit in force. Units: milliwatts."""
        ...

    def power_limits(self) -> PowerLimits:
        """The range a limit may be set in, and the default."""
        ...

    def set_power_limit_mw(self, limit_mw: int) -> None:
        """Set the power limit; ``limit_mw`` must lie within :meth:`power_limits`."""
        ...

    def busy(self) -> GpuBusy | None:
        """Utilization and SM clock now; None when the GPU cannot tell (never raises)."""
        ...


class GpuBackend(Protocol):
    """The GPUs of this node."""

    def gpus(self) -> Sequence[Gpu]:
        """Every GPU, in any order (match them by ``info.minor`` or ``info.uuid``)."""
        ...

    def close(self) -> None:
        """Release the backend (NVML shutdown); further calls are an error."""
        ...


class DomainKind(enum.StrEnum):
    """What a CPU-side energy domain measures."""

    CPU = "cpu"
    DRAM = "dram"


@dataclass(frozen=True)
class CpuDomain:
    """One energy domain of one socket.

    Attributes:
        name: Stable name, e.g. ``"package-0"``, ``"package-0/dram"``.
        kind: CPU package or DRAM.
        socket: The socket (package) index.
        max_energy_uj: Where the counter wraps to zero. Units: microjoules.
    """

    name: str
    kind: DomainKind
    socket: int
    max_energy_uj: int


class CpuEnergyBackend(Protocol):
    """Node-level CPU package and DRAM energy counters (RAPL)."""

    def domains(self) -> Sequence[CpuDomain]:
        """Every package and DRAM domain of every socket."""
        ...

    def energy_uj(self, domain: CpuDomain) -> int:
        """The domain's cumulative counter. Units: microjoules."""
        ...
