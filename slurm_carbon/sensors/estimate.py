"""Estimated CPU and DRAM energy of a job, for nodes without RAPL.

Everything here is an **estimate** (the agent labels it ``estimated``), after
Green Algorithms (Lannelongue, Grealey & Inouye, *Advanced Science* 2021):

* CPU energy = TDP per core x the job's CPU time. TDP per core is the
  package TDP over the cores per package (``cpu cores`` in ``/proc/cpuinfo``).
  The TDP is configured, or looked up by the CPU model name in a table with
  the columns of codecarbon's ``cpu_power.csv`` (``Name,TDP``; codecarbon, MIT,
  ships it as ``codecarbon/data/hardware/cpu_power.csv``: point
  ``tdp_table`` at that file of an installed codecarbon, or at your own).
* DRAM energy = :data:`DRAM_W_PER_GIB` x the job's memory x wall time.

A job's CPU time comes from :class:`CpuTimeReader`: cgroup v2 ``cpu.stat``
(``usage_usec``) where Slurm uses cgroups, else the sum of ``utime + stime``
(plus reaped children's ``cutime + cstime``) of the processes whose
``/proc/<pid>/environ`` holds ``SLURM_JOB_ID=<id>`` (``proctrack/linuxproc``).

Units: energy in joules, power in watts, CPU and wall time in seconds, memory
in GiB.
"""

from __future__ import annotations

import csv
import logging
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from slurm_carbon.codecarbon_data import codecarbon_data
from slurm_carbon.errors import ConfigError, SensorError
from slurm_carbon.sensors.base import DomainKind

__all__ = [
    "DRAM_W_PER_GIB",
    "CpuTimeReader",
    "EstimatedCpuEnergy",
    "codecarbon_tdp_table",
    "cpu_model",
    "lookup_tdp_w",
]

logger = logging.getLogger(__name__)


def codecarbon_tdp_table() -> Path:
    """The CPU TDP table (``Name,TDP``) codecarbon ships, for :func:`lookup_tdp_w`."""
    return codecarbon_data() / "hardware" / "cpu_power.csv"


DRAM_W_PER_GIB = 0.3725
"""Estimated DRAM power per unit of memory. Units: W/GiB.

Green Algorithms' 0.3725 W per GB (Lannelongue et al. 2021, from Micron's DDR
power calculators), applied per GiB (7 % apart, well inside the estimate's own
uncertainty). An estimate, not a measurement.
"""

_GHZ = re.compile(r"@\s*[\d.]+\s*[gm]hz", re.IGNORECASE)
_NOISE = re.compile(r"\((r|tm)\)|\bcpu\b|\bprocessor\b|\b\d+-core\b", re.IGNORECASE)


def _normalise(name: str) -> str:
    return " ".join(_NOISE.sub(" ", _GHZ.sub(" ", name)).lower().split())


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> tuple[str, int]:
    """The CPU model name and the cores per package, from ``/proc/cpuinfo``.

    Returns:
        ``(model name, cores per package)``; cores fall back to the number
        of ``processor`` entries when ``cpu cores`` is absent (VMs, ARM).

    Raises:
        SensorError: The file cannot be read or names no model.
    """
    try:
        text = cpuinfo.read_text()
    except OSError as exc:
        raise SensorError(f"cannot read {cpuinfo}: {exc.strerror or exc}") from exc
    fields: dict[str, str] = {}
    processors = 0
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "processor":
            processors += 1
        fields.setdefault(key, value.strip())
    model = fields.get("model name") or fields.get("Model") or ""
    if not model:
        raise SensorError(f"{cpuinfo}: no 'model name'")
    cores = int(fields["cpu cores"]) if fields.get("cpu cores", "").isdigit() else processors
    return model, max(cores, 1)


