from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from slurm_carbon.store import Job

CEST = timezone(timedelta(hours=2))


def test_aware_time_round_trips_as_utc(session: Session, ids: Any) -> None:
    job = session.get(Job, ids.job_id)
    assert job is not None
    job.start_time = datetime(2024, 6, 1, 14, 30, 15, 250000, tzinfo=CEST)
    session.flush()
    session.expire_all()
    stored = session.execute(select(Job.start_time).where(Job.id == ids.job_id)).scalar_one()
    assert stored == datetime(2024, 6, 1, 12, 30, 15, 250000, tzinfo=UTC)
    assert stored.tzinfo is UTC


def test_times_compare_in_utc_in_queries(session: Session, ids: Any) -> None:
    job = session.get(Job, ids.job_id)
    assert job is not None
    job.start_time = datetime(2024, 6, 1, 1, 0, tzinfo=CEST)  # 2024-05-31 23:00 UTC
    session.flush()
    before_midnight = select(Job.id).where(Job.start_time < datetime(2024, 6, 1, tzinfo=UTC))
    assert session.execute(before_midnight).scalars().all() == [ids.job_id]


def test_naive_time_is_refused(session: Session, ids: Any) -> None:
    job = session.get(Job, ids.job_id)
    assert job is not None
    job.start_time = datetime(2024, 6, 1, 12, 0)  # noqa: DTZ001 (the point of the test)
    with pytest.raises(StatementError, match="naive datetime"):
        session.flush()
    session.rollback()
