"""Entry point of the ``slurm-carbon`` command."""

from __future__ import annotations

import importlib
from typing import Any

import click

from slurm_carbon import __version__
from slurm_carbon.text import escape_control

__all__ = ["cli", "main"]


#: Each command of ``slurm-carbon`` and where it lives ("module:attribute").
#: A command's module is imported only when that command runs or ``--help``
#: lists it: ``slurm-carbon progress`` runs in job scripts and must not pay for
#: the store, numpy or the service that other commands import.
_COMMANDS = {
    "advise": "slurm_carbon.cli.advise:advise",
    "agent": "slurm_carbon.cli.agent:agent",
    "db": "slurm_carbon.cli.db:db",
    "demo": "slurm_carbon.cli.demo:demo",
    "evaluate": "slurm_carbon.cli.evaluate:evaluate",
    "intensity": "slurm_carbon.cli.intensity:intensity",
    "profile": "slurm_carbon.cli.profile:profile",
    "progress": "slurm_carbon.cli.progress:progress",
    "report": "slurm_carbon.cli.report:report",
    "service": "slurm_carbon.cli.service:service",
    "sim": "slurm_carbon.cli.sim:sim",
    "token": "slurm_carbon.cli.service:token",
    "web": "slurm_carbon.cli.web:web",
    "writer": "slurm_carbon.cli.writer:writer",
}


class _Group(click.Group):
    """The command group; every error it shows is one line without control characters.

    Its commands are loaded lazily, from :data:`_COMMANDS` (click's lazy-group
    pattern): ``--help`` loads them all to show each one's short help.

    A command's error message may quote what it was given (a path, a name, a
    revision): a newline there would break the one-line rule, an escape sequence
    would reach the terminal.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        """The names of the commands, sorted, without loading them."""
        del ctx  # the names do not depend on the invocation
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command named ``cmd_name``, its module imported now; None if there is none."""
        del ctx  # the command does not depend on the invocation
        if cmd_name not in _COMMANDS:
            return None
        module, attribute = _COMMANDS[cmd_name].split(":")
        command: click.Command = getattr(importlib.import_module(module), attribute)
        return command

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


def main() -> None:
    """Run the command line."""
    cli()
