"""Results: a capped job's slowdown against its own profile, its nominal time, the profile.

``job_results``: ``slowdown`` (run time over the nominal time, less one),
``nominal_s`` (the work done, as seconds at the profile's highest limit) and
``slowdown_profile`` (the profile measured against: "GPU model / workload key,
source"), all three or none; existing rows get NULL (not computed then, never
0 made up).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 19:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHECKS = {
    "ck_job_results_slowdown_of_positive_nominal": "slowdown > -1 AND nominal_s > 0",
    "ck_job_results_slowdown_whole": (
        "(slowdown IS NULL) = (nominal_s IS NULL)"
        " AND (slowdown IS NULL) = (slowdown_profile IS NULL)"
    ),
}


def upgrade() -> None:
    with op.batch_alter_table("job_results") as batch:
        batch.add_column(sa.Column("slowdown", sa.Float(), nullable=True))
        batch.add_column(sa.Column("nominal_s", sa.Float(), nullable=True))
        batch.add_column(sa.Column("slowdown_profile", sa.Text(), nullable=True))
        for name, condition in _CHECKS.items():
            batch.create_check_constraint(op.f(name), condition)


def downgrade() -> None:
    with op.batch_alter_table("job_results") as batch:
        for name in _CHECKS:
            batch.drop_constraint(op.f(name), type_="check")
        for column in ("slowdown_profile", "nominal_s", "slowdown"):
            batch.drop_column(column)
