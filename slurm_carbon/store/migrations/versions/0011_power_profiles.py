"""Power profiles: a GPU model's power and throughput per limit, per workload key.

Learned online by the profiling state machine or imported from a file; one per
(GPU model, workload key), its points in a child table.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 17:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "power_profiles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("gpu_model", sa.String(length=128), nullable=False),
        sa.Column("workload_key", sa.String(length=255), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "source = 'learned' OR source LIKE 'imported:%'",
            name=op.f("ck_power_profiles_source_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_power_profiles")),
        sa.UniqueConstraint(
            "gpu_model", "workload_key", name=op.f("uq_power_profiles_gpu_model_workload_key")
        ),
    )
    op.create_table(
        "power_profile_points",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("profile_id", sa.Integer(), nullable=False),
        sa.Column("limit_w", sa.Float(), nullable=False),
        sa.Column("power_w", sa.Float(), nullable=False),
        sa.Column("throughput", sa.Float(), nullable=False),
        sa.CheckConstraint("limit_w > 0", name=op.f("ck_power_profile_points_limit_w_positive")),
        sa.CheckConstraint("power_w > 0", name=op.f("ck_power_profile_points_power_w_positive")),
        sa.CheckConstraint(
            "throughput > 0", name=op.f("ck_power_profile_points_throughput_positive")
        ),
        sa.ForeignKeyConstraint(
            ["profile_id"],
            ["power_profiles.id"],
            name=op.f("fk_power_profile_points_profile_id_power_profiles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_power_profile_points")),
        sa.UniqueConstraint(
            "profile_id", "limit_w", name=op.f("uq_power_profile_points_profile_id_limit_w")
        ),
    )


def downgrade() -> None:
    op.drop_table("power_profile_points")
    op.drop_table("power_profiles")
