"""Power-limit policies, the capping benchmark and online profiling: pure, no I/O, no clock."""

from __future__ import annotations

from slurm_carbon.control.hull import hull_at, lower_hull
from slurm_carbon.control.hull_saving import HullSaving, SavingSpan, hull_saving
from slurm_carbon.control.policies import (
    DEFAULT_MAX_SLOWDOWN,
    LimitGrid,
    chase_index,
    clamp_limit,
    none_index,
    plan_carbon,
    static_index,
)
from slurm_carbon.control.profiling import Observation, Profiler, workload_key
from slurm_carbon.control.replay import POLICIES, ControlReplay, ReplaySetup, replay_jobs

__all__ = [
    "DEFAULT_MAX_SLOWDOWN",
    "POLICIES",
    "ControlReplay",
    "HullSaving",
    "LimitGrid",
    "Observation",
    "Profiler",
    "ReplaySetup",
    "SavingSpan",
    "chase_index",
    "clamp_limit",
    "hull_at",
    "hull_saving",
    "lower_hull",
    "none_index",
    "plan_carbon",
    "replay_jobs",
    "static_index",
    "workload_key",
]
