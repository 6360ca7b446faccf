"""Entry point of the ``slurm-carbon`` command."""

from __future__ import annotations

from typing import Any

import click

from slurm_carbon import __version__
from slurm_carbon.cli.agent import agent
from slurm_carbon.cli.db import db
from slurm_carbon.cli.demo import demo
from slurm_carbon.cli.evaluate import evaluate
from slurm_carbon.cli.intensity import intensity
from slurm_carbon.cli.progress import progress
from slurm_carbon.cli.report import report
from slurm_carbon.cli.service import service, token
from slurm_carbon.cli.sim import sim
from slurm_carbon.cli.writer import writer
from slurm_carbon.text import escape_control

__all__ = ["cli", "main"]


class _Group(click.Group):
    """The command group; every error it shows is one line without control characters.

    A command's error message may quote what it was given (a path, a name, a
    revision): a newline there would break the one-line rule, an escape sequence
    would reach the terminal.
    """

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; its error, if any, is made one safe line.

        click's own usage errors (exit 2) quote values with ``repr``, which escapes.
        """
        try:
            return super().invoke(ctx)
        except click.UsageError:
            raise
        except click.ClickException as err:
            message = " ".join(escape_control(err.format_message()).split())
            raise click.ClickException(message) from err  # exit 1, as every such error


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="slurm-carbon")
def cli() -> None:
    """Energy and carbon accounting for Slurm jobs."""


cli.add_command(agent)
cli.add_command(db)
cli.add_command(demo)
cli.add_command(evaluate)
cli.add_command(intensity)
cli.add_command(progress)
cli.add_command(report)
cli.add_command(service)
cli.add_command(sim)
cli.add_command(token)
cli.add_command(writer)


def main() -> None:
    """Run the command line."""
    cli()
