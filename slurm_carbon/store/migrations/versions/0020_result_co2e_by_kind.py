"""A result's CO2e by device kind: ``job_results.gpu/cpu/dram/other_co2e_g``.

Each is the part of ``co2e_g`` used by that kind, each part of its energy at
its own carbon intensity and PUE, as the footprint computes it (the total split
by energy share would be wrong: kinds draw at different times). All four or
none, each >= 0; existing rows get NULL (settled before this revision, never a
split made up).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02 03:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("gpu_co2e_g", "cpu_co2e_g", "dram_co2e_g", "other_co2e_g")
_CHECKS = {
    "ck_job_results_co2e_g_split_whole": (
        "(cpu_co2e_g IS NULL) = (gpu_co2e_g IS NULL)"
        " AND (dram_co2e_g IS NULL) = (gpu_co2e_g IS NULL)"
        " AND (other_co2e_g IS NULL) = (gpu_co2e_g IS NULL)"
    ),
    "ck_job_results_co2e_g_split_nonnegative": (
        "gpu_co2e_g >= 0 AND cpu_co2e_g >= 0 AND dram_co2e_g >= 0 AND other_co2e_g >= 0"
    ),
}


def upgrade() -> None:
    with op.batch_alter_table("job_results") as batch:
        for column in _COLUMNS:
            batch.add_column(sa.Column(column, sa.Float(), nullable=True))
        for name, condition in _CHECKS.items():
            batch.create_check_constraint(op.f(name), condition)


def downgrade() -> None:
    with op.batch_alter_table("job_results") as batch:
        for name in _CHECKS:
            batch.drop_constraint(op.f(name), type_="check")
        for column in reversed(_COLUMNS):
            batch.drop_column(column)
