"""Migrations against real databases: no drift from the models, up and down, the CLI."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import inspect, text

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


def test_0006_fills_the_flags_of_existing_results_from_their_sources(empty_db: Any) -> None:
    url = empty_db("flags")
    upgrade(url, "0005")
    engine = make_engine(url)
    long_list = ",".join(f"source-{i:02d}-with-a-long-name" for i in range(4))  # 108 characters
    sources = ["electricitymaps,codecarbon-ANNUAL", "synthetic", "trace (replayed)", None]
    at = "2024-03-01 12:00:00"
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO clusters (id, name) VALUES (1, 'tc')"))
        for job_id, source in enumerate(sources, 1):
            connection.execute(
                text(
                    "INSERT INTO jobs (id, cluster_id, slurm_job_id, requested_gpus)"
                    " VALUES (:id, 1, :id, 0)"
                ),
                {"id": job_id},
            )
            connection.execute(
                text(
                    "INSERT INTO job_results (job_id, gpu_energy_j, cpu_energy_j, dram_energy_j,"
                    " other_energy_j, co2e_g, ci_source, pue, quality, sharing, computed_at)"
                    " VALUES (:id, 1, 0, 0, 0, 1, :source, 1, 'counter', 'exclusive', :at)"
                ),
                {"id": job_id, "source": source, "at": at},
            )
        for source in ("synthetic", "trace"):
            connection.execute(
                text(
                    "INSERT INTO carbon_intensity (region, source, time, ci_g_per_kwh, kind,"
                    " signal, issued_at) VALUES ('SE', :source, :at, 20, 'actual', 'average', :at)"
                ),
                {"source": source, "at": at},
            )
    upgrade(url)
    with engine.begin() as connection:
        flags = connection.execute(
            text(
                "SELECT ci_annual, ci_synthetic, ci_actual_share, ci_forecast_share,"
                " ci_annual_share FROM job_results ORDER BY job_id"
            )
        ).all()
        points = connection.execute(
            text("SELECT source, synthetic FROM carbon_intensity ORDER BY source")
        ).all()
        connection.execute(
            text("UPDATE job_results SET ci_source = :sources WHERE job_id = 3"),
            {"sources": long_list},
        )
        kept = connection.execute(text("SELECT ci_source FROM job_results WHERE job_id = 3"))
        kept_source = kept.scalar_one()
    engine.dispose()
    assert [tuple(row) for row in flags] == [
        (True, False, None, None, None),
        (False, True, None, None, None),
        (False, False, None, None, None),
        (False, False, None, None, None),
    ]
    assert [tuple(row) for row in points] == [("synthetic", True), ("trace", False)]
    assert kept_source == long_list  # text now: a source list is never cut
    assert _drift(url) == []
