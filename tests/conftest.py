"""Shared fixtures: a real PostgreSQL server, migrated databases, rolled-back sessions.

``db_url`` runs a test once on SQLite and once on PostgreSQL (the latter marked
``integration``); ``session`` wraps each test in a transaction that is rolled
back, so tests never see each other's rows.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from slurm_carbon.store import make_engine, upgrade

REPO_ROOT = Path(__file__).resolve().parents[1]
POSTGRES_SCRIPT = REPO_ROOT / "deploy" / "local" / "postgres"


def _postgres(command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(POSTGRES_SCRIPT), command], capture_output=True, text=True, timeout=180, check=False
    )


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """URL of the private PostgreSQL server's ``postgres`` database; fails if it cannot start.

    The server is left running: another test session may be using it (scripts/test
    stops the servers it started).
    """
    started = _postgres("start")
    if started.returncode != 0:
        pytest.fail(f"deploy/local/postgres start failed:\n{started.stderr}", pytrace=False)
    url = make_url(_postgres("url").stdout.strip()).set(database="postgres")
    return url.render_as_string(hide_password=False)


class PostgresDatabases:
    """Creates throw-away databases on the test server and drops them at the end."""

    def __init__(self, server_url: str) -> None:
        self._server_url = server_url
        self._admin = make_engine(server_url).execution_options(isolation_level="AUTOCOMMIT")
        self._created: list[str] = []

    def create(self, purpose: str) -> str:
        """Create an empty database ``slurm_carbon_<purpose>_<pid>[_<n>]``; return its URL."""
        name = f"slurm_carbon_{purpose}_{os.getpid()}"
        if name in self._created:
            name = f"{name}_{len(self._created)}"
        with self._admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        self._created.append(name)
        return make_url(self._server_url).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        """Drop every database this object created."""
        with self._admin.connect() as connection:
            for name in self._created:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self._admin.dispose()


@pytest.fixture(scope="session")
def postgres_databases(postgres_server: str) -> Iterator[PostgresDatabases]:
    """Factory of fresh PostgreSQL databases, all dropped at the end of the session."""
    databases = PostgresDatabases(postgres_server)
    yield databases
    databases.drop_all()


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)],
)
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """URL of a database migrated to head, once per session per backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('store') / 'test.db'}"
    else:
        databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
        url = databases.create("test")
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    """Engine on the migrated test database of the current backend."""
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session whose work is rolled back after the test, commits included.

    SQLAlchemy 2's recipe: the session joins an outer transaction through
    SAVEPOINTs, so ``session.commit()`` and ``session.rollback()`` in a test
    stay inside it.
    """
    with engine.connect() as connection:
        outer = connection.begin()
        session = Session(bind=connection, join_transaction_mode="create_savepoint")
        try:
            yield session
        finally:
            session.close()
            outer.rollback()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], str]:
    """A factory of empty, unmigrated databases on the backend of the test's parameter."""

    def create(purpose: str) -> str:
        if request.param == "sqlite":
            return f"sqlite:///{tmp_path / purpose}.db"
        databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
        return databases.create(purpose)

    return create


#: Real traces and profiles beside the repository (../shared/data); never copied in.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def shared_data() -> Callable[[str], Path]:
    """A file of ../shared/data by its relative path; the test skips, naming it, if absent."""

    def get(relative: str) -> Path:
        path = SHARED_DATA / relative
        if not path.is_file():
            pytest.skip(f"shared data file {path} is absent")
        return path

    return get
