"""Budget actions: what was done, once per job, to a job whose forecast exceeded its budget.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 18:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "budget_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("budget", sa.Float(), nullable=False),
        sa.Column("forecast", sa.Float(), nullable=False),
        sa.Column("forecast_low", sa.Float(), nullable=False),
        sa.Column("forecast_high", sa.Float(), nullable=False),
        sa.Column("progress", sa.Float(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("outcome_message", sa.Text(), nullable=True),
        sa.CheckConstraint("action IN ('notify', 'cancel')", name=op.f("ck_budget_actions_action")),
        sa.CheckConstraint("kind IN ('co2e', 'energy')", name=op.f("ck_budget_actions_kind")),
        sa.CheckConstraint(
            "outcome IN ('pending', 'done', 'failed')", name=op.f("ck_budget_actions_outcome")
        ),
        sa.CheckConstraint("budget > 0", name=op.f("ck_budget_actions_budget_positive")),
        sa.CheckConstraint(
            "forecast_low <= forecast_high",
            name=op.f("ck_budget_actions_forecast_interval_ordered"),
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["jobs.id"],
            name=op.f("fk_budget_actions_job_id_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budget_actions")),
        sa.UniqueConstraint("job_id", name=op.f("uq_budget_actions_job_id")),
    )


def downgrade() -> None:
    op.drop_table("budget_actions")
