"""``slurm-carbon db``: create and migrate the database."""

from __future__ import annotations

import click

from slurm_carbon.errors import StoreError
from slurm_carbon.store import redact_url, sqlite_file, upgrade

__all__ = ["DEFAULT_DB_URL", "db"]

# The embedded default: one SQLite file, for a single-host installation.
DEFAULT_DB_URL = "sqlite:////var/lib/slurm-carbon/slurm-carbon.db"

url_option = click.option(
    "--url",
    envvar="SLURM_CARBON_DB_URL",
    default=DEFAULT_DB_URL,
    show_default=True,
    help="Database URL, e.g. postgresql+psycopg://user:password@host/slurm_carbon "
    "[env: SLURM_CARBON_DB_URL]",
)


@click.group()
def db() -> None:
    """Create and migrate the database."""


@db.command("upgrade")
@url_option
@click.option("--revision", default="head", show_default=True, help="Revision to migrate to.")
def upgrade_command(url: str, revision: str) -> None:
    """Create the database schema, or migrate it to the newest revision."""
    try:
        path = sqlite_file(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        before, after = upgrade(url, revision)
    except StoreError as err:
        raise click.ClickException(str(err)) from err
    except OSError as err:
        raise click.ClickException(
            f"cannot create the directory of {redact_url(url)}: {err.strerror or err}"
        ) from err
    where = redact_url(url)
    if before == after:
        click.echo(f"{where}: already at revision {after}")
    else:
        click.echo(f"{where}: upgraded from revision {before or '(empty)'} to {after}")
