"""Jobs: Slurm's time limit (TimelimitRaw), in seconds; NULL when UNLIMITED or not known.

Existing rows get NULL: the time limit is read again from sacct the next time
the job is stored.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 17:35:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("time_limit_s", sa.Float(), nullable=True))
        batch.create_check_constraint(op.f("ck_jobs_time_limit_s_nonnegative"), "time_limit_s >= 0")


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_constraint(op.f("ck_jobs_time_limit_s_nonnegative"), type_="check")
        batch.drop_column("time_limit_s")
