"""The overview's figure of what caps saved against the static-cap hull (an estimate)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.service import create_app
from slurm_carbon.service.api import MungeDecoder, ReadAccess
from slurm_carbon.store import ReportedInterval, SessionFactory, ingest_batch
from slurm_carbon.store.intensity import add_ci_points
from slurm_carbon.store.profiles import StoredProfile, save_profile
from slurm_carbon.vocabulary import CiKind, CiSignal, EnergyMethod, Sharing
from tests.builders import JOB_START
from tests.unit.service.test_api_auth import ROOT, SITE, RecordedUnmunge, unmunge, users
from tests.unit.service.test_capping import GPU, KEY, MODEL, POINTS
from tests.unit.service.test_capping_result import END, capped, settled
from tests.unit.service.test_web import login, shown

with warnings.catch_warnings():
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

__all__ = ["unmunge"]  # a fixture, shared

CLEAN, DIRTY = 100.0, 500.0


@pytest.fixture
def client(factory: SessionFactory, unmunge: RecordedUnmunge) -> Iterator[TestClient]:
    access = ReadAccess(site=SITE, decoder=MungeDecoder(runner=unmunge), users=users)
    app = create_app(factory, clock=lambda: END + timedelta(hours=1), read_access=access)
    with TestClient(app) as test_client:
        yield test_client


def _run(session: Session, raw: int, caps_w: tuple[float, float]) -> None:
    """Ten minutes, five at each of ``caps_w``, drawing the profile's power; then settled."""
    power_w = {p.limit_w: p.power_w for p in POINTS}
    intervals = [
        ingest_interval(raw, m, caps_w[m // 5], power_w[caps_w[m // 5]] * 60) for m in range(10)
    ]
    ingest_batch(session, "sclocal", "vm", intervals)
    save_profile(session, StoredProfile(MODEL, KEY, "imported:test.csv", JOB_START, POINTS))
    session.commit()
    capped(session, raw)
    settled(session, raw)
    session.commit()


def ingest_interval(raw: int, minute: int, cap_w: float, energy_j: float) -> ReportedInterval:
    start = JOB_START + timedelta(minutes=minute)
    return ReportedInterval(
        raw,
        GPU,
        start,
        start + timedelta(minutes=1),
        energy_j,
        EnergyMethod.COUNTER,
        Sharing.EXCLUSIVE,
        cap_w=cap_w,
    )


def _clean_then_dirty(session: Session) -> None:
    add_ci_points(
        session,
        [
            CiPoint(
                "SE",
                JOB_START + timedelta(minutes=m),
                300,
                ci,
                "uk",
                CiKind.ACTUAL,
                CiSignal.AVERAGE,
                JOB_START + timedelta(minutes=m),
            )
            for m, ci in ((0, CLEAN), (5, DIRTY))
        ],
    )
    session.commit()


def test_a_job_capped_in_the_dirty_minutes_saved_against_the_hull(
    client: TestClient, session: Session
) -> None:
    _clean_then_dirty(session)
    _run(session, 240, (300.0, 200.0))
    login(client, ROOT)

    page = client.get("/web/").text

    # 75 kJ at 100 g/kWh then 51 kJ at 500: 11.0 g (PUE 1.2); the 300/200 W mix on the
    # hull spreads the same 126 kJ over the ten minutes at the mean 300: 12.6 g.
    assert shown(page, "hull-saving") == (
        "Saved against the best static cap at the same slowdown (estimate): 1.6 g over 1 of 1"
        " finished capped jobs of the last 14 days."
    )


def test_capping_in_the_clean_minutes_is_a_loss(client: TestClient, session: Session) -> None:
    _clean_then_dirty(session)
    _run(session, 241, (200.0, 300.0))
    login(client, ROOT)

    assert "(estimate): -1.6 g over 1 of 1" in shown(client.get("/web/").text, "hull-saving")


def test_without_a_capped_job_there_is_no_figure(client: TestClient) -> None:
    login(client, ROOT)

    assert "no finished capped job" in shown(client.get("/web/").text, "hull-saving")
