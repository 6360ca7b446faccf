"""NVIDIA GPUs through NVML (the ``pynvml`` module of ``nvidia-ml-py``).

Every NVML call goes through one place, :meth:`_Session.call`, which turns
``pynvml.NVMLError`` into the project's tree (after Zeus's
``_handle_nvml_errors``):

==========================================  ==============================
NVML code                                   raised
==========================================  ==============================
``NOT_SUPPORTED``                           :class:`SensorUnsupported`
``NO_PERMISSION``                           :class:`SensorPermission`
``GPU_IS_LOST``, ``GPU_NOT_FOUND``,         :class:`DeviceLost`
``UNINITIALIZED`` (NVML shut down under us)
``LIBRARY_NOT_FOUND``, ``DRIVER_NOT_LOADED``  :class:`SensorUnsupported` (no NVIDIA driver here)
anything else                               :class:`SensorError`
==========================================  ==============================

:meth:`NvmlGpu.busy` is the one exception: a GPU that cannot report its
utilization or SM clock gives None (logged once), never an error.

Each message names the GPU (UUID, or index before the UUID is known) and the
NVML call; the original error is kept as ``__cause__``.

Units: energy in millijoules, power in milliwatts, as NVML reports them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from slurm_carbon.errors import DeviceLost, SensorError, SensorPermission, SensorUnsupported
from slurm_carbon.sensors.base import GpuBusy, GpuInfo, PowerLimits

__all__ = ["NvmlBackend", "NvmlGpu"]

logger = logging.getLogger(__name__)


def _text(value: str | bytes) -> str:
    """NVML strings are ``bytes`` in old pynvml releases and ``str`` in newer ones."""
    return value.decode() if isinstance(value, bytes) else value


class _Session:
    """The pynvml module in use, whether it is initialised, and the error boundary."""

    def __init__(self, nvml: Any) -> None:
        self.nvml = nvml
        self.closed = False

    def call(self, device: str, name: str, *args: Any) -> Any:
        """Call ``nvml.<name>(*args)``, translating any ``NVMLError``.

        Args:
            device: Which GPU this is about, for the message (``"GPU-..."``,
                ``"GPU index 2"`` or ``"NVML"``).
            name: The pynvml function, e.g. ``"nvmlDeviceGetPowerUsage"``.
            *args: Its arguments.
        """
        if self.closed:
            raise SensorError(f"{device}: {name} called after the NVML backend was closed")
        function: Callable[..., Any] = getattr(self.nvml, name)
        try:
            return function(*args)
        except self.nvml.NVMLError as exc:
            raise self._translate(exc, device, name) from exc

    def _translate(self, exc: Any, device: str, name: str) -> SensorError:
        nvml = self.nvml
        code = getattr(exc, "value", None)
        message = f"{device}: {name} failed: {exc} (NVML error {code})"
        if code == nvml.NVML_ERROR_NOT_SUPPORTED:
            return SensorUnsupported(message)
        if code == nvml.NVML_ERROR_NO_PERMISSION:
            return SensorPermission(f"{message}; run as root (or grant the capability)")
        if code in (nvml.NVML_ERROR_LIBRARY_NOT_FOUND, nvml.NVML_ERROR_DRIVER_NOT_LOADED):
            return SensorUnsupported(
                f"{message}: no usable NVIDIA driver on this node (is the driver installed "
                f"and loaded? nvidia-smi should work)"
            )
        lost_codes = (
            nvml.NVML_ERROR_GPU_IS_LOST,
            getattr(nvml, "NVML_ERROR_GPU_NOT_FOUND", None),
            nvml.NVML_ERROR_UNINITIALIZED,
        )
        if code in lost_codes:
            return DeviceLost(message)
        return SensorError(message)


class NvmlGpu:
    """One NVIDIA GPU; implements :class:`~slurm_carbon.sensors.base.Gpu`.

    Built by :class:`NvmlBackend`, not directly.
    """

    def __init__(self, session: _Session, handle: Any, info: GpuInfo) -> None:
        self._session = session
        self._handle = handle
        self._info = info
        self._busy_unreadable = False

    def _call(self, name: str, *args: Any) -> Any:
        return self._session.call(self._info.uuid, name, self._handle, *args)

    @property
    def info(self) -> GpuInfo:
        """UUID, minor number and model, read when the backend opened."""
        return self._info

    def energy_mj(self) -> int:
        """Total energy since the driver loaded (Volta and newer). Units: millijoules."""
        return int(self._call("nvmlDeviceGetTotalEnergyConsumption"))

    def power_mw(self) -> int:
        """Current power draw. Units: milliwatts."""
        return int(self._call("nvmlDeviceGetPowerUsage"))

    def power_limit_mw(self) -> int:
        """The power limit in force. Units: milliwatts."""
        return int(self._call("nvmlDeviceGetPowerManagementLimit"))

    def power_limits(self) -> PowerLimits:
        """The settable range and the default limit. Units: milliwatts."""
        min_mw, max_mw = self._call("nvmlDeviceGetPowerManagementLimitConstraints")
        default_mw = self._call("nvmlDeviceGetPowerManagementDefaultLimit")
        return PowerLimits(min_mw=int(min_mw), max_mw=int(max_mw), default_mw=int(default_mw))

    def set_power_limit_mw(self, limit_mw: int) -> None:
        """Set the power limit (needs root). Units: milliwatts.

        Raises:
            SensorError: ``limit_mw`` lies outside :meth:`power_limits`.
            SensorPermission: The process may not set limits.
        """
        limits = self.power_limits()
        if not limits.min_mw <= limit_mw <= limits.max_mw:
            raise SensorError(
                f"{self._info.uuid}: power limit {limit_mw} mW outside "
                f"[{limits.min_mw}, {limits.max_mw}] mW"
            )
        self._call("nvmlDeviceSetPowerManagementLimit", limit_mw)
        logger.info("%s: power limit set to %d mW", self._info.uuid, limit_mw)

    def busy(self) -> GpuBusy | None:
        """Utilization (percent of time a kernel ran) and SM clock (MHz); None if unreadable.

        NVML's utilization is over its own sample period (1/6 s to 1 s by
        model); the SM clock is the one now.
        """
        try:
            utilization = self._call("nvmlDeviceGetUtilizationRates")
            sm_clock_mhz = self._call("nvmlDeviceGetClockInfo", self._session.nvml.NVML_CLOCK_SM)
        except SensorError as exc:
            if not self._busy_unreadable:
                self._busy_unreadable = True
                logger.info("%s: utilization not read (no busy clock): %s", self._info.uuid, exc)
            return None
        return GpuBusy(utilization_pct=float(utilization.gpu), sm_clock_mhz=float(sm_clock_mhz))


class NvmlBackend:
    """The node's NVIDIA GPUs; implements :class:`~slurm_carbon.sensors.base.GpuBackend`.

    Initialises NVML and enumerates the GPUs when constructed; :meth:`close`
    shuts NVML down.

    Args:
        nvml: The pynvml module; tests pass a stand-in object with the same
            functions, constants and ``NVMLError``. Defaults to the real one.

    Raises:
        SensorUnsupported: No NVIDIA driver or NVML library on this node.
        SensorError: NVML could not start or enumerate the GPUs.
    """

    def __init__(self, nvml: Any = None) -> None:
        if nvml is None:
            import pynvml  # noqa: PLC0415 - loaded on demand: nodes without GPUs never need it

            nvml = pynvml
        self._session = _Session(nvml)
        self._session.call("NVML", "nvmlInit")
        try:
            self._gpus = self._enumerate()
        except SensorError:
            self.close()
            raise

    def _enumerate(self) -> list[NvmlGpu]:
        session = self._session
        gpus = []
        for index in range(int(session.call("NVML", "nvmlDeviceGetCount"))):
            where = f"GPU index {index}"
            handle = session.call(where, "nvmlDeviceGetHandleByIndex", index)
            uuid = _text(session.call(where, "nvmlDeviceGetUUID", handle))
            info = GpuInfo(
                uuid=uuid,
                minor=int(session.call(uuid, "nvmlDeviceGetMinorNumber", handle)),
                model=_text(session.call(uuid, "nvmlDeviceGetName", handle)),
            )
            gpus.append(NvmlGpu(session, handle, info))
        logger.debug("NVML: %d GPUs: %s", len(gpus), [gpu.info for gpu in gpus])
        return gpus

    def gpus(self) -> Sequence[NvmlGpu]:
        """Every GPU found when the backend opened, in NVML's enumeration order."""
        if self._session.closed:
            raise SensorError("NVML backend is closed")
        return list(self._gpus)

    def close(self) -> None:
        """Shut NVML down; idempotent. A failing shutdown is logged, not raised."""
        if self._session.closed:
            return
        try:
            self._session.call("NVML", "nvmlShutdown")
        except SensorError as exc:
            logger.warning("NVML shutdown failed: %s", exc)
        finally:
            self._session.closed = True
