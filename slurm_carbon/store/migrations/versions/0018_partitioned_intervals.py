"""Energy intervals at cluster scale: a natural key, daily partitions, rolled-up rows kept closed.

``energy_intervals`` loses its surrogate ``id``: its primary key becomes the
unique key ingest's ``ON CONFLICT`` relies on, (node, device, job,
interval start), which PostgreSQL requires to hold the partition column (and it
saves a column and an index on the largest table).

On PostgreSQL the table becomes partitioned by range of ``interval_start``, one
partition per UTC day in schema ``energy_partitions``
(``slurm_carbon.store.partitions`` creates them ahead), with a DEFAULT partition
for rows no day partition covers (an old backlog, a clock running ahead: never
refused). The rows move: a copy is taken, the table recreated, a partition made
for every day that holds rows, the rows put back.

On both backends a trigger keeps rolled-up hours closed
(``slurm_carbon.store.rollup``): a row older than a day (the least
``rollup_after_days``) that a stored row of the same node, device and job
covers from an earlier start is skipped, so a batch re-sent after its rows were
rolled up adds nothing. On SQLite a later batch rebuild of this table drops the
trigger: such a revision must create it again.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01 23:30:00
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLE = "energy_intervals"
_SCHEMA = "energy_partitions"
_KEY = ("node_id", "device_id", "job_id", "interval_start")
_COLUMNS = (
    "job_id, node_id, device_id, interval_start, interval_end, energy_j, method, sharing,"
    " cap_w, busy_clock_mhz"
)
_UNIQUE = "uq_energy_intervals_node_id_device_id_job_id_interval_start"
_GUARD = "energy_intervals_rolled_guard"
# A stored row covering the new one from an earlier start, within the hour before it.
_COVERED = (
    "SELECT 1 FROM energy_intervals r WHERE r.job_id = NEW.job_id"
    " AND r.node_id = NEW.node_id AND r.device_id = NEW.device_id"
    " AND r.interval_start < NEW.interval_start AND r.interval_end >= NEW.interval_end"
)
_PG_GUARD = f"""
CREATE FUNCTION {_GUARD}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS ({_COVERED}
               AND r.interval_start >= NEW.interval_start - interval '1 hour') THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END
$$
"""
_SQLITE_GUARD = f"""
CREATE TRIGGER {_GUARD} BEFORE INSERT ON energy_intervals
WHEN NEW.interval_start < datetime('now', '-1 day') AND EXISTS ({_COVERED})
BEGIN SELECT RAISE(IGNORE); END
"""


def _table(name: str, *, surrogate: bool, **options: Any) -> None:
    """Create the intervals table as of revision 0015 (``surrogate``) or this one."""
    key: list[sa.Column[int]] = (
        [sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False)]
        if surrogate
        else []
    )
    constraints: list[sa.Constraint] = (
        [
            sa.PrimaryKeyConstraint("id", name=op.f("pk_energy_intervals")),
            sa.UniqueConstraint(*_KEY, name=op.f(_UNIQUE)),
        ]
        if surrogate
        else [sa.PrimaryKeyConstraint(*_KEY, name=op.f("pk_energy_intervals"))]
    )
    op.create_table(
        name,
        *key,
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("interval_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("interval_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("energy_j", sa.Float(), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("sharing", sa.String(length=16), nullable=False),
        sa.Column("cap_w", sa.Float(), nullable=True),
        sa.Column("busy_clock_mhz", sa.Float(), nullable=True),
        sa.CheckConstraint("energy_j >= 0", name=op.f("ck_energy_intervals_energy_j_nonnegative")),
        sa.CheckConstraint(
            "interval_end > interval_start", name=op.f("ck_energy_intervals_interval_positive")
        ),
        sa.CheckConstraint(
            "method IN ('counter', 'integrated', 'estimated')",
            name=op.f("ck_energy_intervals_method"),
        ),
        sa.CheckConstraint(
            "sharing IN ('exclusive', 'shared')", name=op.f("ck_energy_intervals_sharing")
        ),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_energy_intervals_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["jobs.id"],
            name=op.f("fk_energy_intervals_job_id_jobs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["node_id"],
            ["nodes.id"],
            name=op.f("fk_energy_intervals_node_id_nodes"),
            ondelete="CASCADE",
        ),
        *constraints,
        **options,
    )
    op.create_index(
        op.f("ix_energy_intervals_job_id_interval_start"), _TABLE, ["job_id", "interval_start"]
    )


def _rebuild(*, surrogate: bool, **options: Any) -> None:
    """Recreate the table (PostgreSQL), keeping its rows in a temporary copy meanwhile."""
    op.execute(f"CREATE TEMPORARY TABLE held AS SELECT {_COLUMNS} FROM {_TABLE}")  # noqa: S608 (constants)
    op.drop_table(_TABLE)
    _table(_TABLE, surrogate=surrogate, **options)
    if not surrogate:
        op.execute(f"CREATE TABLE {_SCHEMA}.energy_intervals_default PARTITION OF {_TABLE} DEFAULT")
        days = op.get_bind().execute(
            sa.text("SELECT DISTINCT (interval_start AT TIME ZONE 'UTC')::date FROM held")
        )
        for (day,) in days.all():
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            op.execute(
                f"CREATE TABLE {_SCHEMA}.energy_intervals_p{day:%Y%m%d} PARTITION OF {_TABLE}"
                f" FOR VALUES FROM ('{start.isoformat()}')"
                f" TO ('{(start + timedelta(days=1)).isoformat()}')"
            )
    op.execute(f"INSERT INTO {_TABLE} ({_COLUMNS}) SELECT {_COLUMNS} FROM held")  # noqa: S608 (constants)
    op.execute("DROP TABLE held")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE SCHEMA IF NOT EXISTS {_SCHEMA}")
        _rebuild(surrogate=False, postgresql_partition_by="RANGE (interval_start)")
        op.execute(_PG_GUARD)
        op.execute(
            f"CREATE TRIGGER {_GUARD} BEFORE INSERT ON {_TABLE}"
            # The WHEN clause keeps a fresh row (every row of a live cluster's batches)
            # from calling the function at all: the guard costs ingest nothing.
            f" FOR EACH ROW WHEN (NEW.interval_start < now() - interval '1 day')"
            f" EXECUTE FUNCTION {_GUARD}()"
        )
        return
    with op.batch_alter_table(_TABLE, recreate="always") as batch:
        batch.drop_constraint(op.f(_UNIQUE), type_="unique")
        batch.drop_column("id")
        batch.create_primary_key(op.f("pk_energy_intervals"), list(_KEY))
    op.execute(_SQLITE_GUARD)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER {_GUARD} ON {_TABLE}")
        op.execute(f"DROP FUNCTION {_GUARD}()")
        _rebuild(surrogate=True)
        op.execute(f"DROP SCHEMA {_SCHEMA} CASCADE")
        return
    op.execute(f"DROP TRIGGER {_GUARD}")
    with op.batch_alter_table(_TABLE, recreate="always") as batch:
        batch.drop_constraint(op.f("pk_energy_intervals"), type_="primary")
        batch.add_column(
            sa.Column("id", sa.Integer(), nullable=False, primary_key=True, autoincrement=True)
        )
        batch.create_unique_constraint(op.f(_UNIQUE), list(_KEY))
