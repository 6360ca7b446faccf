"""One contract for every GpuBackend and every CpuEnergyBackend.

Each implementation comes with a harness that lets time pass (GPU) or energy
accrue (CPU) the way the real device would, so the same assertions run over
the fake, the simulator, NVML (over a stand-in pynvml module) and RAPL (over
a fixture tree).
"""

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from slurm_carbon.errors import SensorError
from slurm_carbon.sensors.base import CpuDomain, CpuEnergyBackend, DomainKind, GpuBackend
from slurm_carbon.sensors.counters import counter_delta
from slurm_carbon.sensors.fake import FakeCpuEnergy, FakeGpuBackend
from slurm_carbon.sensors.nvml import NvmlBackend
from slurm_carbon.sensors.rapl import RaplBackend
from slurm_carbon.sensors.sim import SimBackend, init_devices
from tests.builders import FakeClock
from tests.unit.sensors.conftest import FIXTURES, FakeNvmlModule, two_nvml_devices


@dataclass
class GpuHarness:
    backend: GpuBackend
    advance: Callable[[float], None]  # let this many seconds pass


@dataclass
class CpuHarness:
    backend: CpuEnergyBackend
    set_uj: Callable[[CpuDomain, int], None]  # what the hardware counter now reads


@pytest.fixture(params=["fake", "sim", "nvml"])
def gpu(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GpuHarness]:
    if request.param == "fake":
        fake = FakeGpuBackend.with_gpus(2)
        harness = GpuHarness(fake, fake.advance)
    elif request.param == "sim":
        clock = FakeClock(1_700_000_000.0)
        init_devices(tmp_path, 2, clock=clock)
        harness = GpuHarness(SimBackend(tmp_path, clock), clock.advance)
    else:
        nvml = FakeNvmlModule(two_nvml_devices())
        harness = GpuHarness(NvmlBackend(nvml), nvml.advance)
    yield harness
    harness.backend.close()


def _rapl(tmp_path: Path) -> CpuHarness:
    root = tmp_path / "powercap"
    shutil.copytree(FIXTURES / "powercap" / "two_sockets_dram", root)
    zones = {
        "package-0": "intel-rapl:0",
        "package-0/dram": "intel-rapl:0:0",
        "package-1": "intel-rapl:1",
        "package-1/dram": "intel-rapl:1:0",
    }

    def set_uj(domain: CpuDomain, value: int) -> None:
        (root / zones[domain.name] / "energy_uj").write_text(f"{value}\n")

    return CpuHarness(RaplBackend(root), set_uj)


@pytest.fixture(params=["fake", "rapl"])
def cpu(request: pytest.FixtureRequest, tmp_path: Path) -> CpuHarness:
    if request.param == "fake":
        fake = FakeCpuEnergy(2)
        return CpuHarness(fake, lambda domain, value: fake.set_energy_uj(domain.name, value))
    return _rapl(tmp_path)


# -- GPU -------------------------------------------------------------------------


def test_gpu_info_identifies_each_device(gpu: GpuHarness) -> None:
    gpus = gpu.backend.gpus()
    assert len(gpus) == 2
    uuids = [g.info.uuid for g in gpus]
    minors = [g.info.minor for g in gpus]
    assert all(isinstance(u, str) and u.startswith("GPU-") for u in uuids)
    assert len(set(uuids)) == 2
    assert all(isinstance(m, int) and m >= 0 for m in minors)
    assert len(set(minors)) == 2
    assert all(isinstance(g.info.model, str) and g.info.model for g in gpus)


def test_gpu_energy_grows_with_time_by_power_x_time(gpu: GpuHarness) -> None:
    device = gpu.backend.gpus()[0]
    before = device.energy_mj()
    power_mw = device.power_mw()
    assert isinstance(before, int)
    assert isinstance(power_mw, int)
    assert power_mw > 0
    gpu.advance(10.0)
    after = device.energy_mj()
    assert after > before
    assert counter_delta(before, after, None) == pytest.approx(power_mw * 10.0, abs=1)


