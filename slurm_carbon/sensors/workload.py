"""A workload on simulated GPUs: progress at the profile's throughput, with ground truth.

:func:`run_workload` is what ``slurm-carbon sim work`` runs inside a Slurm job.
It marks its GPUs busy (their draw becomes the profile's power at the limit in
force), advances ``units`` of work at the profile's throughput for each GPU's
*current* limit — re-read every tick, so a cap set by another process (the
agent) slows the job within one tick — and returns the GPUs to idle when done.
With several GPUs the slowest one sets the pace (data-parallel training).

The ground truth it records — the energy each GPU consumed between start and
end, read from the simulator's exact accumulator — is what the agent's
measurement is checked against.

Units: energy in joules (``_j``) in the result, power and limits in watts,
time in seconds, work in profile units (epochs for Zeus profiles).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from slurm_carbon.errors import SensorError
from slurm_carbon.sensors.profiles import PowerProfile
from slurm_carbon.sensors.sim import Clock, locked_state, state_path

__all__ = ["GpuRun", "Progress", "WorkloadResult", "run_workload"]

logger = logging.getLogger(__name__)

_FINISH_S = 1e-6
"""Work left that would take less than this is done. Units: seconds."""


@dataclass(frozen=True)
class Progress:
    """Where a running workload stands, passed to the ``progress`` callback.

    Attributes:
        units_done: Work done so far. Units: profile units.
        units_total: Work asked for.
        elapsed_s: Time since start. Units: seconds.
        limits_w: The power limit of each GPU by minor. Units: watts.
    """

    units_done: float
    units_total: float
    elapsed_s: float
    limits_w: dict[int, float]


@dataclass
class GpuRun:
    """Ground truth for one GPU of a run.

    Attributes:
        minor: The GPU's minor number.
        uuid: Its UUID.
        energy_j: Energy consumed between start and end. Units: joules.
        mean_power_w: ``energy_j / duration_s``. Units: watts.
        limits_w: ``[elapsed_s, limit_w]`` at start and at each change seen.
    """

    minor: int
    uuid: str
    energy_j: float = 0.0
    mean_power_w: float = 0.0
    limits_w: list[list[float]] = field(default_factory=list)


@dataclass
class WorkloadResult:
    """Ground truth of one run, also written as JSON to :attr:`path`.

    Attributes:
        run_id: The job id given, or ``pid<pid>-<start>``.
        path: Where the JSON result was written.
        units: Work done. Units: profile units.
        units_total: Work asked for.
        duration_s: Wall time from start to end. Units: seconds.
        started_at: Start, as ``time.time()``. Units: seconds.
        completed: ``False`` if the run was interrupted.
        profiles: The profile name driving each GPU, by minor.
        gpus: Per-GPU energy and limits.
    """

    run_id: str
    path: Path
    units: float
    units_total: float
    duration_s: float
    started_at: float
    completed: bool
    profiles: dict[int, str]
    gpus: list[GpuRun]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        data = asdict(self)
        data["path"] = str(self.path)
        return data


def run_workload(  # noqa: PLR0913 - keyword-only knobs, each with a default
    directory: Path,
    minors: Sequence[int],
    units: float,
    profile: PowerProfile | None = None,
    *,
    tick_s: float = 0.1,
    progress: Callable[[Progress], None] | None = None,
    run_id: str | None = None,
    result_path: Path | None = None,
    clock: Clock = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> WorkloadResult:
    """Run ``units`` of work on the simulated GPUs ``minors`` and record the ground truth.

    Args:
        directory: The simulator's directory (see :mod:`slurm_carbon.sensors.sim`).
        minors: The GPUs to run on.
        units: Work to do (> 0). Units: profile units.
        profile: Power and throughput per limit; ``None`` uses each GPU's own.
        tick_s: How often limits are re-read and energy folded. Units: seconds.
        progress: Called after every tick.
        run_id: Names the result file (the Slurm job id, say).
        result_path: Where to write the result; default ``<directory>/runs/<run_id>.json``.
        clock: The time source.
        sleep: Waits; a test passes one that advances its clock.

    Returns:
        The result, also written to its ``path`` (even if interrupted).

    Raises:
        ValueError: ``units`` or ``tick_s`` not positive, or no GPUs given.
        SensorError: A GPU is missing or busy with another live workload.
    """
    if units <= 0 or tick_s <= 0 or not minors:
        raise ValueError(f"need units > 0, tick_s > 0 and GPUs; got {units}, {tick_s}, {minors}")
    started_at = clock()
    if run_id is None:
        run_id = f"pid{os.getpid()}-{int(started_at)}"
    devices = _Devices(directory, clock, profile)
    done = 0.0
    last = started_at
    try:
        for minor in minors:
            devices.acquire(minor)
        rate = devices.rate()
        while done < units:
            sleep(min(tick_s, (units - done) / rate))
            now = clock()
            done = min(units, done + rate * (now - last))
            last = now
            if (units - done) / rate < _FINISH_S:  # float clocks cannot resolve what is left
                done = units
                break
            devices.tick(now - started_at)
            rate = devices.rate()
            if progress is not None:
                progress(Progress(done, units, now - started_at, devices.limits_w()))
    finally:
        devices.release_all(duration_s=last - started_at)
        result = WorkloadResult(
            run_id=run_id,
            path=result_path or directory / "runs" / f"{run_id}.json",
            units=done,
            units_total=units,
            duration_s=last - started_at,
            started_at=started_at,
            completed=done >= units,
            profiles={minor: p.name for minor, p in devices.profiles.items()},
            gpus=list(devices.runs.values()),
        )
        if devices.runs:
            _write_result(result)
    return result


class _Devices:
    """The GPUs a run holds: their profiles, start energy and ground truth so far."""

    def __init__(self, directory: Path, clock: Clock, profile: PowerProfile | None) -> None:
        self._directory = directory
        self._clock = clock
        self._profile = profile
        self._pid = os.getpid()
        self._start_energy_mj: dict[int, float] = {}
        self.profiles: dict[int, PowerProfile] = {}
        self.runs: dict[int, GpuRun] = {}

    def acquire(self, minor: int) -> None:
        """Mark the GPU busy with this process and note its energy and limit."""
        with locked_state(state_path(self._directory, minor), self._clock) as state:
            owner = state.get("busy_pid")
            if owner is not None and owner != self._pid:
                raise SensorError(f"simulated GPU {minor} is busy with pid {owner}")
            used = self._profile or PowerProfile.from_dict(state["profile"])
            state["busy_pid"] = self._pid
            state["workload_profile"] = used.to_dict()
            self.profiles[minor] = used
            self._start_energy_mj[minor] = float(state["energy_mj"])
            self.runs[minor] = GpuRun(
                minor, state["uuid"], limits_w=[[0.0, state["limit_mw"] / 1e3]]
            )

    def tick(self, elapsed_s: float) -> None:
        """Fold every GPU's energy and re-read its limit."""
        for minor, run in self.runs.items():
            with locked_state(state_path(self._directory, minor), self._clock) as state:
                limit_w = state["limit_mw"] / 1e3
                if run.limits_w[-1][1] != limit_w:
                    run.limits_w.append([round(elapsed_s, 3), limit_w])

    def rate(self) -> float:
        """The pace of the slowest GPU at its current limit. Units: units/s."""
        return min(
            self.profiles[m].at(run.limits_w[-1][1]).throughput for m, run in self.runs.items()
        )

    def limits_w(self) -> dict[int, float]:
        """The latest limit of each GPU. Units: watts."""
        return {minor: run.limits_w[-1][1] for minor, run in self.runs.items()}

    def release_all(self, duration_s: float) -> None:
        """Return every held GPU to idle and record the energy it consumed."""
        for minor, run in self.runs.items():
            try:
                with locked_state(state_path(self._directory, minor), self._clock) as state:
                    run.energy_j = (float(state["energy_mj"]) - self._start_energy_mj[minor]) / 1e3
                    state["busy_pid"] = None
                    state["workload_profile"] = None
            except SensorError as exc:  # one lost GPU must not hide the others' results
                logger.warning("simulated GPU %d not released: %s", minor, exc)
                continue
            run.mean_power_w = run.energy_j / duration_s if duration_s > 0 else 0.0


def _write_result(result: WorkloadResult) -> None:
    result.path.parent.mkdir(parents=True, exist_ok=True)
    temporary = result.path.with_name(f".{result.path.name}.tmp")
    temporary.write_text(json.dumps(result.to_dict(), indent=1, sort_keys=True) + "\n")
    temporary.replace(result.path)
