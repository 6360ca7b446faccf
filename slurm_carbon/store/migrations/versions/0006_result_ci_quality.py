"""Results say their CI's quality in columns, not in source names; CI points say they are synthetic.

``job_results``: ``ci_source`` becomes text (no longer cut to 64 characters);
``ci_annual`` and ``ci_synthetic`` flags, filled for existing rows from what
was stored (a source named ``...annual...``, a source ``synthetic``: the rules
the report and the payload used until now); ``ci_actual_share``,
``ci_forecast_share`` and ``ci_annual_share``, NULL for existing rows (not
recorded then). ``carbon_intensity``: a ``synthetic`` flag, set for existing
points of the source ``synthetic`` (the demo's made-up day).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 17:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SHARES = ("ci_actual_share", "ci_forecast_share", "ci_annual_share")


def upgrade() -> None:
    with op.batch_alter_table("job_results") as batch:
        batch.alter_column(
            "ci_source", existing_type=sa.String(length=64), type_=sa.Text(), existing_nullable=True
        )
        for flag in ("ci_annual", "ci_synthetic"):
            batch.add_column(
                sa.Column(flag, sa.Boolean(), nullable=False, server_default=sa.false())
            )
        for share in _SHARES:
            batch.add_column(sa.Column(share, sa.Float(), nullable=True))
    op.execute(
        "UPDATE job_results SET"
        " ci_annual = (lower(ci_source) LIKE '%annual%'),"
        " ci_synthetic = (',' || ci_source || ',' LIKE '%,synthetic,%')"
        " WHERE ci_source IS NOT NULL"
    )
    with op.batch_alter_table("carbon_intensity") as batch:
        batch.add_column(
            sa.Column("synthetic", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.execute("UPDATE carbon_intensity SET synthetic = (source = 'synthetic')")


def downgrade() -> None:
    with op.batch_alter_table("carbon_intensity") as batch:
        batch.drop_column("synthetic")
    # The old column holds 64 characters: longer source lists are cut, as they were then.
    op.execute("UPDATE job_results SET ci_source = substr(ci_source, 1, 64)")
    with op.batch_alter_table("job_results") as batch:
        for column in ("ci_annual", "ci_synthetic", *_SHARES):
            batch.drop_column(column)
        batch.alter_column(
            "ci_source", existing_type=sa.Text(), type_=sa.String(length=64), existing_nullable=True
        )
