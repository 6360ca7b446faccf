"""Simulated GPUs for machines without one, shared across processes through files.

Each device is one JSON file, ``<dir>/gpu<minor>.json``, like a fake sysfs:
the agent (through :class:`SimBackend`) and the workload
(:func:`slurm_carbon.sensors.workload.run_workload`, inside a Slurm job) read
and change the same state. The file holds the identity, the power limits, the
profile, the current draw ``power_mw`` and an energy accumulator ``energy_mj``
valid at time ``t``; the energy at time ``now`` is::

    energy_mj + power_mw * (now - t)          (mW x s = mJ)

so energy is exact without anyone polling. Every change (limit set, workload
starting, ticking or stopping) first folds the accumulated energy into
``energy_mj`` at the current time, under an ``fcntl.flock`` on
``gpu<minor>.lock``, and replaces the file atomically (temp file +
``os.replace``); readers need no lock.

While a workload runs (``busy_pid`` set) the draw follows the profile at the
limit in force, so a cap set by another process lowers power at once; with no
workload it is the profile's idle power. If the workload's process died
without clearing ``busy_pid``, readers treat the GPU as idle from the last
time the workload touched the file (it does so every tick).

How busy it is (:meth:`SimGpu.busy`) is the simulator's model, not a
measurement: utilization 100 % while a workload runs (0 % idle), and an SM
clock of :data:`SIM_MAX_SM_CLOCK_MHZ` times the profile's throughput at the
limit in force over its throughput at the highest limit, so the busy clock
(utilization x SM clock) falls under a cap exactly as the work done does.

Units: energy in millijoules, power in milliwatts, time in seconds (``t`` is
``time.time()``, injectable as ``clock``).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from slurm_carbon.errors import DeviceLost, SensorError, SensorUnsupported
from slurm_carbon.sensors.base import GpuBusy, GpuInfo, PowerLimits
from slurm_carbon.sensors.profiles import PowerProfile, synthetic_profile

__all__ = [
    "SIM_MAX_SM_CLOCK_MHZ",
    "Clock",
    "SimBackend",
    "SimGpu",
    "init_devices",
    "locked_state",
    "sim_uuid",
    "state_path",
]

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
"""Returns the current time as ``time.time()`` does. Units: seconds."""

SIM_MAX_SM_CLOCK_MHZ = 1530.0
"""A simulated GPU's SM clock at its highest limit: a V100's boost clock (the profiles
in ../shared/data are mostly V100s). Only ratios to it matter to the profiler. Units: MHz."""

_STATE_FILE = re.compile(r"^gpu(\d+)\.json$")


def sim_uuid(minor: int) -> str:
    """The deterministic UUID of simulated GPU ``minor``, e.g. ``GPU-sim-00000000-0003``."""
    return f"GPU-sim-00000000-{minor:04d}"


def state_path(directory: Path, minor: int) -> Path:
    """Where simulated GPU ``minor`` keeps its state."""
    return directory / f"gpu{minor}.json"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise DeviceLost(f"simulated GPU state {path} is gone") from exc
    except (OSError, ValueError) as exc:
        raise SensorError(f"cannot read simulated GPU state {path}: {exc}") from exc
    return data


def _write(path: Path, state: dict[str, Any]) -> None:
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w") as stream:
            json.dump(state, stream, indent=1, sort_keys=True)
        Path(temporary).chmod(0o644)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _current_power_mw(state: dict[str, Any]) -> float:
    """The draw the state implies: the workload's profile at the limit if busy, else idle."""
    if state.get("busy_pid") is not None:
        profile = PowerProfile.from_dict(state.get("workload_profile") or state["profile"])
        return 1000.0 * profile.at(state["limit_mw"] / 1000.0).power_w
    return 1000.0 * PowerProfile.from_dict(state["profile"]).idle_power_w


def _busy(state: dict[str, Any]) -> GpuBusy:
    """The simulator's model of utilization and SM clock (see the module's docstring)."""
    profile = PowerProfile.from_dict(state.get("workload_profile") or state["profile"])
    ratio = (
        profile.at(state["limit_mw"] / 1000.0).throughput
        / profile.at(profile.max_limit_w).throughput
    )
    utilization_pct = 100.0 if state.get("busy_pid") is not None else 0.0
    return GpuBusy(utilization_pct=utilization_pct, sm_clock_mhz=SIM_MAX_SM_CLOCK_MHZ * ratio)


def _energy_at(state: dict[str, Any], now: float) -> float:
    """The accumulator advanced to ``now``. Units: millijoules."""
    elapsed_s = max(0.0, now - float(state["t"]))
    return float(state["energy_mj"]) + float(state["power_mw"]) * elapsed_s


def _abandoned(state: dict[str, Any]) -> bool:
    pid = state.get("busy_pid")
    return pid is not None and not _pid_alive(int(pid))


@contextmanager
def locked_state(path: Path, clock: Clock) -> Iterator[dict[str, Any]]:
    """Lock a device's state, fold its energy up to now, yield it for editing, write it back.

    The draw is re-derived from the edited state (busy -> profile at the limit,
    else idle) before the write. Used by :class:`SimGpu` and the workload.

    Raises:
        DeviceLost: The state file is gone.
    """
    if not path.exists():
        raise DeviceLost(f"simulated GPU state {path} is gone")
    lock = path.with_suffix(".lock")
    try:
        lock_stream = lock.open("a")
    except OSError as exc:
        raise SensorError(f"cannot open lock {lock}: {exc}") from exc
    with lock_stream:
        fcntl.flock(lock_stream, fcntl.LOCK_EX)
        state = _read(path)
        now = clock()
        if _abandoned(state):
            logger.warning("%s: workload pid %s is gone; GPU back to idle", path, state["busy_pid"])
            state["busy_pid"] = None
            state["power_mw"] = _current_power_mw(state)
        state["energy_mj"] = _energy_at(state, now)
        state["t"] = now
        yield state
        state["power_mw"] = _current_power_mw(state)
        _write(path, state)


