"""Initial schema: clusters, nodes, devices, jobs, energy intervals, CI, PUE, results.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 15:12:41.458227
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "carbon_intensity",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("region", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ci_g_per_kwh", sa.Float(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("signal", sa.String(length=16), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "ci_g_per_kwh >= 0", name=op.f("ck_carbon_intensity_ci_g_per_kwh_nonnegative")
        ),
        sa.CheckConstraint("kind IN ('actual', 'forecast')", name=op.f("ck_carbon_intensity_kind")),
        sa.CheckConstraint(
            "signal IN ('average', 'marginal')", name=op.f("ck_carbon_intensity_signal")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_carbon_intensity")),
        sa.UniqueConstraint(
            "region",
            "source",
            "time",
            "kind",
            "signal",
            "issued_at",
            name=op.f("uq_carbon_intensity_region_source_time_kind_signal_issued_at"),
        ),
    )
    op.create_table(
        "clusters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("site", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clusters")),
        sa.UniqueConstraint("name", name=op.f("uq_clusters_name")),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("slurm_job_id", sa.BigInteger(), nullable=False),
        sa.Column("array_job_id", sa.BigInteger(), nullable=True),
        sa.Column("array_task_id", sa.Integer(), nullable=True),
        sa.Column("user_name", sa.String(length=64), nullable=True),
        sa.Column("account", sa.String(length=64), nullable=True),
        sa.Column("partition", sa.String(length=64), nullable=True),
        sa.Column("submit_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=True),
        sa.Column("requested_gpus", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("budget_co2e_g", sa.Float(), nullable=True),
        sa.CheckConstraint("budget_co2e_g >= 0", name=op.f("ck_jobs_budget_co2e_g_nonnegative")),
        sa.CheckConstraint("requested_gpus >= 0", name=op.f("ck_jobs_requested_gpus_nonnegative")),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["clusters.id"],
            name=op.f("fk_jobs_cluster_id_clusters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.UniqueConstraint(
            "cluster_id", "slurm_job_id", name=op.f("uq_jobs_cluster_id_slurm_job_id")
        ),
    )
    op.create_index(
        op.f("ix_jobs_cluster_id_array_job_id"),
        "jobs",
        ["cluster_id", "array_job_id"],
        unique=False,
    )
    op.create_table(
        "nodes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["clusters.id"],
            name=op.f("fk_nodes_cluster_id_clusters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nodes")),
        sa.UniqueConstraint("cluster_id", "hostname", name=op.f("uq_nodes_cluster_id_hostname")),
    )
    op.create_table(
        "pue_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("partition", sa.String(length=64), nullable=False),
        sa.Column("pue", sa.Float(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("pue >= 1", name=op.f("ck_pue_settings_pue_at_least_one")),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["clusters.id"],
            name=op.f("fk_pue_settings_cluster_id_clusters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pue_settings")),
        sa.UniqueConstraint(
            "cluster_id",
            "partition",
            "valid_from",
            name=op.f("uq_pue_settings_cluster_id_partition_valid_from"),
        ),
    )
    op.create_table(
        "comment_writes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_comment_writes_attempts_nonnegative")),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_comment_writes_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.CheckConstraint(
            "state IN ('pending', 'written', 'failed')", name=op.f("ck_comment_writes_state")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comment_writes")),
    )
    op.create_index(op.f("ix_comment_writes_job_id"), "comment_writes", ["job_id"], unique=False)
    op.create_index(op.f("ix_comment_writes_state"), "comment_writes", ["state"], unique=False)
    op.create_table(
        "devices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=96), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=True),
        sa.Column("minor", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["node_id"], ["nodes.id"], name=op.f("fk_devices_node_id_nodes"), ondelete="CASCADE"
        ),
        sa.CheckConstraint("kind IN ('gpu', 'cpu', 'dram')", name=op.f("ck_devices_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
        sa.UniqueConstraint("node_id", "uuid", name=op.f("uq_devices_node_id_uuid")),
    )
    op.create_table(
        "job_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("gpu_energy_j", sa.Float(), nullable=False),
        sa.Column("cpu_energy_j", sa.Float(), nullable=False),
        sa.Column("dram_energy_j", sa.Float(), nullable=False),
        sa.Column("co2e_g", sa.Float(), nullable=False),
        sa.Column("ci_mean_g_per_kwh", sa.Float(), nullable=True),
        sa.Column("ci_region", sa.String(length=64), nullable=True),
        sa.Column("ci_source", sa.String(length=64), nullable=True),
        sa.Column("pue", sa.Float(), nullable=False),
        sa.Column("quality", sa.String(length=16), nullable=False),
        sa.Column("sharing", sa.String(length=16), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("co2e_g >= 0", name=op.f("ck_job_results_co2e_g_nonnegative")),
        sa.CheckConstraint(
            "gpu_energy_j >= 0 AND cpu_energy_j >= 0 AND dram_energy_j >= 0",
            name=op.f("ck_job_results_energy_j_nonnegative"),
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_job_results_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.CheckConstraint(
            "quality IN ('counter', 'integrated', 'estimated')", name=op.f("ck_job_results_quality")
        ),
        sa.CheckConstraint(
            "sharing IN ('exclusive', 'shared')", name=op.f("ck_job_results_sharing")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_results")),
        sa.UniqueConstraint("job_id", name=op.f("uq_job_results_job_id")),
    )
    op.create_table(
        "energy_intervals",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("interval_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("interval_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("energy_j", sa.Float(), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("sharing", sa.String(length=16), nullable=False),
        sa.CheckConstraint("energy_j >= 0", name=op.f("ck_energy_intervals_energy_j_nonnegative")),
        sa.CheckConstraint(
            "interval_end > interval_start", name=op.f("ck_energy_intervals_interval_positive")
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
        sa.CheckConstraint(
            "method IN ('counter', 'integrated', 'estimated')",
            name=op.f("ck_energy_intervals_method"),
        ),
        sa.CheckConstraint(
            "sharing IN ('exclusive', 'shared')", name=op.f("ck_energy_intervals_sharing")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_energy_intervals")),
        sa.UniqueConstraint(
            "node_id",
            "device_id",
            "job_id",
            "interval_start",
            name=op.f("uq_energy_intervals_node_id_device_id_job_id_interval_start"),
        ),
    )
    op.create_index(
        op.f("ix_energy_intervals_job_id_interval_start"),
        "energy_intervals",
        ["job_id", "interval_start"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_energy_intervals_job_id_interval_start"), table_name="energy_intervals")
    op.drop_table("energy_intervals")
    op.drop_table("job_results")
    op.drop_table("devices")
    op.drop_index(op.f("ix_comment_writes_state"), table_name="comment_writes")
    op.drop_index(op.f("ix_comment_writes_job_id"), table_name="comment_writes")
    op.drop_table("comment_writes")
    op.drop_table("pue_settings")
    op.drop_table("nodes")
    op.drop_index(op.f("ix_jobs_cluster_id_array_job_id"), table_name="jobs")
    op.drop_table("jobs")
    op.drop_table("clusters")
    op.drop_table("carbon_intensity")
