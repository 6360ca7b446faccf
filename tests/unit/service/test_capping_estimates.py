"""CapDecider: a fraction of the work reported earlier is not the fraction done now.

The agent ships the progress a job reported seconds (or longer) after the fact;
the ``carbon`` policy takes the job's total from the work done when it was reported.
(The time after the last stored interval: ``test_capping.py``'s slowdown so far.)
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from slurm_carbon.store import Job, SessionFactory
from slurm_carbon.store.progress import ProgressPoint, add_progress
from tests.builders import JOB_START
from tests.unit.service.test_capping import NOW, decider, forecast, measure, running


def test_the_total_comes_from_the_work_done_when_the_fraction_was_reported(
    session: Session, factory: SessionFactory
) -> None:
    measure(session, 221)  # at 300 W, no time lost
    job_id = session.execute(select(Job.id).where(Job.slurm_job_id == 221)).scalar_one()
    # A tenth done 5 minutes in: 3000 s in all, 600 s of work left 40 minutes in,
    # 675 s to its deadline: 200 W (95 %) is fast enough. Taken as a tenth done
    # now, the job would need 21600 s of work in 22200 s: 275 W (97.5 %).
    add_progress(session, [(job_id, ProgressPoint(JOB_START + timedelta(minutes=5), 0.1))])
    session.commit()
    forecast(session, [400.0] * 48)

    record = decider(factory, policy="carbon").decide(running(221), NOW)

    assert record is not None
    assert record.power_limit_w == 200.0


@pytest.mark.parametrize(("fraction", "limit_w"), [(0.6, 200.0), (0.53, 275.0)])
def test_the_plan_keeps_in_reserve_what_a_late_pull_can_cost(
    session: Session, factory: SessionFactory, fraction: float, limit_w: float
) -> None:
    raw = 222 if fraction == 0.6 else 223
    measure(session, raw)  # at 300 W, 2400 s of work done 40 minutes in
    job_id = session.execute(select(Job.id).where(Job.slurm_job_id == raw)).scalar_one()
    add_progress(session, [(job_id, ProgressPoint(NOW, fraction))])
    session.commit()
    forecast(session, [400.0] * 48)

    record = decider(factory, policy="carbon").decide(running(raw), NOW)

    assert record is not None
    # 0.53 done: 2128 s of work in the 2242 s to the deadline, 94.9 % of the speed,
    # which 200 W (95 %) gives; less the reserve (a pull 30 s late at the profile's
    # slowest limit, 60 %: 12 s), 95.5 %: 275 W, the next limit on the profile's
    # envelope. 0.6 done: 94.1 %, 94.8 % with it: 200 W still.
    assert record.power_limit_w == limit_w