class SimGpu:
    """One simulated GPU; implements :class:`~slurm_carbon.sensors.base.Gpu`.

    Args:
        path: Its state file.
        clock: The time source, ``time.time`` unless a test gives another.
    """

    def __init__(self, path: Path, clock: Clock = time.time) -> None:
        self._path = path
        self._clock = clock
        state = _read(path)
        self._info = GpuInfo(uuid=state["uuid"], minor=int(state["minor"]), model=state["model"])

    @property
    def info(self) -> GpuInfo:
        """UUID, minor number and model."""
        return self._info

    @property
    def path(self) -> Path:
        """The state file."""
        return self._path

    def _state(self) -> dict[str, Any]:
        state = _read(self._path)
        if _abandoned(state):
            # The workload died: bill idle power from its last tick (read-only view).
            state["busy_pid"] = None
            state["power_mw"] = _current_power_mw(state)
        return state

    def energy_mj(self) -> int:
        """Energy since the device was created. Units: millijoules."""
        return int(_energy_at(self._state(), self._clock()))

    def power_mw(self) -> int:
        """Current draw. Units: milliwatts."""
        return round(float(self._state()["power_mw"]))

    def power_limit_mw(self) -> int:
        """The limit in force. Units: milliwatts."""
        return int(self._state()["limit_mw"])

    def power_limits(self) -> PowerLimits:
        """The settable range (the profile's) and the default. Units: milliwatts."""
        state = self._state()
        return PowerLimits(int(state["min_mw"]), int(state["max_mw"]), int(state["default_mw"]))

    def busy(self) -> GpuBusy | None:
        """The model's utilization and SM clock now; None when the state cannot be read."""
        try:
            return _busy(self._state())
        except SensorError:
            return None

    def set_power_limit_mw(self, limit_mw: int) -> None:
        """Set the limit; a running workload's draw follows at once. Units: milliwatts.

        Raises:
            SensorError: ``limit_mw`` outside :meth:`power_limits`.
        """
        with locked_state(self._path, self._clock) as state:
            if not state["min_mw"] <= limit_mw <= state["max_mw"]:
                raise SensorError(
                    f"{self._info.uuid}: power limit {limit_mw} mW outside "
                    f"[{state['min_mw']}, {state['max_mw']}] mW"
                )
            state["limit_mw"] = int(limit_mw)
        logger.info("%s: power limit set to %d mW", self._info.uuid, limit_mw)


class SimBackend:
    """The simulated GPUs under one directory: a :class:`~slurm_carbon.sensors.base.GpuBackend`.

    Args:
        directory: Holds ``gpu<minor>.json`` files made by :func:`init_devices`.
        clock: The time source.

    Raises:
        SensorUnsupported: No simulated GPU under ``directory``.
    """

    def __init__(self, directory: Path, clock: Clock = time.time) -> None:
        self._directory = directory
        self._clock = clock
        self._closed = False
        if not self.gpus():
            raise SensorUnsupported(
                f"no simulated GPUs under {directory} (create them with `slurm-carbon sim init`)"
            )

    def gpus(self) -> Sequence[SimGpu]:
        """Every device whose state file exists now, by minor number."""
        if self._closed:
            raise SensorError("simulated GPU backend is closed")
        found = []
        try:
            entries = sorted(self._directory.iterdir()) if self._directory.is_dir() else []
        except OSError as exc:
            raise SensorError(f"cannot list {self._directory}: {exc}") from exc
        for entry in entries:
            match = _STATE_FILE.match(entry.name)
            if match is None:
                continue
            try:
                found.append(SimGpu(entry, self._clock))
            except DeviceLost:
                continue  # removed between listing and reading
        return sorted(found, key=lambda gpu: gpu.info.minor)

    def close(self) -> None:
        """Mark the backend closed (there is nothing to release)."""
        self._closed = True


def init_devices(
    directory: Path,
    count: int,
    profile: PowerProfile | None = None,
    clock: Clock = time.time,
) -> list[Path]:
    """Create (or re-create) ``count`` simulated GPUs with minors ``0..count-1``.

    Each starts idle at its default limit (the profile's highest) with zero
    energy. Existing state files for those minors are replaced.

    Args:
        directory: Created if missing.
        count: How many GPUs (at least 1).
        profile: Drives power and throughput; :func:`synthetic_profile` if ``None``.
        clock: The time source.

    Returns:
        The state files.
    """
    if count < 1:
        raise ValueError(f"need at least one GPU, got {count}")
    profile = profile if profile is not None else synthetic_profile()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "runs").mkdir(exist_ok=True)
    min_mw = round(profile.min_limit_w * 1000)
    max_mw = round(profile.max_limit_w * 1000)
    paths = []
    for minor in range(count):
        state: dict[str, Any] = {
            "uuid": sim_uuid(minor),
            "minor": minor,
            "model": profile.model,
            "limit_mw": max_mw,
            "min_mw": min_mw,
            "max_mw": max_mw,
            "default_mw": max_mw,
            "busy_pid": None,
            "energy_mj": 0.0,
            "t": clock(),
            "profile": profile.to_dict(),
        }
        state["power_mw"] = _current_power_mw(state)
        path = state_path(directory, minor)
        _write(path, state)
        paths.append(path)
    return paths
