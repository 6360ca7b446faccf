"""Jobs' progress in the store: idempotent, merged across nodes, read oldest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from slurm_carbon.store import JobProgress, ProgressPoint, job_progress, upsert_job
from slurm_carbon.store.progress import add_progress

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def _count(session: Session) -> int:
    return session.execute(select(func.count()).select_from(JobProgress)).scalar_one()


def test_progress_is_read_back_oldest_first_as_aware_utc(session: Session, ids: Any) -> None:
    later = ProgressPoint(T0 + timedelta(seconds=60), 0.5)
    earlier = ProgressPoint(T0, 0.25)
    assert add_progress(session, [(ids.job_id, later), (ids.job_id, earlier)]) == 2
    points = job_progress(session, ids.job_id)
    assert points == [earlier, later]
    assert points[0].time.utcoffset() == timedelta(0)


def test_a_resent_batch_adds_nothing(session: Session, ids: Any) -> None:
    batch = [(ids.job_id, ProgressPoint(T0 + timedelta(seconds=i), i / 10)) for i in range(3)]
    assert add_progress(session, batch) == 3
    assert add_progress(session, batch) == 0
    assert _count(session) == 3


def test_two_nodes_at_one_time_keep_the_larger_fraction(session: Session, ids: Any) -> None:
    add_progress(session, [(ids.job_id, ProgressPoint(T0, 0.3))])
    assert add_progress(session, [(ids.job_id, ProgressPoint(T0, 0.7))]) == 1
    assert add_progress(session, [(ids.job_id, ProgressPoint(T0, 0.1))]) == 0
    assert job_progress(session, ids.job_id) == [ProgressPoint(T0, 0.7)]


def test_another_jobs_progress_is_not_read(session: Session, ids: Any) -> None:
    other = upsert_job(session, ids.cluster_id, 4343)
    add_progress(session, [(other.id, ProgressPoint(T0, 0.9))])
    assert job_progress(session, ids.job_id) == []
    assert add_progress(session, []) == 0


def test_the_database_refuses_a_fraction_above_one(session: Session, ids: Any) -> None:
    with pytest.raises(IntegrityError), session.begin_nested():
        add_progress(session, [(ids.job_id, ProgressPoint(T0, 1.5))])
