"""Busy clock and GPU limit ranges: profiling a job that reports no progress.

``energy_intervals.busy_clock_mhz``: a GPU's mean utilization x SM clock over
the interval (MHz), the online profiler's throughput estimate for a job without
progress; ``devices.min_limit_w`` and ``max_limit_w``: a GPU's power-limit
range as NVML gives it (watts). All nullable: an older agent reports none, and
rows stored before get NULL (not known, never 0 made up). ``power_profiles``
may hold a profile learned from the busy clock, source
``learned:busy-clock-estimate``.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 20:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SOURCE_CHECK = "ck_power_profiles_source_known"
_SOURCES_BEFORE = "source = 'learned' OR source LIKE 'imported:%'"
_SOURCES = (
    "source = 'learned' OR source = 'learned:busy-clock-estimate' OR source LIKE 'imported:%'"
)


def upgrade() -> None:
    with op.batch_alter_table("energy_intervals") as batch:
        batch.add_column(sa.Column("busy_clock_mhz", sa.Float(), nullable=True))
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("min_limit_w", sa.Float(), nullable=True))
        batch.add_column(sa.Column("max_limit_w", sa.Float(), nullable=True))
    with op.batch_alter_table("power_profiles") as batch:
        batch.drop_constraint(op.f(_SOURCE_CHECK), type_="check")
        batch.create_check_constraint(op.f(_SOURCE_CHECK), _SOURCES)


def downgrade() -> None:
    op.execute("DELETE FROM power_profiles WHERE source = 'learned:busy-clock-estimate'")
    with op.batch_alter_table("power_profiles") as batch:
        batch.drop_constraint(op.f(_SOURCE_CHECK), type_="check")
        batch.create_check_constraint(op.f(_SOURCE_CHECK), _SOURCES_BEFORE)
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("max_limit_w")
        batch.drop_column("min_limit_w")
    with op.batch_alter_table("energy_intervals") as batch:
        batch.drop_column("busy_clock_mhz")
