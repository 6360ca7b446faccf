"""Job results: the energy of node parts not measured (a configured fixed power).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 16:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("job_results") as batch:
        batch.add_column(
            sa.Column("other_energy_j", sa.Float(), server_default="0", nullable=False)
        )
        batch.create_check_constraint(
            op.f("ck_job_results_other_energy_j_nonnegative"), "other_energy_j >= 0"
        )


def downgrade() -> None:
    with op.batch_alter_table("job_results") as batch:
        batch.drop_constraint(op.f("ck_job_results_other_energy_j_nonnegative"), type_="check")
        batch.drop_column("other_energy_j")
