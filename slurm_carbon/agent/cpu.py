"""What the agent needs to share CPU/DRAM energy among jobs.

* :class:`JobCpuTime` — a job's cumulative CPU time, to split node-level RAPL
  energy by each job's CPU-time share
  (``slurm_carbon.sensors.estimate.CpuTimeReader`` reads it from Slurm's
  cgroup v2 tree, or from /proc where Slurm runs without cgroups).
* :class:`CpuEnergyEstimate` — when the node has no RAPL: "energy in J for job
  X between two times" (``slurm_carbon.sensors.estimate.EstimatedCpuEnergy``
  provides it).
"""

from __future__ import annotations

from typing import Protocol

from slurm_carbon.sensors.base import DomainKind

__all__ = ["CpuEnergyEstimate", "JobCpuTime"]


class JobCpuTime(Protocol):
    """A job's CPU time."""

    def cpu_time_s(self, job_id: int) -> float | None:
        """Cumulative CPU time the job used, or ``None`` if unknown. Units: seconds."""
        ...


class CpuEnergyEstimate(Protocol):
    """Estimated CPU/DRAM energy of a job, where no counter exists."""

    def energy_j(self, job_id: int, kind: DomainKind, start_s: float, end_s: float) -> float:
        """Energy of ``kind`` the job used in ``[start_s, end_s)``. Units: joules, seconds."""
        ...
