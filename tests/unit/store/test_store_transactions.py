"""SQLite transactions: a write lock only where asked, readers never wait on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from slurm_carbon.errors import StoreError
from slurm_carbon.store import (
    SessionFactory,
    make_engine,
    session_factory,
    transaction,
    upgrade,
)


@pytest.fixture
def factory(tmp_path: Path) -> Iterator[SessionFactory]:
    url = f"sqlite:///{tmp_path / 'tx.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield session_factory(engine)
    engine.dispose()


def _lock_wait_fails(factory: SessionFactory) -> bool:
    """Whether a second writer is refused: the first holds SQLite's write lock."""
    other = make_engine(factory.kw["bind"].url)
    try:
        with other.connect() as connection:
            connection.exec_driver_sql("PRAGMA busy_timeout=50")
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            connection.exec_driver_sql("ROLLBACK")
    except StoreError:
        return True
    except Exception as err:  # the driver's OperationalError through SQLAlchemy
        return "locked" in str(err)
    finally:
        other.dispose()
    return False


def test_a_write_lock_transaction_holds_the_lock_from_its_start(factory: SessionFactory) -> None:
    with transaction(factory, write_lock=True) as session:
        session.execute(text("SELECT 1"))
        assert _lock_wait_fails(factory)
    assert not _lock_wait_fails(factory)


def test_a_plain_transaction_that_only_reads_takes_no_write_lock(factory: SessionFactory) -> None:
    with transaction(factory) as session:
        session.execute(text("SELECT 1"))
        assert not _lock_wait_fails(factory)


def test_a_reader_inside_a_write_lock_transaction_does_not_wait(factory: SessionFactory) -> None:
    with transaction(factory, write_lock=True) as outer:
        outer.execute(text("SELECT count(*) FROM energy_intervals"))
        with transaction(factory) as inner:
            assert inner.execute(text("SELECT 1")).scalar_one() == 1
