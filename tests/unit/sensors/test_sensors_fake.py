import pytest

from slurm_carbon.errors import DeviceLost, SensorError, SensorPermission, SensorUnsupported
from slurm_carbon.sensors.base import GpuBusy
from slurm_carbon.sensors.counters import counter_delta
from slurm_carbon.sensors.fake import FakeCpuEnergy, FakeGpu, FakeGpuBackend


def test_advance_integrates_power_into_energy() -> None:
    backend = FakeGpuBackend.with_gpus(2)
    gpu = backend.gpu_by_minor(1)
    gpu.set_power_mw(250_000)
    gpu.advance(2.0)
    assert gpu.energy_mj() == 500_000
    assert backend.gpu_by_minor(0).energy_mj() == 0


def test_set_power_limit_calls_are_recorded_even_when_rejected() -> None:
    gpu = FakeGpu(0)
    gpu.set_power_limit_mw(150_000)
    with pytest.raises(SensorError, match="outside"):
        gpu.set_power_limit_mw(400_000)
    assert gpu.set_power_limit_calls == [150_000, 400_000]
    assert gpu.power_limit_mw() == 150_000


def test_fail_next_raises_once_then_recovers() -> None:
    gpu = FakeGpu(0, power_mw=70_000)
    gpu.fail_next(SensorPermission("no"), times=2)
    with pytest.raises(SensorPermission):
        gpu.power_mw()
    with pytest.raises(SensorPermission):
        gpu.energy_mj()
    assert gpu.power_mw() == 70_000


def test_lost_gpu_raises_and_leaves_the_backend() -> None:
    backend = FakeGpuBackend.with_gpus(3)
    backend.gpu_by_minor(1).lose()
    assert [g.info.minor for g in backend.gpus()] == [0, 2]
    with pytest.raises(DeviceLost, match="minor 1"):
        backend.gpu_by_minor(1).power_mw()


def test_gpu_without_counter_is_unsupported() -> None:
    with pytest.raises(SensorUnsupported):
        FakeGpu(0, has_energy_counter=False).energy_mj()


def test_backend_fail_next_and_close() -> None:
    backend = FakeGpuBackend.with_gpus(1)
    backend.fail_next(DeviceLost("bus"))
    with pytest.raises(DeviceLost):
        backend.gpus()
    assert len(backend.gpus()) == 1
    backend.close()
    with pytest.raises(SensorError, match="closed"):
        backend.gpus()


def test_duplicate_minors_rejected() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        FakeGpuBackend([FakeGpu(0), FakeGpu(0)])


def test_cpu_counter_wraps_like_rapl() -> None:
    cpu = FakeCpuEnergy(2, max_energy_uj=1_000)
    assert [d.name for d in cpu.domains()] == [
        "package-0",
        "package-0/dram",
        "package-1",
        "package-1/dram",
    ]
    cpu.set_energy_uj("package-1", 900)
    before = cpu.energy_uj(cpu.domain("package-1"))
    cpu.add_energy_uj("package-1", 250)
    after = cpu.energy_uj(cpu.domain("package-1"))
    assert after == 150
    assert counter_delta(before, after, 1_000) == 250


def test_removed_cpu_domain_is_lost() -> None:
    cpu = FakeCpuEnergy(1, dram=False)
    domain = cpu.domain("package-0")
    cpu.remove_domain("package-0")
    assert cpu.domains() == []
    with pytest.raises(DeviceLost):
        cpu.energy_uj(domain)


def test_busy_is_scripted_and_none_when_the_gpu_cannot_tell() -> None:
    gpu = FakeGpu(0)
    assert gpu.busy() is None  # not scripted: a GPU that does not report it
    gpu.set_busy(GpuBusy(utilization_pct=50, sm_clock_mhz=1000))
    busy = gpu.busy()
    assert busy is not None
    assert busy.busy_clock_mhz == 500.0
    gpu.fail_next(SensorPermission("no"))
    assert gpu.busy() is None  # an error is a reading lost, never raised
    assert gpu.busy() == GpuBusy(50, 1000)
    gpu.lose()
    assert gpu.busy() is None
