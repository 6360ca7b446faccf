"""What ``advise`` computes: a pending job's shape from Slurm, its power, its CO2e."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from slurm_carbon.config import parse_config
from slurm_carbon.errors import ConfigError
from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.sensors.profiles import ProfilePoint
from slurm_carbon.service.advise import (
    JobShape,
    advise_job,
    defer_word,
    pending_job_shape,
)
from slurm_carbon.slurm.fake import FakeSlurm
from slurm_carbon.store import SessionFactory
from slurm_carbon.store.intensity import add_ci_points
from slurm_carbon.store.profiles import StoredProfile, save_profile
from slurm_carbon.vocabulary import CiKind, CiSignal
from tests.builders import slurm_job

NOW = datetime(2026, 12, 1, 12, 30, tzinfo=UTC)
HOUR = NOW.replace(minute=0)
MODEL = "NVIDIA A100-SXM4-80GB"
CONFIG = parse_config(
    tomllib.loads(
        f"""
cluster = "c1"
[regions]
default = "DE"
[pue]
default = 1.25
[advice]
gpu_power_w = {{ "{MODEL}" = 300 }}
partition_gpu = {{ gpu = "{MODEL}" }}
"""
    )
)


def store_forecast(session: Session, values: list[float]) -> None:
    add_ci_points(
        session,
        [
            CiPoint("DE", HOUR + timedelta(hours=i), 3600, v, "ours", CiKind.FORECAST,
                    CiSignal.AVERAGE, HOUR - timedelta(hours=1))
            for i, v in enumerate(values)
        ],
    )  # fmt: skip


def test_the_site_default_power_gives_the_co2e_now_and_at_the_cleanest_start(
    session: Session, factory: SessionFactory
) -> None:
    store_forecast(session, [400, 400, 100, 400])
    shape = JobShape("gpu", 3600, gpus=2)
    advice = advise_job(factory, CONFIG, shape, NOW, 24 * 3600)
    assert advice is not None
    assert advice.best is not None
    assert advice.best.start == int((HOUR + timedelta(hours=2)).timestamp())
    assert advice.best.saving_pct == pytest.approx(75.0)
    assert advice.power is not None
    assert advice.power.basis == f"site default ({MODEL})"
    # 300 W x 2 GPUs x 1 h = 0.6 kWh; x 400 g/kWh x PUE 1.25.
    assert advice.co2e_g(shape, advice.best.mean_now) == pytest.approx(300.0)
    assert advice.co2e_g(shape, advice.best.mean_best) == pytest.approx(75.0)


def test_a_stored_profile_is_preferred_at_its_highest_limit(
    session: Session, factory: SessionFactory
) -> None:
    store_forecast(session, [400, 400])
    points = (ProfilePoint(200.0, 150.0, 0.8), ProfilePoint(400.0, 350.0, 1.0))
    save_profile(session, StoredProfile(MODEL, "train", "learned", NOW, points))
    advice = advise_job(factory, CONFIG, JobShape("gpu", 3600, 1, "train"), NOW, 3600)
    assert advice is not None
    assert advice.power is not None
    assert (advice.power.power_w, advice.power.basis) == (350.0, f"profile {MODEL} / train")


def test_no_model_no_power_and_nothing_stored_no_advice(
    session: Session, factory: SessionFactory
) -> None:
    store_forecast(session, [400, 400])
    advice = advise_job(factory, CONFIG, JobShape("cpu", 3600, 0), NOW, 3600)
    assert advice is not None
    assert advice.power is None
    assert advice.co2e_g(JobShape("cpu", 3600, 0), 400.0) is None
    with_model = advise_job(factory, CONFIG, JobShape("gpu", 3600, 0), NOW, 3600)
    assert with_model is not None
    assert with_model.co2e_g(JobShape("gpu", 3600, 0), 400.0) is None
    other = CONFIG.model_copy(
        update={"regions": CONFIG.regions.model_copy(update={"default": "PL"})}
    )
    assert advise_job(factory, other, JobShape("gpu", 3600, 1), NOW, 3600) is None


def test_a_pending_jobs_shape_comes_from_slurm() -> None:
    slurm = FakeSlurm(
        slurm_job(7, state="PENDING", partition="gpu", time_limit_s=7200.0, req_gpus=4,
                  name="train", end_time=None, start_time=None),
        slurm_job(8),
        slurm_job(9, state="PENDING", time_limit_s=None, end_time=None, start_time=None),
    )  # fmt: skip
    assert pending_job_shape(slurm, "7") == JobShape("gpu", 7200, 4, "train")
    with pytest.raises(ConfigError, match="not pending"):
        pending_job_shape(slurm, "8")
    with pytest.raises(ConfigError, match="no time limit"):
        pending_job_shape(slurm, "9")
    with pytest.raises(ConfigError, match="not found"):
        pending_job_shape(slurm, "10")


@pytest.mark.parametrize(
    ("delay_s", "word"), [(7200, "carbon_defer=2h"), (5401, "carbon_defer=91m")]
)
def test_the_defer_word_covers_the_delay(delay_s: int, word: str) -> None:
    assert defer_word(delay_s) == word
