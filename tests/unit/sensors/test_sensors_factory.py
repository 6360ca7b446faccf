"""The sensor factory: the GPU backend by name; RAPL, else the CPU estimate, else nothing."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from slurm_carbon.errors import ConfigError, SensorUnsupported
from slurm_carbon.sensors.estimate import EstimatedCpuEnergy, cpu_model
from slurm_carbon.sensors.factory import GPU_BACKENDS, cpu_sensors, gpu_backend
from slurm_carbon.sensors.rapl import RaplBackend
from slurm_carbon.sensors.sim import SimBackend, init_devices, sim_uuid
from tests.unit.sensors.conftest import FIXTURES


def test_the_sim_backend_opens_the_simulated_gpus(tmp_path: Path) -> None:
    init_devices(tmp_path, 3)

    backend = gpu_backend("sim", tmp_path)

    assert isinstance(backend, SimBackend)
    assert [gpu.info.uuid for gpu in backend.gpus()] == [sim_uuid(m) for m in range(3)]


def test_no_gpus_is_no_backend() -> None:
    assert GPU_BACKENDS == ("nvml", "sim", "none")
    assert gpu_backend("none") is None


def test_the_sim_backend_needs_its_directory_and_gpus_in_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="directory"):
        gpu_backend("sim")
    with pytest.raises(SensorUnsupported, match="no simulated GPUs under"):
        gpu_backend("sim", tmp_path)


def test_rapl_counters_where_the_node_has_them() -> None:
    found = cpu_sensors(100.0, None, powercap_root=FIXTURES / "powercap" / "two_sockets_dram")

    assert isinstance(found.counters, RaplBackend)
    assert found.estimate is None


def test_without_rapl_the_estimate_with_the_tdp_given(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    table = tmp_path / "tdp.csv"
    table.write_text("Name,TDP\nNo Such CPU,1\n")

    with caplog.at_level(logging.WARNING):
        found = cpu_sensors(128.0, table, powercap_root=tmp_path / "none")

    assert found.counters is None
    assert isinstance(found.estimate, EstimatedCpuEnergy)
    assert found.estimate.cpu_energy_j(10.0) == pytest.approx(1280.0 / _cores())
    assert "no RAPL (no RAPL powercap interface at" in caplog.text


def test_without_rapl_or_a_tdp_nothing_is_accounted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    table = tmp_path / "tdp.csv"
    table.write_text("Name,TDP\nNo Such CPU,1\n")

    with caplog.at_level(logging.WARNING):
        found = cpu_sensors(None, table, powercap_root=tmp_path / "none")

    assert found.counters is None
    assert found.estimate is None
    assert "CPU/DRAM energy not accounted: CPU energy estimate needs the CPU's TDP" in caplog.text


def _cores() -> int:
    return cpu_model(Path("/proc/cpuinfo"))[1]  # the estimate reads this host's CPU
