"""Progress end to end on the real cluster: sim work -> the file -> agent -> service -> store."""

from __future__ import annotations

import time

import pytest

from slurm_carbon.store import ProgressPoint, job_progress, make_engine, session_factory
from slurm_carbon.store.results import find_job
from tests.integration.conftest import Rig

pytestmark = pytest.mark.integration

#: Seconds for the job to run (12 units at 1 s each) and its points to be shipped.
DEADLINE_S = 90


def _progress(rig: Rig, job_id: str) -> list[ProgressPoint]:
    engine = make_engine(rig.service.db_url)
    try:
        with session_factory(engine)() as session:
            job = find_job(session, "sclocal", int(job_id))
            return [] if job is None else job_progress(session, job.id)
    finally:
        engine.dispose()


def test_a_sim_jobs_progress_reaches_the_store(rig: Rig) -> None:
    job_id = rig.submit_work("--gres=gpu:1", units=12)

    deadline = time.monotonic() + DEADLINE_S
    points = _progress(rig, job_id)
    while not points or points[-1].fraction < 1.0:
        if time.monotonic() > deadline:
            pytest.fail(f"job {job_id}: progress {points}\n{rig.log_tails()}")
        time.sleep(0.5)
        points = _progress(rig, job_id)

    fractions = [point.fraction for point in points]
    assert fractions == sorted(fractions)
    assert len(fractions) >= 2  # every 5 s of 12 s of work, and the end
    assert 0 < fractions[0] < 1.0
    times = [point.time for point in points]
    assert (times[-1] - times[0]).total_seconds() > 5
