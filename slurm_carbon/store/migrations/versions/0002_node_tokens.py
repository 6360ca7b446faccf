"""Node tokens: the SHA-256 of each node's bearer token for the ingest API.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 15:26:43.231060
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "node_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["node_id"],
            ["nodes.id"],
            name=op.f("fk_node_tokens_node_id_nodes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_node_tokens")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_node_tokens_token_sha256")),
    )
    op.create_index(op.f("ix_node_tokens_node_id"), "node_tokens", ["node_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_node_tokens_node_id"), table_name="node_tokens")
    op.drop_table("node_tokens")
