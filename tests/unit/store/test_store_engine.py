from __future__ import annotations

import socket
from pathlib import Path

import pytest
from sqlalchemy import text

from slurm_carbon.errors import StoreError
from slurm_carbon.store import make_engine, redact_url, sqlite_file


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_unreachable_postgresql_gives_a_one_line_store_error() -> None:
    port = _closed_port()
    engine = make_engine(f"postgresql+psycopg://carbon:s3cret@127.0.0.1:{port}/slurm_carbon")
    with pytest.raises(StoreError) as caught, engine.connect():
        pass
    message = str(caught.value)
    assert message == (
        f"cannot reach database at postgresql+psycopg://carbon:***@127.0.0.1:{port}/slurm_carbon:"
        " connection refused"
    )
    assert "s3cret" not in message
    assert caught.value.__cause__ is not None


def test_unopenable_sqlite_gives_a_store_error(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/missing/dir/x.db")
    with pytest.raises(StoreError, match=r"cannot open database at sqlite:///.*unable to open"):
        engine.connect()


def test_bad_url_gives_a_store_error_without_the_password() -> None:
    with pytest.raises(StoreError) as caught:
        make_engine("mysql+nodriver://root:hunter2@db/x")
    assert "hunter2" not in str(caught.value)


def test_sqlite_connections_enforce_foreign_keys_and_use_wal(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/x.db")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
        assert connection.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
    engine.dispose()


def test_redact_url_and_sqlite_file() -> None:
    assert redact_url("postgresql+psycopg://u:p@h/d") == "postgresql+psycopg://u:***@h/d"
    assert sqlite_file("sqlite:////var/lib/x/y.db") == Path("/var/lib/x/y.db")
    assert sqlite_file("sqlite://") is None
    assert sqlite_file("postgresql+psycopg://h/d") is None
