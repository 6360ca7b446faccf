"""Job progress: the fractions of their work running jobs reported, by time.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 17:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "job_progress",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fraction", sa.Float(), nullable=False),
        sa.CheckConstraint(
            "fraction >= 0 AND fraction <= 1",
            name=op.f("ck_job_progress_fraction_in_unit_range"),
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["jobs.id"],
            name=op.f("fk_job_progress_job_id_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_progress")),
        sa.UniqueConstraint("job_id", "time", name=op.f("uq_job_progress_job_id_time")),
    )


def downgrade() -> None:
    op.drop_table("job_progress")
