"""``slurm-carbon progress``: a job script says how far it is.

``slurm-carbon progress 0.42`` or ``slurm-carbon progress --step 420 --total
1000`` writes the job's progress file (see :mod:`slurm_carbon.jobprogress`).
It never fails a job script, even under ``set -e``: outside a managed job it
does nothing, and bad arguments (including click's usage errors) are said in
one line on stderr, and it exits 0 all the same.
"""

from __future__ import annotations

import click

from slurm_carbon.jobprogress import record_progress
from slurm_carbon.text import quote_input

__all__ = ["progress"]


def _ignored(message: str) -> None:
    """The one line a bad call prints; the command still exits 0."""
    click.echo(f"Error: progress not recorded: {message}", err=True)


class _NeverFails(click.Command):
    """A command whose usage errors are one line on stderr and exit 0, not exit 2."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Parse as click does; a usage error is said and the command exits 0."""
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as err:
            _ignored(" ".join(err.format_message().split()))
            ctx.exit(0)


def _number(text: str | None, name: str) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{name} {quote_input(text)} is not a number") from None


@click.command("progress", cls=_NeverFails, context_settings={"ignore_unknown_options": True})
@click.argument("fraction", required=False)
@click.option("--step", help="Work done so far (with --total), e.g. 420.")
@click.option("--total", help="All the work (with --step), e.g. 1000; > 0.")
def progress(fraction: str | None, step: str | None, total: str | None) -> None:
    """Record this job's progress: FRACTION (0..1) of its work, or --step of --total.

    Writes the file the Prolog made for the job ($SLURM_CARBON_PROGRESS_DIR/<jobid>,
    default /run/slurm-carbon-progress); outside a managed job it does nothing.
    Always exits 0, so a job script under set -e never fails because of it:
    bad arguments are said in one line on stderr.
    """
    try:
        record_progress(
            _number(fraction, "fraction"),
            step=_number(step, "--step"),
            total=_number(total, "--total"),
        )
    except ValueError as err:
        _ignored(str(err))
