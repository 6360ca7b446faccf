"""Alembic's migration environment for the slurm_carbon store.

Run programmatically by :mod:`slurm_carbon.store.migrate`, which hands over an
open connection in ``config.attributes["connection"]``. Developers creating a
revision use ``slurm_carbon/store/alembic.ini`` with ``-x url=...`` instead.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection

from slurm_carbon.store.engine import make_engine
from slurm_carbon.store.models import Base
from slurm_carbon.store.types import UTCDateTime

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise SystemExit("no database URL: pass -x url=postgresql+psycopg://...")
    return url


def _render_item(kind: str, item: Any, _context: AutogenContext) -> str | Literal[False]:
    """Render our column types as plain SQLAlchemy ones: revisions must not import models."""
    if kind == "type" and isinstance(item, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things: batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Migrate over the given connection, or over a new one to the ``-x url``."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url(), sqlite_foreign_keys=False)
    try:
        with engine.connect() as new_connection:
            _run(new_connection)
    finally:
        engine.dispose()


def run_offline() -> None:
    """Print the SQL (``alembic upgrade --sql``) instead of running it."""
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
