import logging

import pynvml
import pytest

from slurm_carbon.errors import DeviceLost, SensorError, SensorPermission, SensorUnsupported
from slurm_carbon.sensors.base import PowerLimits
from slurm_carbon.sensors.nvml import NvmlBackend
from tests.unit.sensors.conftest import FakeNvmlModule, NvmlDevice


def test_enumeration_decodes_bytes_and_keeps_minor_apart_from_index(
    fake_nvml: FakeNvmlModule,
) -> None:
    gpus = NvmlBackend(fake_nvml).gpus()
    assert [(g.info.minor, g.info.uuid, g.info.model) for g in gpus] == [
        (3, "GPU-aaaaaaaa-0000-0000-0000-000000000003", "Tesla V100-SXM2-32GB"),
        (1, "GPU-bbbbbbbb-0000-0000-0000-000000000001", "A100"),
    ]


def test_calls_reach_the_device_of_that_minor(fake_nvml: FakeNvmlModule) -> None:
    fake_nvml.devices[1].power_mw = 123_456
    fake_nvml.devices[1].energy_mj = 42
    by_minor = {g.info.minor: g for g in NvmlBackend(fake_nvml).gpus()}
    assert by_minor[1].power_mw() == 123_456
    assert by_minor[1].energy_mj() == 42
    assert by_minor[3].power_mw() == 60_000
    by_minor[1].set_power_limit_mw(200_000)
    assert fake_nvml.set_calls == [(1, 200_000)]  # NVML index 1 holds minor 1
    assert by_minor[1].power_limits() == PowerLimits(150_000, 300_000, 300_000)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (pynvml.NVML_ERROR_NOT_SUPPORTED, SensorUnsupported),
        (pynvml.NVML_ERROR_NO_PERMISSION, SensorPermission),
        (pynvml.NVML_ERROR_GPU_IS_LOST, DeviceLost),
        (pynvml.NVML_ERROR_GPU_NOT_FOUND, DeviceLost),
        (pynvml.NVML_ERROR_UNKNOWN, SensorError),
    ],
)
def test_nvml_errors_are_translated_naming_gpu_and_call(
    fake_nvml: FakeNvmlModule, code: int, expected: type[SensorError]
) -> None:
    fake_nvml.devices[0].errors["nvmlDeviceGetTotalEnergyConsumption"] = code
    gpu = NvmlBackend(fake_nvml).gpus()[0]
    with pytest.raises(expected) as caught:
        gpu.energy_mj()
    assert type(caught.value) is expected
    assert "GPU-aaaaaaaa-0000-0000-0000-000000000003" in str(caught.value)
    assert "nvmlDeviceGetTotalEnergyConsumption" in str(caught.value)
    assert isinstance(caught.value.__cause__, pynvml.NVMLError)


def test_setting_a_limit_without_root_is_a_permission_error(fake_nvml: FakeNvmlModule) -> None:
    fake_nvml.devices[0].errors["nvmlDeviceSetPowerManagementLimit"] = (
        pynvml.NVML_ERROR_NO_PERMISSION
    )
    with pytest.raises(SensorPermission, match="run as root"):
        NvmlBackend(fake_nvml).gpus()[0].set_power_limit_mw(200_000)


def test_error_during_enumeration_names_the_index_and_shuts_down() -> None:
    device = NvmlDevice(uuid="GPU-x", minor=0, errors={"nvmlDeviceGetUUID": 15})
    nvml = FakeNvmlModule([device])
    with pytest.raises(DeviceLost, match="GPU index 0: nvmlDeviceGetUUID"):
        NvmlBackend(nvml)
    assert not nvml.initialised


@pytest.mark.parametrize(
    "code", [pynvml.NVML_ERROR_LIBRARY_NOT_FOUND, pynvml.NVML_ERROR_DRIVER_NOT_LOADED]
)
def test_no_driver_at_init_is_unsupported_with_a_hint(code: int) -> None:
    with pytest.raises(SensorUnsupported, match=r"nvmlInit failed.*no usable NVIDIA driver"):
        NvmlBackend(FakeNvmlModule([], init_error=code))


def test_real_pynvml_on_a_machine_without_driver() -> None:
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        pass
    else:
        pynvml.nvmlShutdown()
        pytest.skip("this machine has an NVIDIA driver")
    with pytest.raises(SensorUnsupported, match="no usable NVIDIA driver"):
        NvmlBackend()


def test_close_shuts_down_once_and_later_calls_fail(
    fake_nvml: FakeNvmlModule, caplog: pytest.LogCaptureFixture
) -> None:
    backend = NvmlBackend(fake_nvml)
    gpu = backend.gpus()[0]
    backend.close()
    backend.close()
    assert not fake_nvml.initialised
    with pytest.raises(SensorError, match="closed"):
        backend.gpus()
    with pytest.raises(SensorError, match="after the NVML backend was closed"):
        gpu.power_mw()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_nvml_shut_down_under_us_is_device_lost(fake_nvml: FakeNvmlModule) -> None:
    gpu = NvmlBackend(fake_nvml).gpus()[0]
    fake_nvml.initialised = False  # e.g. the driver was unloaded
    with pytest.raises(DeviceLost, match="Uninitialized"):
        gpu.power_mw()


def test_busy_reads_utilization_and_sm_clock(fake_nvml: FakeNvmlModule) -> None:
    fake_nvml.devices[1].utilization_pct = 80
    fake_nvml.devices[1].sm_clock_mhz = 1200
    by_minor = {g.info.minor: g for g in NvmlBackend(fake_nvml).gpus()}
    busy = by_minor[1].busy()
    assert busy is not None
    assert (busy.utilization_pct, busy.sm_clock_mhz) == (80, 1200)
    assert busy.busy_clock_mhz == pytest.approx(960.0)  # 80 % of 1200 MHz
    other = by_minor[3].busy()
    assert other is not None
    assert other.busy_clock_mhz == pytest.approx(0.97 * 1380)


@pytest.mark.parametrize("call", ["nvmlDeviceGetUtilizationRates", "nvmlDeviceGetClockInfo"])
@pytest.mark.parametrize(
    "code",
    [
        pynvml.NVML_ERROR_NOT_SUPPORTED,
        pynvml.NVML_ERROR_NO_PERMISSION,
        pynvml.NVML_ERROR_GPU_IS_LOST,
        pynvml.NVML_ERROR_UNKNOWN,
    ],
)
def test_busy_that_nvml_cannot_read_is_none_not_an_error(
    fake_nvml: FakeNvmlModule, call: str, code: int
) -> None:
    fake_nvml.devices[0].errors[call] = code
    gpu = NvmlBackend(fake_nvml).gpus()[0]
    assert gpu.busy() is None
