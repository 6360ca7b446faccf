"""``slurm-carbon db``: create and migrate the database; where every command finds it."""

from __future__ import annotations

import functools
import os
import stat
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from slurm_carbon.config import load_config
from slurm_carbon.errors import ConfigError, StoreError
from slurm_carbon.store import (
    make_engine,
    redact_url,
    session_factory,
    upgrade,
    url_has_password,
)
from slurm_carbon.store.compact import COMPACT_LOCK_TIMEOUT
from slurm_carbon.store.rollup import RolledDay, maintain
from slurm_carbon.text import has_control

__all__ = ["DEFAULT_DB_URL", "MAX_URL_FILE_BYTES", "db", "url_option"]

# The embedded default: one SQLite file, for a single-host installation.
DEFAULT_DB_URL = "sqlite:////var/lib/slurm-carbon/slurm-carbon.db"
# A URL file holds one URL; a file larger than this is not one.
MAX_URL_FILE_BYTES = 4096
# Permission bits of "others": a file holding a password must grant them nothing.
_OTHERS = 0o007


def url_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give ``command`` the options ``--url`` and ``--url-file``; it receives ``url``.

    The URL comes from ``--url`` or ``SLURM_CARBON_DB_URL``, or from the file named
    by ``--url-file`` or ``SLURM_CARBON_DB_URL_FILE``, else it is the embedded
    default. A password typed in ``--url`` is refused: the command line of every
    process is visible to every user (``ps``), its environment is not.
    """

    @functools.wraps(command)
    def resolved(*args: Any, url: str, url_file: Path | None, **kwargs: Any) -> Any:
        source = click.get_current_context().get_parameter_source("url")
        if url_file is not None:
            if source is not ParameterSource.DEFAULT:
                raise click.ClickException(
                    "the database URL is given twice: use --url (SLURM_CARBON_DB_URL)"
                    " or --url-file (SLURM_CARBON_DB_URL_FILE), not both"
                )
            url = read_url_file(url_file)
        elif source is ParameterSource.COMMANDLINE and url_has_password(url):
            raise click.ClickException(
                "--url holds a password, which every user on this host sees in `ps`:"
                " put the URL in SLURM_CARBON_DB_URL or in a file given with --url-file"
                " (readable by no one but its owner and group)"
            )
        return command(*args, url=url, **kwargs)

    with_file = click.option(
        "--url-file",
        envvar="SLURM_CARBON_DB_URL_FILE",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="File holding the database URL, password included; others must have no access "
        "to it (chmod o=) [env: SLURM_CARBON_DB_URL_FILE]",
    )
    with_url = click.option(
        "--url",
        envvar="SLURM_CARBON_DB_URL",
        default=DEFAULT_DB_URL,
        show_default=True,
        help="Database URL, e.g. postgresql+psycopg://user@host/slurm_carbon. A password "
        "is refused here (every user sees it in ps): put it in SLURM_CARBON_DB_URL or "
        "--url-file [env: SLURM_CARBON_DB_URL]",
    )
    return with_url(with_file(resolved))


def read_url_file(path: Path) -> str:
    """The one URL in ``path``, a file others have no access to.

    Raises:
        click.ClickException: the file cannot be read, others may access it, or it
            does not hold exactly one line of printable text (one line).
    """
    try:
        with path.open("rb") as file:
            mode = os.fstat(file.fileno()).st_mode
            data = file.read(MAX_URL_FILE_BYTES + 1)
    except OSError as err:
        raise click.ClickException(f"cannot read {path}: {err.strerror or err}") from err
    if mode & _OTHERS:
        raise click.ClickException(
            f"{path} is readable by others (mode {stat.S_IMODE(mode):04o}), and it holds"
            f" the database's password: chmod o= {path}"
        )
    problem = None
    if len(data) > MAX_URL_FILE_BYTES:
        problem = f"is larger than {MAX_URL_FILE_BYTES} bytes"
    else:
        try:
            lines = data.decode("utf-8").strip().splitlines()
        except UnicodeDecodeError:
            problem = "is not UTF-8"
        else:
            if not lines:
                problem = "is empty"
            elif len(lines) > 1:
                problem = "holds more than one line"
            elif has_control(lines[0]):
                problem = "holds a control character"
            else:
                return lines[0].strip()
    raise click.ClickException(f"{path} {problem}: it must hold one database URL")


@click.group()
def db() -> None:
    """Create and migrate the database."""


@db.command("upgrade")
@url_option
@click.option("--revision", default="head", show_default=True, help="Revision to migrate to.")
def upgrade_command(url: str, revision: str) -> None:
    """Create the database schema, or migrate it to the newest revision.

    A SQLite file is created mode 0600 (its directory, if new, 0750): it holds
    every job and the node tokens' hashes. Run this as the user the service runs as.
    """
    try:
        before, after = upgrade(url, revision)
    except StoreError as err:
        raise click.ClickException(str(err)) from err
    where = redact_url(url)
    if before == after:
        click.echo(f"{where}: already at revision {after}")
    else:
        click.echo(f"{where}: upgraded from revision {before or '(empty)'} to {after}")


@db.command("maintain")
@url_option
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The site file: its [storage] rollup_after_days, retention_days and compact_rolled_days.",
)
def maintain_command(url: str, config_path: Path) -> None:
    """Create the coming days' partitions, roll up old intervals, drop intervals past retention.

    Intervals older than [storage] rollup_after_days (default 30) become one row
    per job, node, device and hour, every job's energy and CO2e unchanged (only jobs
    whose result is stored); with retention_days, older ones are dropped (whole
    daily partitions on PostgreSQL). Jobs and their results are always kept. Run it
    daily (e.g. a systemd timer); each day rolled up is said as it is done.

    On PostgreSQL a day rolled up then gives its disk back (VACUUM FULL of its
    partition, waiting at most 5 s for its lock; ingest goes on meanwhile, a
    job's detail view of that day waits); [storage] compact_rolled_days = false
    leaves the partitions as they are.
    """
    from slurm_carbon.cli.service import require_head  # noqa: PLC0415 (cli.service imports this module)

    try:
        storage = load_config(config_path).storage
        require_head(url)
        engine = make_engine(url)
        try:
            done = maintain(
                session_factory(engine),
                datetime.now(UTC),
                rollup_after=timedelta(days=storage.rollup_after_days),
                retention=None
                if storage.retention_days is None
                else timedelta(days=storage.retention_days),
                compact=storage.compact_rolled_days,
                progress=_said,
            )
        finally:
            engine.dispose()
    except (ConfigError, StoreError) as err:
        raise click.ClickException(str(err)) from err
    click.echo(
        f"{redact_url(url)}: {done.partitions} partitions created, {done.rolled_from} intervals"
        f" rolled up into {done.rolled_to}, {done.dropped} dropped past retention"
    )


def _said(day: RolledDay) -> None:
    if not day.rows_before:
        return
    said = f"{day.day}: {day.rows_before} intervals rolled up into {day.rows_after}"
    done = day.compacted
    if done is not None and done.busy:
        said += (
            f"; {done.partition} not compacted: its lock was not free within"
            f" {COMPACT_LOCK_TIMEOUT} (VACUUM FULL it later)"
        )
    elif done is not None:
        said += (
            f"; {done.partition} compacted from {done.bytes_before / 1e6:,.1f} MB"
            f" to {done.bytes_after / 1e6:,.1f} MB in {done.seconds:.1f} s"
        )
    click.echo(said)
