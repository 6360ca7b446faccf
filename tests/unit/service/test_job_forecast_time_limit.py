"""forecast_job without progress: bounded by the job's time limit and its past power."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from slurm_carbon.service.job_forecast import NoForecast, forecast_job
from slurm_carbon.slurm import SlurmJob
from slurm_carbon.vocabulary import TIME_LIMIT_BOUND
from tests.builders import slurm_job
from tests.unit.service.test_job_forecast import NOW, SITE, T0, Flat, store_minutes

#: The GPU draws 400 W for 10 minutes, then 200 W for 10; the CPU 50 W throughout (CPU_W).
GPU_W = (400.0, 200.0)
#: Mean power so far (300 + 50 W) and the highest minute's (400 + 50 W).
MEAN_W, HIGHEST_W = 350.0, 450.0
#: A one-hour time limit: 40 minutes left at NOW (20 minutes in).
LIMIT_S, LEFT_S = 3600.0, 40 * 60.0


def _job(time_limit_s: float | None) -> SlurmJob:
    return slurm_job(
        78,
        start_time=T0,
        end_time=None,
        state="RUNNING",
        node_list="gpu01",
        comment="",
        time_limit_s=time_limit_s,
    )


def _store(session: Session, job: SlurmJob) -> None:
    store_minutes(session, 20, {}, job=job, gpu_w=lambda minute: GPU_W[minute // 10])


def test_without_progress_the_time_limit_bounds_the_remaining_energy(session: Session) -> None:
    job = _job(LIMIT_S)
    _store(session, job)

    found = forecast_job(session, job, site=SITE, intensity=Flat(), now=NOW)

    assert (found.method, found.bound, found.progress, found.end_time) == (
        TIME_LIMIT_BOUND,
        True,
        None,
        None,
    )
    assert found.remaining_energy_j == pytest.approx(MEAN_W * LEFT_S)
    assert found.remaining_energy_low_j == 0.0
    assert found.remaining_energy_high_j == pytest.approx(HIGHEST_W * LEFT_S)
    assert found.remaining_co2e_high_g > found.remaining_co2e_g > 0


def test_past_its_time_limit_nothing_remains(session: Session) -> None:
    job = _job(10 * 60.0)
    _store(session, job)

    found = forecast_job(session, job, site=SITE, intensity=Flat(), now=NOW)

    assert (found.remaining_energy_j, found.remaining_energy_high_j) == (0.0, 0.0)


def test_without_progress_or_time_limit_there_is_no_forecast(session: Session) -> None:
    job = _job(None)
    _store(session, job)

    with pytest.raises(NoForecast, match="job 78: no progress reported, and no time limit"):
        forecast_job(session, job, site=SITE, intensity=Flat(), now=NOW)
