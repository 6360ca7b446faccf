"""A finished capped job's result carries its slowdown against its own profile (both databases)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from slurm_carbon.errors import IntensityUnavailable
from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.service.results import settle_result
from slurm_carbon.service.site import StaticSite
from slurm_carbon.slurm import SlurmJob
from slurm_carbon.store.caps import CapDecisionRecord, record_decision
from slurm_carbon.store.figures import JobFigures
from slurm_carbon.store.results import find_job, get_result
from slurm_carbon.vocabulary import CiKind, CiSignal
from tests.builders import JOB_START, slurm_job
from tests.unit.service.test_capping import KEY, measure

SITE = StaticSite("SE", 1.2)
END = JOB_START + timedelta(minutes=10)


class Flat:
    """100 gCO2e/kWh at every hour."""

    name = "flat"

    def history(self, region: str, start: datetime, end: datetime) -> list[CiPoint]:
        hour = start.replace(minute=0, second=0, microsecond=0)
        return [
            CiPoint(region, hour, 3600, 100.0, "flat", CiKind.ACTUAL, CiSignal.AVERAGE, hour),
        ]

    def forecast(self, region: str, start: datetime, hours: int) -> list[CiPoint]:
        raise IntensityUnavailable(f"no forecast for {region} from {start} ({hours} h)")


def ended(raw: int) -> SlurmJob:
    return slurm_job(raw, end_time=END, elapsed_s=600, comment=f"carbon_profile={KEY}")


def capped(session: Session, raw: int) -> None:
    """One decision for the job: 200 W over its ten minutes."""
    stored = find_job(session, "sclocal", raw)
    assert stored is not None
    record_decision(
        session,
        CapDecisionRecord(stored.id, None, JOB_START, END, 200.0, "static", "static", JOB_START),
    )
    session.commit()


def settled(session: Session, raw: int) -> JobFigures:
    return settle_result(session, ended(raw), SITE, Flat(), END).values


def test_a_capped_jobs_result_says_its_slowdown_against_its_profile(session: Session) -> None:
    measure(session, 231, cap_w=200.0)  # ten minutes at 200 W: 95 % of the work at 300 W
    capped(session, 231)

    values = settled(session, 231)

    # 600 s x 5 % lost: 570 s nominal, 600 / 570 - 1 = 5.26 % slower.
    assert values.slowdown == pytest.approx(600 / 570 - 1)
    assert values.nominal_s == pytest.approx(570.0)
    assert values.slowdown_profile == f"Simulated V100 / {KEY}, imported:test.csv"


def test_the_slowdown_is_stored_with_the_result(session: Session) -> None:
    measure(session, 232, cap_w=200.0)
    capped(session, 232)
    settled(session, 232)
    session.commit()

    stored = find_job(session, "sclocal", 232)
    assert stored is not None
    row = get_result(session, stored.id)
    assert row is not None
    assert (row.slowdown, row.nominal_s) == pytest.approx((600 / 570 - 1, 570.0))


def test_a_job_never_capped_has_no_slowdown_not_zero(session: Session) -> None:
    measure(session, 233, cap_w=300.0)  # limits known, a profile stored, but no decision

    values = settled(session, 233)

    assert (values.slowdown, values.nominal_s, values.slowdown_profile) == (None, None, None)


def test_a_capped_job_without_a_stored_profile_has_no_slowdown(session: Session) -> None:
    measure(session, 234, profile=False, cap_w=200.0)
    capped(session, 234)

    assert settled(session, 234).slowdown is None
