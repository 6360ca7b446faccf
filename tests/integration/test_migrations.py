"""Migrations against real databases: no drift from the models, up and down, the CLI."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import inspect

from slurm_carbon.cli.db import db
from slurm_carbon.errors import StoreError
from slurm_carbon.store import (
    Base,
    current_revision,
    downgrade,
    head_revision,
    make_engine,
    upgrade,
)


def _drift(url: str) -> list[Any]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def _schema(url: str) -> dict[str, dict[str, Any]]:
    """What autogenerate does not compare: CHECK constraints, and every constraint's name."""
    engine = make_engine(url)
    try:
        inspector = inspect(engine)
        return {
            table: {
                "checks": sorted(
                    (c["name"], c["sqltext"]) for c in inspector.get_check_constraints(table)
                ),
                "uniques": sorted(c["name"] for c in inspector.get_unique_constraints(table)),
                "indexes": sorted(i["name"] for i in inspector.get_indexes(table)),
                "foreign_keys": sorted(str(f["name"]) for f in inspector.get_foreign_keys(table)),
                "primary_key": inspector.get_pk_constraint(table)["name"],
            }
            for table in inspector.get_table_names()
            if table != "alembic_version"
        }
    finally:
        engine.dispose()


def test_upgrade_head_leaves_no_drift_from_the_models(empty_db: Any) -> None:
    url = empty_db("migrated")
    assert upgrade(url) == (None, head_revision())
    assert _drift(url) == []


def test_drift_check_sees_a_column_the_migrations_lack(empty_db: Any) -> None:
    url = empty_db("behind")
    upgrade(url)
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE jobs DROP COLUMN comment")
    engine.dispose()
    assert [(d[0], d[2], d[3].name) for d in _drift(url)] == [("add_column", "jobs", "comment")]


def test_migrated_constraints_match_the_models(empty_db: Any) -> None:
    migrated, from_models = empty_db("migrated"), empty_db("models")
    upgrade(migrated)
    engine = make_engine(from_models)
    Base.metadata.create_all(engine)
    engine.dispose()
    schema = _schema(migrated)
    assert set(schema) == set(Base.metadata.tables)
    assert schema == _schema(from_models)
    assert ("ck_energy_intervals_energy_j_nonnegative") in dict(
        schema["energy_intervals"]["checks"]
    )


def test_downgrade_to_base_then_upgrade_again(empty_db: Any) -> None:
    url = empty_db("updown")
    head = head_revision()
    upgrade(url)
    assert upgrade(url) == (head, head)
    assert downgrade(url, "base") == (head, None)
    assert _schema(url) == {}
    assert current_revision(url) is None
    assert upgrade(url) == (None, head)
    assert _drift(url) == []


def test_upgrade_to_an_unknown_revision_is_a_store_error(empty_db: Any) -> None:
    with pytest.raises(StoreError, match="ffff"):
        upgrade(empty_db("unknown"), "ffff")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_cli_upgrade_of_an_unreachable_database_is_one_line() -> None:
    port = _closed_port()
    url = f"postgresql+psycopg://carbon:s3cret@127.0.0.1:{port}/slurm_carbon"
    result = CliRunner().invoke(db, ["upgrade"], env={"SLURM_CARBON_DB_URL": url})
    assert result.exit_code == 1
    assert result.output == (
        f"Error: cannot reach database at postgresql+psycopg://carbon:***@127.0.0.1:{port}"
        "/slurm_carbon: connection refused\n"
    )
    assert isinstance(result.exception, SystemExit)  # a clean exit, not a traceback


def test_cli_upgrade_creates_the_sqlite_directory_and_says_what_it_did(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/var/lib/slurm-carbon/slurm-carbon.db"
    runner = CliRunner()
    first = runner.invoke(db, ["upgrade"], env={"SLURM_CARBON_DB_URL": url})
    assert first.exit_code == 0, first.output
    assert first.output == f"{url}: upgraded from revision (empty) to {head_revision()}\n"
    again = runner.invoke(db, ["upgrade", "--url", url])
    assert again.output == f"{url}: already at revision {head_revision()}\n"
    assert (tmp_path / "var/lib/slurm-carbon/slurm-carbon.db").is_file()


@pytest.mark.integration
def test_cli_upgrade_of_postgresql(postgres_databases: Any) -> None:
    url = postgres_databases.create("cli")
    result = CliRunner().invoke(db, ["upgrade", "--url", url])
    assert result.exit_code == 0, result.output
    assert result.output.endswith(f"upgraded from revision (empty) to {head_revision()}\n")
