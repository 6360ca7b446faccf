"""A result's node coverage: the share of the job's node-time its intervals cover.

``job_results.node_coverage`` (0..1; NULL: the job's node list is not known, or
the result predates this revision) and ``job_results.missing_nodes`` (the nodes
of its node list that reported nothing, comma-separated; NULL: none).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 23:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHECK = ("ck_job_results_node_coverage_share", "node_coverage >= 0 AND node_coverage <= 1")


def upgrade() -> None:
    with op.batch_alter_table("job_results") as batch:
        batch.add_column(sa.Column("node_coverage", sa.Float(), nullable=True))
        batch.add_column(sa.Column("missing_nodes", sa.Text(), nullable=True))
        batch.create_check_constraint(op.f(_CHECK[0]), _CHECK[1])


def downgrade() -> None:
    with op.batch_alter_table("job_results") as batch:
        batch.drop_constraint(op.f(_CHECK[0]), type_="check")
        batch.drop_column("missing_nodes")
        batch.drop_column("node_coverage")