def lookup_tdp_w(model: str, table: Path) -> float | None:
    """The TDP of ``model`` in a ``Name,TDP`` table (codecarbon's ``cpu_power.csv``).

    Names are compared without ``(R)``, ``(TM)``, "CPU", "Processor" and the
    clock (``@ 2.20GHz``), case-insensitively; failing an exact match, the
    longest table name contained in the model name wins. A row whose TDP is
    not a number (codecarbon's table has one, ``27.29.5``) is skipped.

    Returns:
        The TDP, or ``None`` when no row matches. Units: watts.

    Raises:
        ConfigError: The table cannot be read or lacks the columns.
    """
    wanted = _normalise(model)
    best: tuple[int, float] | None = None
    try:
        with table.open(newline="") as stream:
            reader = csv.DictReader(stream)
            if not {"Name", "TDP"} <= set(reader.fieldnames or ()):
                raise ConfigError(f"{table}: expected columns Name,TDP")
            for row in reader:
                name = _normalise(row["Name"] or "")
                try:
                    tdp = float(row["TDP"] or "")
                except ValueError:
                    logger.debug("%s: skipping %r: TDP %r is not a number", table, name, row["TDP"])
                    continue
                if not name:
                    continue
                if name == wanted:
                    return tdp
                if name in wanted and (best is None or len(name) > best[0]):
                    best = (len(name), tdp)
    except OSError as exc:
        raise ConfigError(f"cannot read CPU TDP table {table}: {exc.strerror or exc}") from exc
    return None if best is None else best[1]


