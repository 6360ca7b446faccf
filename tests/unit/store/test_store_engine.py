from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest
from sqlalchemy import text

from slurm_carbon.errors import StoreError
from slurm_carbon.store import make_engine, redact_url, sqlite_file, upgrade


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


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_upgrade_creates_the_sqlite_file_0600_in_a_0750_directory(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)  # the usual umask, which would give 0644 and 0755
    try:
        path = tmp_path / "var" / "lib" / "slurm-carbon" / "slurm-carbon.db"
        upgrade(f"sqlite:///{path}")
        engine = make_engine(f"sqlite:///{path}")
        with engine.connect() as connection:  # WAL and shared-memory files exist while open
            connection.execute(text("SELECT 1"))
            modes = {p.name: _mode(p) for p in path.parent.iterdir()}
        engine.dispose()
    finally:
        os.umask(old_umask)

    assert _mode(path.parent) == 0o750
    assert modes == {
        "slurm-carbon.db": 0o600,
        "slurm-carbon.db-wal": 0o600,
        "slurm-carbon.db-shm": 0o600,
    }


def test_upgrade_takes_others_access_away_from_an_existing_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    path.touch()
    path.chmod(0o644)
    tmp_path.chmod(0o755)

    upgrade(f"sqlite:///{path}")

    assert _mode(path) == 0o640
    assert _mode(tmp_path) == 0o755  # an existing directory is the site's business
