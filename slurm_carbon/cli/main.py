"""Entry point of the ``slurm-carbon`` command."""

from __future__ import annotations

import click

from slurm_carbon import __version__
from slurm_carbon.cli.agent import agent
from slurm_carbon.cli.db import db
from slurm_carbon.cli.demo import demo
from slurm_carbon.cli.intensity import intensity
from slurm_carbon.cli.report import report
from slurm_carbon.cli.service import service, token
from slurm_carbon.cli.sim import sim
from slurm_carbon.cli.writer import writer

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="slurm-carbon")
def cli() -> None:
    """Energy and carbon accounting for Slurm jobs."""


cli.add_command(agent)
cli.add_command(db)
cli.add_command(demo)
cli.add_command(intensity)
cli.add_command(report)
cli.add_command(service)
cli.add_command(sim)
cli.add_command(token)
cli.add_command(writer)


def main() -> None:
    """Run the command line."""
    cli()
