"""In-memory, scriptable sensor backends: public API for tests of their callers.

Nothing here touches hardware, files or clocks: a test sets energy and power,
advances time by hand, makes the next call fail with a chosen
:class:`~slurm_carbon.errors.SensorError`, or makes a GPU disappear, then
checks what the code under test did (e.g. :attr:`FakeGpu.set_power_limit_calls`)::

    backend = FakeGpuBackend.with_gpus(2)
    gpu = backend.gpu_by_minor(1)
    gpu.set_power_mw(250_000)
    gpu.advance(2.0)                       # +500_000 mJ
    gpu.fail_next(DeviceLost("gone"))      # the next call on gpu raises it
    gpu.lose()                             # every call raises; backend.gpus() drops it

Units: energy in millijoules (GPU) or microjoules (CPU), power in milliwatts,
time in seconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from slurm_carbon.errors import DeviceLost, SensorError, SensorUnsupported
from slurm_carbon.sensors.base import CpuDomain, DomainKind, GpuBusy, GpuInfo, PowerLimits

__all__ = [
    "DEFAULT_FAKE_LIMITS",
    "DEFAULT_RAPL_MAX_UJ",
    "FakeCpuEnergy",
    "FakeGpu",
    "FakeGpuBackend",
]

DEFAULT_FAKE_LIMITS = PowerLimits(min_mw=100_000, max_mw=300_000, default_mw=300_000)
"""The range of a :class:`FakeGpu` unless given (a V100-like 100-300 W)."""

DEFAULT_RAPL_MAX_UJ = 262_143_328_850
"""A typical Intel ``max_energy_range_uj``. Units: microjoules."""


class _Failures:
    """A queue of errors the next calls raise, one per call."""

    def __init__(self) -> None:
        self._pending: list[SensorError] = []

    def push(self, error: SensorError, times: int) -> None:
        if times < 1:
            raise ValueError(f"times must be >= 1, got {times}")
        self._pending.extend([error] * times)

    def check(self) -> None:
        if self._pending:
            raise self._pending.pop(0)


class FakeGpu:
    """A scriptable :class:`~slurm_carbon.sensors.base.Gpu`.

    Args:
        minor: The minor number (``/dev/nvidia<minor>``).
        uuid: Defaults to ``GPU-fake-<minor as 12 hex digits>``.
        model: The product name.
        limits: The power-limit range and default.
        limit_mw: The limit in force at start; defaults to ``limits.default_mw``.
        power_mw: The power draw at start.
        energy_mj: The energy counter at start.
        has_energy_counter: ``False`` makes :meth:`energy_mj` raise
            :class:`SensorUnsupported`, like a GPU older than Volta.

    Attributes:
        set_power_limit_calls: Every limit passed to :meth:`set_power_limit_mw`,
            in order, including calls that raised. Units: milliwatts.
    """

    def __init__(  # noqa: PLR0913 - keyword-only knobs, each with a default
        self,
        minor: int,
        *,
        uuid: str | None = None,
        model: str = "Fake GPU",
        limits: PowerLimits = DEFAULT_FAKE_LIMITS,
        limit_mw: int | None = None,
        power_mw: int = 50_000,
        energy_mj: int = 0,
        has_energy_counter: bool = True,
    ) -> None:
        self._info = GpuInfo(
            uuid=uuid if uuid is not None else f"GPU-fake-{minor:012x}", minor=minor, model=model
        )
        self._limits = limits
        self._limit_mw = limits.default_mw if limit_mw is None else limit_mw
        self._power_mw = power_mw
        self._energy_mj = energy_mj
        self._has_energy_counter = has_energy_counter
        self._failures = _Failures()
        self.lost = False
        self.set_power_limit_calls: list[int] = []
        self._busy: GpuBusy | None = None

    # -- the Gpu protocol ------------------------------------------------------

    @property
    def info(self) -> GpuInfo:
        """UUID, minor number and model (readable even once lost, like a cached value)."""
        return self._info

    def energy_mj(self) -> int:
        """Total energy counter. Units: millijoules."""
        self._check()
        if not self._has_energy_counter:
            raise SensorUnsupported(f"GPU {self._info.uuid}: no energy counter")
        return self._energy_mj

    def power_mw(self) -> int:
        """Current power draw. Units: milliwatts."""
        self._check()
        return self._power_mw

    def power_limit_mw(self) -> int:
        """The limit in force. Units: milliwatts."""
        self._check()
        return self._limit_mw

    def power_limits(self) -> PowerLimits:
        """The settable range and default. Units: milliwatts."""
        self._check()
        return self._limits

    def set_power_limit_mw(self, limit_mw: int) -> None:
        """Set the limit; outside the range raises :class:`SensorError`. Units: milliwatts."""
        self.set_power_limit_calls.append(limit_mw)
        self._check()
        if not self._limits.min_mw <= limit_mw <= self._limits.max_mw:
            raise SensorError(
                f"GPU {self._info.uuid}: power limit {limit_mw} mW outside "
                f"[{self._limits.min_mw}, {self._limits.max_mw}] mW"
            )
        self._limit_mw = limit_mw

    def busy(self) -> GpuBusy | None:
        """What :meth:`set_busy` scripted; None before, once lost, or when a call should fail."""
        try:
            self._check()
        except SensorError:
            return None
        return self._busy

    # -- scripting -------------------------------------------------------------

    def set_busy(self, busy: GpuBusy | None) -> None:
        """Set the utilization and SM clock :meth:`busy` reads (None: the GPU cannot tell)."""
        self._busy = busy

    def set_energy_mj(self, energy_mj: int) -> None:
        """Set the energy counter, e.g. to 0 to script a driver reload. Units: millijoules."""
        self._energy_mj = energy_mj

    def set_power_mw(self, power_mw: int) -> None:
        """Set the power draw. Units: milliwatts."""
        self._power_mw = power_mw

    def advance(self, seconds: float) -> None:
        """Add ``power x seconds`` to the energy counter. Units: seconds."""
        if seconds < 0:
            raise ValueError(f"cannot advance by a negative time ({seconds} s)")
        self._energy_mj += round(self._power_mw * seconds)

    def fail_next(self, error: SensorError, times: int = 1) -> None:
        """Make the next ``times`` calls of any protocol method raise ``error``."""
        self._failures.push(error, times)

    def lose(self) -> None:
        """Make the GPU disappear: every call raises :class:`DeviceLost` from now on."""
        self.lost = True

    def _check(self) -> None:
        if self.lost:
            raise DeviceLost(f"GPU {self._info.uuid} (minor {self._info.minor}) is lost")
        self._failures.check()


class FakeGpuBackend:
    """A scriptable :class:`~slurm_carbon.sensors.base.GpuBackend` over :class:`FakeGpu` objects.

    Args:
        gpus: The GPUs, in enumeration order.

    Attributes:
        closed: Whether :meth:`close` was called; later calls raise.
    """

    def __init__(self, gpus: Iterable[FakeGpu]) -> None:
        self._gpus = list(gpus)
        minors = [gpu.info.minor for gpu in self._gpus]
        if len(set(minors)) != len(minors):
            raise ValueError(f"duplicate minor numbers: {minors}")
        self._failures = _Failures()
        self.closed = False

    @classmethod
    def with_gpus(cls, count: int, **kwargs: Any) -> FakeGpuBackend:
        """``count`` GPUs with minors ``0..count-1``; ``kwargs`` go to every :class:`FakeGpu`."""
        return cls(FakeGpu(minor, **kwargs) for minor in range(count))

    def gpus(self) -> Sequence[FakeGpu]:
        """Every GPU not lost."""
        self._check()
        return [gpu for gpu in self._gpus if not gpu.lost]

    def close(self) -> None:
        """Mark the backend closed."""
        self.closed = True

    def gpu_by_minor(self, minor: int) -> FakeGpu:
        """The GPU with this minor number, lost or not (for scripting)."""
        for gpu in self._gpus:
            if gpu.info.minor == minor:
                return gpu
        raise KeyError(minor)

    def advance(self, seconds: float) -> None:
        """Advance every GPU by ``seconds``. Units: seconds."""
        for gpu in self._gpus:
            gpu.advance(seconds)

    def fail_next(self, error: SensorError, times: int = 1) -> None:
        """Make the next ``times`` calls of :meth:`gpus` raise ``error``."""
        self._failures.push(error, times)

    def _check(self) -> None:
        if self.closed:
            raise SensorError("fake GPU backend is closed")
        self._failures.check()


class FakeCpuEnergy:
    """A scriptable :class:`~slurm_carbon.sensors.base.CpuEnergyBackend`.

    Args:
        sockets: How many packages (``package-0`` ...).
        dram: Whether each package has a ``package-N/dram`` domain.
        max_energy_uj: Where every counter wraps. Units: microjoules.
    """

    def __init__(
        self, sockets: int = 1, *, dram: bool = True, max_energy_uj: int = DEFAULT_RAPL_MAX_UJ
    ) -> None:
        self._domains: list[CpuDomain] = []
        for socket in range(sockets):
            self._domains.append(
                CpuDomain(f"package-{socket}", DomainKind.CPU, socket, max_energy_uj)
            )
            if dram:
                self._domains.append(
                    CpuDomain(f"package-{socket}/dram", DomainKind.DRAM, socket, max_energy_uj)
                )
        self._energy_uj = {domain.name: 0 for domain in self._domains}
        self._failures = _Failures()

    def domains(self) -> Sequence[CpuDomain]:
        """Every package and DRAM domain."""
        self._failures.check()
        return list(self._domains)

    def energy_uj(self, domain: CpuDomain) -> int:
        """The domain's counter; an unknown (removed) domain raises :class:`DeviceLost`."""
        self._failures.check()
        if domain.name not in self._energy_uj:
            raise DeviceLost(f"RAPL domain {domain.name} is gone")
        return self._energy_uj[domain.name]

    def domain(self, name: str) -> CpuDomain:
        """The domain called ``name`` (for scripting)."""
        for domain in self._domains:
            if domain.name == name:
                return domain
        raise KeyError(name)

    def set_energy_uj(self, name: str, energy_uj: int) -> None:
        """Set a domain's counter. Units: microjoules."""
        self._energy_uj[self.domain(name).name] = energy_uj

    def add_energy_uj(self, name: str, energy_uj: int) -> None:
        """Advance a domain's counter, wrapping at its maximum like RAPL. Units: microjoules."""
        domain = self.domain(name)
        total = self._energy_uj[name] + energy_uj
        self._energy_uj[name] = (
            total % domain.max_energy_uj if total > domain.max_energy_uj else total
        )

    def remove_domain(self, name: str) -> None:
        """Make a domain vanish: reading it raises :class:`DeviceLost`."""
        domain = self.domain(name)
        self._domains.remove(domain)
        del self._energy_uj[name]

    def fail_next(self, error: SensorError, times: int = 1) -> None:
        """Make the next ``times`` calls raise ``error``."""
        self._failures.push(error, times)
