"""Slurm access: job context and the client interface over Slurm's tools."""

from slurm_carbon.slurm.base import JobQuery, SlurmClient, SlurmJob
from slurm_carbon.slurm.commands import CommandLineSlurm
from slurm_carbon.slurm.runner import CommandResult, CommandRunner, RecordedRunner, SubprocessRunner
from slurm_carbon.slurm.states import TERMINAL_STATES

__all__ = [
    "TERMINAL_STATES",
    "CommandLineSlurm",
    "CommandResult",
    "CommandRunner",
    "JobQuery",
    "RecordedRunner",
    "SlurmClient",
    "SlurmJob",
    "SubprocessRunner",
]
