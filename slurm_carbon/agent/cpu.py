"""What the agent needs to share CPU/DRAM energy among jobs.

* :class:`JobCpuTime` — a job's cumulative CPU time, to split node-level RAPL
  energy by each job's CPU-time share; :class:`CgroupCpuTime` reads it from
  Slurm's cgroups (v2, else v1).
* :class:`CpuEnergyEstimate` — when the node has no RAPL: "energy in J for job
  X between two times" (``slurm_carbon.sensors.estimate.EstimatedCpuEnergy``
  provides it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from slurm_carbon.agent.registry import Job
from slurm_carbon.sensors.base import DomainKind

__all__ = ["CgroupCpuTime", "CpuEnergyEstimate", "JobCpuTime"]


class JobCpuTime(Protocol):
    """A job's CPU time."""

    def cpu_time_s(self, job: Job) -> float | None:
        """Cumulative CPU time the job used, or ``None`` if unknown. Units: seconds."""
        ...


class CpuEnergyEstimate(Protocol):
    """Estimated CPU/DRAM energy of a job, where no counter exists."""

    def energy_j(self, job_id: int, kind: DomainKind, start_s: float, end_s: float) -> float:
        """Energy of ``kind`` the job used in ``[start_s, end_s)``. Units: joules, seconds."""
        ...


class CgroupCpuTime:
    """Reads a job's CPU time from Slurm's cgroup tree.

    cgroup v2: ``<root>/system.slice/slurmstepd.scope/job_<id>/cpu.stat``
    (``usage_usec``); v1: ``<root>/cpuacct/slurm/uid_<uid>/job_<id>/cpuacct.usage``
    (nanoseconds). Nodes without cgroup task plugins give ``None`` and the
    agent splits RAPL energy by time instead.

    Args:
        root: The cgroup filesystem, ``/sys/fs/cgroup`` (a fixture tree in tests).
    """

    def __init__(self, root: Path = Path("/sys/fs/cgroup")) -> None:
        self.root = root

    def cpu_time_s(self, job: Job) -> float | None:
        """Cumulative CPU time of the job. Units: seconds."""
        v2 = self.root / "system.slice" / "slurmstepd.scope" / f"job_{job.job_id}" / "cpu.stat"
        try:
            for line in v2.read_text(encoding="ascii").splitlines():
                key, _, value = line.partition(" ")
                if key == "usage_usec":
                    return int(value) / 1e6
        except (OSError, ValueError):
            pass
        if job.uid is None:
            return None
        v1 = self.root / "cpuacct" / "slurm" / f"uid_{job.uid}" / f"job_{job.job_id}"
        try:
            return int((v1 / "cpuacct.usage").read_text(encoding="ascii")) / 1e9
        except (OSError, ValueError):
            return None
