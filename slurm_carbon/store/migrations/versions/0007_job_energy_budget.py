"""Jobs: the energy budget their comment gives (``energy_budget=12kWh``), in joules.

Existing rows get NULL: their budgets are read again from the comment the next
time the job is stored.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 17:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("budget_energy_j", sa.Float(), nullable=True))
        batch.create_check_constraint(
            op.f("ck_jobs_budget_energy_j_nonnegative"), "budget_energy_j >= 0"
        )


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_constraint(op.f("ck_jobs_budget_energy_j_nonnegative"), type_="check")
        batch.drop_column("budget_energy_j")
