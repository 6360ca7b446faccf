"""Transactions for callers outside the store, with database failures as ``StoreError``.

The service holds a :data:`SessionFactory` and runs each unit of work in
:func:`transaction`; it never sees SQLAlchemy's exceptions::

    with transaction(factory) as session:
        stored = ingest_batch(session, cluster, node, intervals)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session, sessionmaker

from slurm_carbon.errors import StoreError
from slurm_carbon.store.engine import SQLITE_IMMEDIATE

__all__ = ["Session", "SessionFactory", "ping", "transaction"]

SessionFactory = sessionmaker[Session]
"""What :func:`~slurm_carbon.store.session_factory` returns."""


@contextmanager
def transaction(factory: SessionFactory, *, write_lock: bool = False) -> Iterator[Session]:
    """A session in a transaction: committed if the block succeeds, else rolled back.

    ``write_lock`` is for a unit that reads and then writes while others write
    too (ingest): on SQLite it takes the write lock at the start, queueing for it,
    instead of being refused when it comes to write. Elsewhere it changes nothing.

    Raises:
        StoreError: the database could not be reached, no pooled connection
            came free in time, or the connection was lost (the transaction was
            rolled back). Other database errors (a
            constraint the caller should have checked) propagate unchanged.
    """
    try:
        with factory.begin() as session:
            if write_lock:
                session.connection(execution_options={SQLITE_IMMEDIATE: True})
            yield session
    except (OperationalError, InterfaceError) as err:
        raise StoreError(f"database unavailable: {_first_line(err)}") from err
    except PoolTimeoutError as err:  # every pooled connection busy (store.engine.POOL_TIMEOUT_S)
        raise StoreError("database busy: no free connection in the pool") from err
    except DBAPIError as err:
        if err.connection_invalidated:
            raise StoreError(f"database connection lost: {_first_line(err)}") from err
        raise


def ping(factory: SessionFactory) -> None:
    """Run ``SELECT 1``.

    Raises:
        StoreError: the database does not answer.
    """
    with transaction(factory) as session:
        session.execute(text("SELECT 1"))


def _first_line(err: DBAPIError) -> str:
    text_ = str(err.orig).strip()
    return text_.splitlines()[0] if text_ else type(err.orig).__name__
