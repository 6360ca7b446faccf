# ruff: noqa: N802 - the stand-in keeps pynvml's function names
"""A stand-in for the ``pynvml`` module: NVML's functions over in-memory devices.

It raises pynvml's own ``NVMLError`` subclasses (``pynvml.NVMLError(code)``
picks the subclass), so the backend's translation meets the real classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pynvml
import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
FIXTURES = REPO_ROOT / "tests" / "fixtures"


@dataclass
class NvmlDevice:
    uuid: str | bytes
    minor: int
    name: str | bytes = "Tesla V100-SXM2-32GB"
    energy_mj: int = 1_000_000
    power_mw: int = 60_000
    limit_mw: int = 300_000
    min_mw: int = 150_000
    max_mw: int = 300_000
    default_mw: int = 300_000
    utilization_pct: int = 97
    sm_clock_mhz: int = 1380
    # NVML function name -> error code raised by every call of it on this device
    errors: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Handle:
    index: int


@dataclass(frozen=True)
class _Utilization:
    """pynvml's ``c_nvmlUtilization_t``: percent of time a kernel ran, and the memory's."""

    gpu: int
    memory: int


class FakeNvmlModule:
    """The subset of pynvml the backend uses."""

    NVMLError = pynvml.NVMLError
    NVML_CLOCK_SM = pynvml.NVML_CLOCK_SM

    def __init__(self, devices: list[NvmlDevice], init_error: int | None = None) -> None:
        for name in dir(pynvml):
            if name.startswith("NVML_ERROR_"):
                setattr(self, name, getattr(pynvml, name))
        self.devices = devices
        self.init_error = init_error
        self.initialised = False
        self.set_calls: list[tuple[int, int]] = []

    def _device(self, handle: _Handle, function: str) -> NvmlDevice:
        if not self.initialised:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_UNINITIALIZED)
        device = self.devices[handle.index]
        if function in device.errors:
            raise pynvml.NVMLError(device.errors[function])
        return device

    def nvmlInit(self) -> None:
        if self.init_error is not None:
            raise pynvml.NVMLError(self.init_error)
        self.initialised = True

    def nvmlShutdown(self) -> None:
        self.initialised = False

    def nvmlDeviceGetCount(self) -> int:
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> _Handle:
        return _Handle(index)

    def nvmlDeviceGetUUID(self, handle: _Handle) -> str | bytes:
        return self._device(handle, "nvmlDeviceGetUUID").uuid

    def nvmlDeviceGetMinorNumber(self, handle: _Handle) -> int:
        return self._device(handle, "nvmlDeviceGetMinorNumber").minor

    def nvmlDeviceGetName(self, handle: _Handle) -> str | bytes:
        return self._device(handle, "nvmlDeviceGetName").name

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: _Handle) -> int:
        return self._device(handle, "nvmlDeviceGetTotalEnergyConsumption").energy_mj

    def nvmlDeviceGetPowerUsage(self, handle: _Handle) -> int:
        return self._device(handle, "nvmlDeviceGetPowerUsage").power_mw

    def nvmlDeviceGetPowerManagementLimit(self, handle: _Handle) -> int:
        return self._device(handle, "nvmlDeviceGetPowerManagementLimit").limit_mw

    def nvmlDeviceGetPowerManagementLimitConstraints(self, handle: _Handle) -> list[int]:
        device = self._device(handle, "nvmlDeviceGetPowerManagementLimitConstraints")
        return [device.min_mw, device.max_mw]

    def nvmlDeviceGetPowerManagementDefaultLimit(self, handle: _Handle) -> int:
        return self._device(handle, "nvmlDeviceGetPowerManagementDefaultLimit").default_mw

    def nvmlDeviceSetPowerManagementLimit(self, handle: _Handle, limit_mw: int) -> None:
        device = self._device(handle, "nvmlDeviceSetPowerManagementLimit")
        if not device.min_mw <= limit_mw <= device.max_mw:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        self.set_calls.append((handle.index, limit_mw))
        device.limit_mw = limit_mw

    def nvmlDeviceGetUtilizationRates(self, handle: _Handle) -> _Utilization:
        device = self._device(handle, "nvmlDeviceGetUtilizationRates")
        return _Utilization(gpu=device.utilization_pct, memory=40)

    def nvmlDeviceGetClockInfo(self, handle: _Handle, clock_type: int) -> int:
        device = self._device(handle, "nvmlDeviceGetClockInfo")
        if clock_type != pynvml.NVML_CLOCK_SM:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return device.sm_clock_mhz

    def advance(self, seconds: float) -> None:
        for device in self.devices:
            device.energy_mj += round(device.power_mw * seconds)


def two_nvml_devices() -> list[NvmlDevice]:
    """Index order differs from minor order, as on many multi-GPU nodes."""
    return [
        NvmlDevice(uuid=b"GPU-aaaaaaaa-0000-0000-0000-000000000003", minor=3),
        NvmlDevice(uuid="GPU-bbbbbbbb-0000-0000-0000-000000000001", minor=1, name=b"A100"),
    ]


@pytest.fixture
def fake_nvml() -> FakeNvmlModule:
    return FakeNvmlModule(two_nvml_devices())
