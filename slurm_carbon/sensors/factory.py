"""The sensors a node has, picked from the agent's settings.

:func:`gpu_backend` opens the GPU backend named (NVML, simulated GPUs, or
none); :func:`cpu_sensors` takes RAPL counters where the node has them, else
the CPU/DRAM estimate (a TDP given or looked up), else nothing, and logs why.
Backend modules are imported only when picked: a node without GPUs never
loads ``pynvml``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from slurm_carbon.errors import ConfigError, SensorError, SlurmCarbonError
from slurm_carbon.sensors.base import CpuEnergyBackend, GpuBackend
from slurm_carbon.sensors.estimate import EstimatedCpuEnergy, codecarbon_tdp_table
from slurm_carbon.sensors.rapl import DEFAULT_POWERCAP_ROOT, RaplBackend

__all__ = ["GPU_BACKENDS", "CpuSensors", "GpuBackendName", "cpu_sensors", "gpu_backend"]

logger = logging.getLogger(__name__)

GpuBackendName = Literal["nvml", "sim", "none"]
GPU_BACKENDS: tuple[GpuBackendName, ...] = ("nvml", "sim", "none")
"""The GPU backends by name: NVIDIA's NVML, simulated GPUs, or no GPUs."""


def gpu_backend(name: GpuBackendName, sim_dir: Path | None = None) -> GpuBackend | None:
    """The GPU backend ``name``, opened; None for ``none``.

    Args:
        name: One of :data:`GPU_BACKENDS`.
        sim_dir: The simulated GPUs' directory (``sim`` only).

    Raises:
        ConfigError: ``sim`` without ``sim_dir``.
        SensorError: The backend cannot be opened (no NVML, no simulated GPUs).
    """
    if name == "nvml":
        from slurm_carbon.sensors.nvml import NvmlBackend  # noqa: PLC0415 - needs pynvml

        return NvmlBackend()
    if name == "sim":
        if sim_dir is None:
            raise ConfigError("the sim GPU backend needs the simulated GPUs' directory")
        from slurm_carbon.sensors.sim import SimBackend  # noqa: PLC0415 - on demand

        return SimBackend(sim_dir)
    return None


@dataclass(frozen=True)
class CpuSensors:
    """How a node's CPU and DRAM energy is obtained.

    Attributes:
        counters: RAPL energy counters; None where the node has none.
        estimate: The estimate used without counters; None with counters, or
            when no TDP is known (CPU/DRAM energy is then not accounted).
    """

    counters: CpuEnergyBackend | None = None
    estimate: EstimatedCpuEnergy | None = None


def cpu_sensors(
    tdp_w: float | None,
    tdp_table: Path | None,
    *,
    powercap_root: Path = DEFAULT_POWERCAP_ROOT,
) -> CpuSensors:
    """RAPL counters if the node has them, else the estimate, else nothing (each logged).

    Args:
        tdp_w: The CPU's TDP for the estimate (None: look it up). Units: watts.
        tdp_table: A CSV of CPU models and TDPs (None: codecarbon's table).
        powercap_root: Where the RAPL powercap interface is.
    """
    try:
        return CpuSensors(counters=RaplBackend(powercap_root))
    except SensorError as err:
        logger.warning("no RAPL (%s): CPU/DRAM energy will be estimated", err)
    try:
        table = tdp_table if tdp_table is not None else codecarbon_tdp_table()
        return CpuSensors(estimate=EstimatedCpuEnergy(tdp_w, tdp_table=table))
    except SlurmCarbonError as err:
        logger.warning("CPU/DRAM energy not accounted: %s", err)
        return CpuSensors()
