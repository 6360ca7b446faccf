"""Jobs' progress in the store: idempotent writes, and a job's progress read back.

A running job says how far it is (``slurm_carbon.progress``); its nodes' agents
report that as (time, fraction) points, stored one per (job, time). When
several nodes of one job report the same time, the largest fraction is kept,
so the order in which nodes' batches arrive does not matter and a re-sent
batch changes nothing. Both functions work in the caller's transaction.
Units: ``fraction`` of the job's work done, 0..1; times are aware UTC datetimes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from slurm_carbon.store.models import JobProgress
from slurm_carbon.store.repositories import _insert

__all__ = ["ProgressPoint", "add_progress", "job_progress"]


@dataclass(frozen=True)
class ProgressPoint:
    """A job's reported progress at a time. Units: ``fraction`` 0..1 of its work."""

    time: datetime  # aware UTC
    fraction: float  # 0..1


def add_progress(session: Session, points: Iterable[tuple[int, ProgressPoint]]) -> int:
    """Store (jobs.id, point) pairs; return how many rows were added or raised.

    A point whose (job, time) is stored already raises the stored fraction when
    it is larger and is otherwise skipped, so a re-sent batch returns 0.
    """
    rows = [
        {"job_id": job_id, "time": point.time, "fraction": point.fraction}
        for job_id, point in points
    ]
    if not rows:
        return 0
    insert = _insert(session, JobProgress)
    statement = insert.on_conflict_do_update(
        index_elements=["job_id", "time"],
        set_={"fraction": insert.excluded.fraction},
        where=insert.excluded.fraction > JobProgress.fraction,
    ).returning(JobProgress.id)
    return len(session.execute(statement, rows).all())


def job_progress(session: Session, job_id: int) -> list[ProgressPoint]:
    """The progress job ``job_id`` (``jobs.id``) reported, oldest first, all nodes merged."""
    query = (
        select(JobProgress.time, JobProgress.fraction)
        .where(JobProgress.job_id == job_id)
        .order_by(JobProgress.time)
    )
    return [ProgressPoint(time=row.time, fraction=row.fraction) for row in session.execute(query)]
