"""Schema migrations, run programmatically (no alembic.ini needed at run time)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from slurm_carbon.errors import StoreError
from slurm_carbon.store.engine import create_sqlite_file, make_engine, redact_url

__all__ = ["alembic_config", "current_revision", "downgrade", "head_revision", "upgrade"]

# The migration environment ships inside the package (and so in the wheel).
SCRIPT_LOCATION = "slurm_carbon.store:migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration for the packaged migrations, optionally over ``connection``."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision the code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the migrations have no head"  # noqa: S101 (packaging invariant)
    return head


def current_revision(url: str | URL) -> str | None:
    """The revision the database is at, or None if it was never migrated.

    Raises:
        StoreError: the database cannot be reached.
    """
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as err:
        raise StoreError(
            f"cannot read the revision of {redact_url(url)}: {_first_line(err)}"
        ) from err
    finally:
        engine.dispose()


def upgrade(url: str | URL, revision: str = "head") -> tuple[str | None, str | None]:
    """Migrate the database up to ``revision``, in one transaction.

    A SQLite database's file is created first, readable by its owner only
    (:func:`~slurm_carbon.store.engine.create_sqlite_file`).

    Returns:
        The revisions before and after (None: an empty, never migrated database).

    Raises:
        StoreError: the database cannot be reached, the revision is unknown, or a
            migration failed (then nothing was changed), or a SQLite file cannot
            be created.
    """
    create_sqlite_file(url)
    return _migrate(url, revision, up=True)


def downgrade(url: str | URL, revision: str) -> tuple[str | None, str | None]:
    """Migrate the database down to ``revision`` (``"base"``: drop everything).

    Returns:
        The revisions before and after.

    Raises:
        StoreError: as for :func:`upgrade`.
    """
    return _migrate(url, revision, up=False)


def _migrate(url: str | URL, revision: str, *, up: bool) -> tuple[str | None, str | None]:
    # Foreign keys off on SQLite: batch migrations rebuild tables that others reference.
    engine = make_engine(url, sqlite_foreign_keys=False)
    try:
        with engine.begin() as connection:
            before = MigrationContext.configure(connection).get_current_revision()
            config = alembic_config(connection)
            if up:
                command.upgrade(config, revision)
            else:
                command.downgrade(config, revision)
            after = MigrationContext.configure(connection).get_current_revision()
    except CommandError as err:
        raise StoreError(f"cannot migrate {redact_url(url)} to {revision!r}: {err}") from err
    except SQLAlchemyError as err:
        raise StoreError(f"migrating {redact_url(url)} failed: {_first_line(err)}") from err
    finally:
        engine.dispose()
    return before, after


def _first_line(err: SQLAlchemyError) -> str:
    original = getattr(err, "orig", None) or err
    text = str(original).strip()
    return text.splitlines()[0] if text else type(original).__name__
