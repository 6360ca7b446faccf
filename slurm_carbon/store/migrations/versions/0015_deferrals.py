"""Deferral decisions: one per job submitted with carbon_defer, and its measured saving.

``deferrals``: the delay asked, the submit time, the begin time Slurm holds, the
counterfactual start (the submit time), the expected saving recomputed from the
forecast stored at submit time (its source and issue time), and the saving measured
once the job has ended.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 20:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deferrals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("asked_s", sa.Integer(), nullable=False),
        sa.Column("submit_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("eligible_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("counterfactual_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expected_saving_pct", sa.Float(), nullable=True),
        sa.Column("forecast_source", sa.String(length=64), nullable=True),
        sa.Column("forecast_issued", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("measured_saving_g", sa.Float(), nullable=True),
        sa.Column("measured_saving_pct", sa.Float(), nullable=True),
        sa.CheckConstraint("asked_s > 0", name=op.f("ck_deferrals_asked_s_positive")),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["jobs.id"],
            name=op.f("fk_deferrals_job_id_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deferrals")),
        sa.UniqueConstraint("job_id", name=op.f("uq_deferrals_job_id")),
    )


def downgrade() -> None:
    op.drop_table("deferrals")
