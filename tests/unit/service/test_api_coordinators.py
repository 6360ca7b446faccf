"""Slurm account coordinators through the read API, where the site enables them.

bob (chemistry) coordinates physics (alice's account); carol (bio) nothing.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from slurm_carbon.config import parse_config
from slurm_carbon.errors import SlurmError
from slurm_carbon.service import create_app
from slurm_carbon.service.api import MungeDecoder, ReadAccess
from slurm_carbon.slurm.fake import FakeSlurm
from slurm_carbon.store import SessionFactory
from tests.unit.cli.test_report_data import NOW, seed
from tests.unit.service.test_api_auth import (
    BOB,
    GOOD,
    SITE_FIELDS,
    RecordedUnmunge,
    get,
    job_ids,
    users,
)

with warnings.catch_warnings():
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

REFUSAL = "bob may only see their own jobs and those of account physics"


class SlurmDown(FakeSlurm):
    def coordinated_accounts(self, user: str) -> list[str]:
        raise SlurmError(f"sacctmgr show user failed: {user}: connection refused")


def app_client(
    session: Session, factory: SessionFactory, slurm: FakeSlurm, *, enabled: bool = True
) -> TestClient:
    seed(session)
    session.commit()
    site = parse_config({**SITE_FIELDS, "api": {"coordinators": enabled}})
    # The site's choice, as the service makes it; recorded credentials and users.
    coordinators = ReadAccess.for_site(site, slurm).coordinators
    access = ReadAccess(
        site=site,
        decoder=MungeDecoder(runner=RecordedUnmunge()),
        users=users,
        coordinators=coordinators,
    )
    return TestClient(create_app(factory, clock=lambda: NOW, read_access=access))


@pytest.fixture
def client(session: Session, factory: SessionFactory) -> Iterator[TestClient]:
    slurm = FakeSlurm(coordinators={"bob": ["physics"]})
    with app_client(session, factory, slurm) as test_client:
        yield test_client


def test_a_coordinator_sees_their_accounts_jobs_when_asking_for_them(client: TestClient) -> None:
    physics = ["100", "101", "200_1", "200_2"]
    assert sorted(job_ids(get(client, GOOD[BOB], accounts="physics"))) == physics
    assert sorted(job_ids(get(client, GOOD[BOB], accounts="physics", users="alice"))) == physics
    assert job_ids(get(client, GOOD[BOB], jobs="100")) == ["100"]


def test_without_accounts_a_coordinator_sees_their_own_jobs(client: TestClient) -> None:
    assert sorted(job_ids(get(client, GOOD[BOB]))) == ["102", "103"]


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"jobs": "100,300"}, f"{REFUSAL}, and job 300 is not among them"),
        ({"users": "carol"}, f"{REFUSAL}, not those of carol"),
        ({"users": "alice", "accounts": "physics,bio"}, f"{REFUSAL}, not those of alice"),
    ],
)
def test_other_accounts_stay_closed_to_a_coordinator(
    client: TestClient, params: dict[str, str], words: str
) -> None:
    response = get(client, GOOD[BOB], **params)
    assert response.status_code == 403
    assert response.json() == {"error": words}


def test_a_site_without_coordinators_shows_only_own_jobs(
    session: Session, factory: SessionFactory
) -> None:
    slurm = FakeSlurm(coordinators={"bob": ["physics"]})
    with app_client(session, factory, slurm, enabled=False) as client:
        assert job_ids(get(client, GOOD[BOB], accounts="physics")) == []
        response = get(client, GOOD[BOB], jobs="100")
    assert response.status_code == 403
    assert response.json() == {
        "error": "bob may only see their own jobs, and job 100 is not among them"
    }


def test_slurm_unreachable_is_503(session: Session, factory: SessionFactory) -> None:
    with app_client(session, factory, SlurmDown()) as client:
        response = get(client, GOOD[BOB])
    assert response.status_code == 503
    assert response.json() == {
        "error": "cannot ask Slurm which accounts you coordinate, retry later"
    }
