"""Cap decisions, and the power limit in force over each GPU interval.

``cap_decisions``: the GPU power limits the service decided per job and
period, and why. ``energy_intervals.cap_w``: the limit in force over the
interval; existing intervals get NULL (not known).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 18:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("energy_intervals") as batch:
        batch.add_column(sa.Column("cap_w", sa.Float(), nullable=True))
    op.create_table(
        "cap_decisions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("device", sa.String(length=96), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("power_limit_w", sa.Float(), nullable=False),
        sa.Column("policy", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "power_limit_w > 0", name=op.f("ck_cap_decisions_power_limit_w_positive")
        ),
        sa.CheckConstraint(
            "period_end > period_start", name=op.f("ck_cap_decisions_period_positive")
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["jobs.id"],
            name=op.f("fk_cap_decisions_job_id_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cap_decisions")),
        sa.UniqueConstraint(
            "job_id",
            "device",
            "period_start",
            name=op.f("uq_cap_decisions_job_id_device_period_start"),
        ),
    )
    op.create_index(op.f("ix_cap_decisions_period_end"), "cap_decisions", ["period_end"])


def downgrade() -> None:
    op.drop_index(op.f("ix_cap_decisions_period_end"), table_name="cap_decisions")
    op.drop_table("cap_decisions")
    with op.batch_alter_table("energy_intervals") as batch:
        batch.drop_column("cap_w")
