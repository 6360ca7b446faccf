"""Job names, and indexes for reports by user and time.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 15:54:15.271946
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("name", sa.Text(), nullable=True))
        batch.create_index("ix_jobs_end_time", ["end_time"], unique=False)
        batch.create_index("ix_jobs_user_name_end_time", ["user_name", "end_time"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_user_name_end_time")
        batch.drop_index("ix_jobs_end_time")
        batch.drop_column("name")