def test_gpu_limits_are_consistent(gpu: GpuHarness) -> None:
    for device in gpu.backend.gpus():
        limits = device.power_limits()
        assert 0 < limits.min_mw < limits.max_mw
        assert limits.min_mw <= limits.default_mw <= limits.max_mw
        assert limits.min_mw <= device.power_limit_mw() <= limits.max_mw


def test_gpu_limit_set_is_read_back(gpu: GpuHarness) -> None:
    first, second = gpu.backend.gpus()
    limits = first.power_limits()
    untouched = second.power_limit_mw()
    first.set_power_limit_mw(limits.min_mw)
    assert first.power_limit_mw() == limits.min_mw
    assert second.power_limit_mw() == untouched
    # and the same device, found afresh, agrees
    again = {g.info.uuid: g for g in gpu.backend.gpus()}[first.info.uuid]
    assert again.power_limit_mw() == limits.min_mw
    first.set_power_limit_mw(limits.default_mw)
    assert first.power_limit_mw() == limits.default_mw


@pytest.mark.parametrize("outside", ["above", "below"])
def test_gpu_limit_outside_the_range_is_refused(gpu: GpuHarness, outside: str) -> None:
    device = gpu.backend.gpus()[0]
    limits = device.power_limits()
    before = device.power_limit_mw()
    bad = limits.max_mw + 1 if outside == "above" else limits.min_mw - 1
    with pytest.raises(SensorError):
        device.set_power_limit_mw(bad)
    assert device.power_limit_mw() == before


def test_gpu_busy_is_a_percentage_and_a_clock(gpu: GpuHarness) -> None:
    for device in gpu.backend.gpus():
        busy = device.busy()
        if busy is None:  # the fake's default: a GPU that cannot tell
            continue
        assert 0 <= busy.utilization_pct <= 100
        assert busy.sm_clock_mhz > 0
        assert busy.busy_clock_mhz == pytest.approx(busy.utilization_pct / 100 * busy.sm_clock_mhz)


def test_gpu_backend_closed_refuses_calls(gpu: GpuHarness) -> None:
    gpu.backend.close()
    with pytest.raises(SensorError):
        gpu.backend.gpus()


# -- CPU -------------------------------------------------------------------------


def test_cpu_domains_are_packages_with_their_dram(cpu: CpuHarness) -> None:
    domains = cpu.backend.domains()
    assert [(d.name, d.kind, d.socket) for d in domains] == [
        ("package-0", DomainKind.CPU, 0),
        ("package-0/dram", DomainKind.DRAM, 0),
        ("package-1", DomainKind.CPU, 1),
        ("package-1/dram", DomainKind.DRAM, 1),
    ]
    assert all(d.max_energy_uj > 0 for d in domains)


def test_cpu_counter_delta_follows_the_hardware(cpu: CpuHarness) -> None:
    domain = cpu.backend.domains()[2]
    cpu.set_uj(domain, 5_000_000)
    before = cpu.backend.energy_uj(domain)
    cpu.set_uj(domain, 5_750_000)
    assert counter_delta(before, cpu.backend.energy_uj(domain), domain.max_energy_uj) == 750_000


def test_cpu_counter_wraparound_is_recovered(cpu: CpuHarness) -> None:
    domain = cpu.backend.domains()[1]
    cpu.set_uj(domain, domain.max_energy_uj - 400)
    before = cpu.backend.energy_uj(domain)
    cpu.set_uj(domain, 600)
    after = cpu.backend.energy_uj(domain)
    assert 0 <= after <= domain.max_energy_uj
    assert counter_delta(before, after, domain.max_energy_uj) == 1_000


def test_cpu_unknown_domain_is_a_sensor_error(cpu: CpuHarness) -> None:
    with pytest.raises(SensorError):
        cpu.backend.energy_uj(CpuDomain("package-7", DomainKind.CPU, 7, 1))