class CpuTimeReader:
    """A job's cumulative CPU time and memory, from cgroup v2 or from ``/proc``.

    Args:
        cgroup_root: The cgroup v2 mount (``/sys/fs/cgroup``), or ``None`` to
            use ``/proc`` only. A job's cgroup is
            ``<cgroup_root>/system.slice/slurmstepd.scope/job_<id>``.
        proc_root: The proc filesystem (a fixture tree in tests).
        clock_ticks: Ticks per second of ``/proc/<pid>/stat`` times;
            ``os.sysconf("SC_CLK_TCK")`` (usually 100) if not given.
    """

    def __init__(
        self,
        cgroup_root: Path | None = Path("/sys/fs/cgroup"),
        proc_root: Path = Path("/proc"),
        clock_ticks: int | None = None,
    ) -> None:
        self._cgroup_root = cgroup_root
        self._proc_root = proc_root
        self._clock_ticks = clock_ticks if clock_ticks is not None else os.sysconf("SC_CLK_TCK")

    def _cgroup(self, job_id: int) -> Path | None:
        if self._cgroup_root is None:
            return None
        path = self._cgroup_root / "system.slice" / "slurmstepd.scope" / f"job_{job_id}"
        return path if path.is_dir() else None

    def cpu_time_s(self, job_id: int) -> float | None:
        """CPU time the job used so far, or ``None`` if no trace of it. Units: seconds."""
        cgroup = self._cgroup(job_id)
        if cgroup is not None:
            try:
                for line in (cgroup / "cpu.stat").read_text().splitlines():
                    key, _, value = line.partition(" ")
                    if key == "usage_usec":
                        return int(value) / 1e6
            except (OSError, ValueError) as exc:
                logger.debug("job %d: unreadable %s: %s", job_id, cgroup / "cpu.stat", exc)
        ticks = None
        for pid_dir in self._job_processes(job_id):
            try:
                stat = (pid_dir / "stat").read_text()
                # Fields after "(comm)": state is field 3, utime..cstime fields 14-17.
                rest = stat[stat.rindex(")") + 2 :].split()
                ticks = (ticks or 0) + sum(int(value) for value in rest[11:15])
            except (OSError, ValueError, IndexError):
                continue  # exited meanwhile, or not a stat line
        return None if ticks is None else ticks / self._clock_ticks

    def memory_gib(self, job_id: int) -> float | None:
        """Memory the job holds: cgroup ``memory.current``, else summed ``VmRSS``. Units: GiB."""
        cgroup = self._cgroup(job_id)
        if cgroup is not None:
            try:
                return int((cgroup / "memory.current").read_text()) / 2**30
            except (OSError, ValueError) as exc:
                logger.debug("job %d: unreadable memory.current: %s", job_id, exc)
        kib = None
        for pid_dir in self._job_processes(job_id):
            try:
                for line in (pid_dir / "status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        kib = (kib or 0) + int(line.split()[1])
            except (OSError, ValueError, IndexError):
                continue
        return None if kib is None else kib / 2**20

    def _job_processes(self, job_id: int) -> Iterator[Path]:
        marker = f"SLURM_JOB_ID={job_id}".encode()
        try:
            entries = list(self._proc_root.iterdir())
        except OSError as exc:
            raise SensorError(f"cannot list {self._proc_root}: {exc.strerror or exc}") from exc
        for pid_dir in entries:
            if not pid_dir.name.isdigit():
                continue
            try:
                environ = (pid_dir / "environ").read_bytes()
            except OSError:
                continue  # gone, or another user's process while not root
            if marker in environ.split(b"\0"):
                yield pid_dir


class EstimatedCpuEnergy:
    """Estimated CPU and DRAM energy of jobs; the agent's ``CpuEnergyEstimate``.

    Args:
        tdp_w: The CPU package TDP. If ``None``, looked up in ``tdp_table``
            by the model name in ``cpuinfo``. Units: watts.
        tdp_table: A ``Name,TDP`` CSV (codecarbon's ``cpu_power.csv``).
        cpuinfo: Where the model name and cores per package are read.
        cpu_time: Reads jobs' CPU time and memory.
        dram_w_per_gib: DRAM power per GiB held. Units: W/GiB.
        memory_gib: The job's memory by job id (e.g. its allocation from
            Slurm); default: what ``cpu_time`` measures it holds.

    Raises:
        ConfigError: No TDP configured and none found in the table.
    """

    def __init__(  # noqa: PLR0913 - keyword-only knobs, each with a default
        self,
        tdp_w: float | None = None,
        *,
        tdp_table: Path | None = None,
        cpuinfo: Path = Path("/proc/cpuinfo"),
        cpu_time: CpuTimeReader | None = None,
        dram_w_per_gib: float = DRAM_W_PER_GIB,
        memory_gib: Callable[[int], float | None] | None = None,
    ) -> None:
        model, cores = cpu_model(cpuinfo)
        if tdp_w is None and tdp_table is not None:
            tdp_w = lookup_tdp_w(model, tdp_table)
        if tdp_w is None or tdp_w <= 0:
            where = f" and {model!r} is not in {tdp_table}" if tdp_table else ""
            raise ConfigError(
                f"CPU energy estimate needs the CPU's TDP: configure it{where} "
                f"(or give a Name,TDP table such as codecarbon's cpu_power.csv)"
            )
        self.model = model
        self.tdp_per_core_w = tdp_w / cores
        self.dram_w_per_gib = dram_w_per_gib
        self._cpu_time = cpu_time if cpu_time is not None else CpuTimeReader()
        self._memory_gib = memory_gib if memory_gib is not None else self._cpu_time.memory_gib
        self._last_cpu_s: dict[int, float] = {}

    def cpu_energy_j(self, cpu_time_s: float) -> float:
        """Energy of ``cpu_time_s`` of CPU time. Units: joules, seconds."""
        return self.tdp_per_core_w * cpu_time_s

    def dram_energy_j(self, memory_gib: float, wall_s: float) -> float:
        """Energy of holding ``memory_gib`` for ``wall_s``. Units: joules, GiB, seconds."""
        return self.dram_w_per_gib * memory_gib * wall_s

    def energy_j(self, job_id: int, kind: DomainKind, start_s: float, end_s: float) -> float:
        """Estimated energy of ``kind`` the job used in ``[start_s, end_s)``. Units: joules.

        CPU: from the CPU time used since the previous CPU call for this job
        (the first call counts all CPU time since the job started, so the
        first interval should begin at the job's start). DRAM: the memory
        held now times ``end_s - start_s``.

        Raises:
            SensorError: No CPU time or memory can be found for the job.
        """
        if kind == DomainKind.DRAM:
            memory = self._memory_gib(job_id)
            if memory is None:
                raise SensorError(f"job {job_id}: memory unknown (no cgroup, no processes)")
            return self.dram_energy_j(memory, max(0.0, end_s - start_s))
        cpu_s = self._cpu_time.cpu_time_s(job_id)
        if cpu_s is None:
            raise SensorError(f"job {job_id}: CPU time unknown (no cgroup, no processes)")
        previous = self._last_cpu_s.get(job_id, 0.0)
        # Exited, un-reaped processes take their time with them: never go backwards.
        self._last_cpu_s[job_id] = max(previous, cpu_s)
        return self.cpu_energy_j(max(0.0, cpu_s - previous))

    def forget(self, job_id: int) -> None:
        """Drop what is remembered of a finished job."""
        self._last_cpu_s.pop(job_id, None)
