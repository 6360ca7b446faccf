"""Node health: each node's latest spool backlog and dead letters, as its agent reports them.

``nodes.spool_backlog`` (rows waiting in the agent's spool besides the batch
that carried the report), ``nodes.dead_letters`` (batches the agent keeps
refused) and ``nodes.health_at`` (when the service received it); null for a
node whose agent has not reported them.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 23:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("nodes") as batch:
        batch.add_column(sa.Column("spool_backlog", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("dead_letters", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("health_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("nodes") as batch:
        batch.drop_column("health_at")
        batch.drop_column("dead_letters")
        batch.drop_column("spool_backlog")
