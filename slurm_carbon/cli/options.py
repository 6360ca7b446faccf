"""Options more than one ``slurm-carbon`` command takes."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["DEFAULT_SPOOL", "spool_option"]

DEFAULT_SPOOL = "/var/spool/slurm-carbon"

spool_option = click.option(
    "--spool",
    envvar="SLURM_CARBON_SPOOL",
    default=DEFAULT_SPOOL,
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Hand-off directory the prolog/epilog shims write to: jobs/ for the agent, "
    "ended/ for the writer [env: SLURM_CARBON_SPOOL]",
)
