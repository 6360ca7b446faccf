"""Heterogeneous job components: ``jobs.het_job_id`` and ``jobs.het_job_offset``.

A het job's component is a job of its own (``slurm_job_id`` its raw id, 844);
these keep how sacct names it (``843+1``: the leader's id and the offset), null
for any other job, with an index on ``(cluster_id, het_job_id)`` so that
``report -j 843`` finds every component, as arrays' ``array_job_id`` does.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02 00:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("het_job_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("het_job_offset", sa.Integer(), nullable=True))
        batch.create_index(
            op.f("ix_jobs_cluster_id_het_job_id"), ["cluster_id", "het_job_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index(op.f("ix_jobs_cluster_id_het_job_id"))
        batch.drop_column("het_job_offset")
        batch.drop_column("het_job_id")
