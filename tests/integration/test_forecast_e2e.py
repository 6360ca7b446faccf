"""A running job's remaining-energy forecast on the real cluster, against what it then used.

A ``sim work`` job on one simulated GPU reports its progress (every 5 s) through
the Prolog's file; the agent ships intervals and progress to the service. Once
the store holds a report of at least 10 % of the work, the job is forecast as
the writer forecasts it (:func:`~slurm_carbon.service.job_forecast.forecast_job`);
when it has ended and every interval is stored, the energy it used after the
forecast is the ground truth the forecast is held to (issue 10: within 5 %).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from slurm_carbon.intensity.embedded import EmbeddedAnnual
from slurm_carbon.service.job_forecast import JobForecast, forecast_job
from slurm_carbon.service.results import stored_footprint
from slurm_carbon.service.site import StaticSite
from slurm_carbon.slurm import CommandLineSlurm, JobQuery, SlurmJob, SubprocessRunner
from slurm_carbon.store import job_progress, make_engine, session_factory
from slurm_carbon.store.results import find_job
from slurm_carbon.units import J_PER_KWH
from tests.integration.conftest import Rig

pytestmark = pytest.mark.integration

#: Work of the job: 100 units at the synthetic profile's 1 unit/s, so 10 % is reached
#: after two or three of the agent's 5 s intervals.
UNITS = 100
#: Seconds for the job to run and its last intervals to be stored.
DEADLINE_S = 200
#: The issue's bound on the remaining-energy error after 10 % of the work.
TOLERANCE = 0.05
SITE = StaticSite("SE", 1.2)


def _slurm_job(rig: Rig, job_id: str) -> SlurmJob:
    slurm = CommandLineSlurm(SubprocessRunner(env=rig.cluster.env))
    return next(job for job in slurm.jobs(JobQuery(job_ids=[job_id])) if job.job_id == job_id)


def _forecast_after_a_tenth(rig: Rig, job_id: str) -> JobForecast:
    """The job's forecast once a stored report says 10 % and an interval ends after it."""
    engine = make_engine(rig.service.db_url)
    deadline = time.monotonic() + DEADLINE_S
    try:
        factory = session_factory(engine)
        while time.monotonic() < deadline:
            with factory() as session:
                stored = find_job(session, "sclocal", int(job_id))
                reported = [] if stored is None else job_progress(session, stored.id)
                if reported and reported[-1].fraction >= 0.1:
                    job = _slurm_job(rig, job_id)
                    assert job.state == "RUNNING", job
                    return forecast_job(
                        session, job, site=SITE, intensity=EmbeddedAnnual(), now=datetime.now(UTC)
                    )
            time.sleep(0.5)
    finally:
        engine.dispose()
    pytest.fail(f"job {job_id}: no 10 % report stored in {DEADLINE_S} s\n{rig.log_tails()}")


def _used_in_all_j(rig: Rig, job_id: str) -> float:
    """The energy the ended job used in all, as its result is computed."""
    rig.cluster.wait_for_job(job_id, timeout_s=DEADLINE_S)
    rig.wait_for(lambda: not rig.agent_holds(job_id), "the agent shipping the job's last intervals")
    job = _slurm_job(rig, job_id)
    engine = make_engine(rig.service.db_url)
    try:
        with session_factory(engine)() as session:
            stored = find_job(session, "sclocal", int(job_id))
            assert stored is not None
            assert job.end_time is not None
            found = stored_footprint(
                session,
                stored.id,
                label=job.job_id,
                partition=job.partition,
                node_list=job.node_list,
                run=(job.start_time, job.end_time),
                site=SITE,
                intensity=EmbeddedAnnual(),
            )
    finally:
        engine.dispose()
    return found.figures.device_kwh * J_PER_KWH


def test_a_job_reporting_progress_is_forecast_within_5_percent_after_a_tenth(rig: Rig) -> None:
    job_id = rig.submit_work("--gres=gpu:1", units=UNITS)

    forecast = _forecast_after_a_tenth(rig, job_id)
    truth_j = _used_in_all_j(rig, job_id) - forecast.energy_so_far_j

    assert forecast.method == "observed"
    assert forecast.progress is not None
    assert 0.1 <= forecast.progress < 0.5
    error = abs(forecast.remaining_energy_j - truth_j) / truth_j
    print(f"forecast {forecast.remaining_energy_j:.0f} J, truth {truth_j:.0f} J, {error:.2%}")
    assert error <= TOLERANCE, (forecast, truth_j, error)
    assert forecast.remaining_energy_low_j <= truth_j <= forecast.remaining_energy_high_j
