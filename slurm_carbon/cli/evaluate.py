"""``slurm-carbon evaluate``: the project's own benchmarks of its forecasts.

Each subcommand replays data (a carbon-intensity trace, a GPU power profile)
with a rolling origin and prints error tables, as JSON with ``--json``.
"""

from __future__ import annotations

import click

from slurm_carbon.cli.evaluate_advice import advice_command
from slurm_carbon.cli.evaluate_control import control_command
from slurm_carbon.cli.evaluate_energy import job_energy
from slurm_carbon.cli.evaluate_forecast import forecast_command

__all__ = ["evaluate"]


@click.group()
def evaluate() -> None:
    """Score the forecasts, the power-capping policies and the advice against data."""


evaluate.add_command(forecast_command)
evaluate.add_command(job_energy)
evaluate.add_command(control_command)
evaluate.add_command(advice_command)
