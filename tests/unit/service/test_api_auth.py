"""The read API's door: MUNGE credentials (decoded by a recorded unmunge), who sees what.

unmunge's answers below were recorded from the local cluster's munged
(``unmunge --numeric --keys=STATUS,UID,GID --metadata=- --output=/dev/null``).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from slurm_carbon.config import parse_config
from slurm_carbon.errors import ConfigError
from slurm_carbon.service import create_app
from slurm_carbon.service.api import (
    MAX_CREDENTIAL_BYTES,
    UNMUNGE_TIMEOUT_S,
    MungeDecoder,
    MungeIdentity,
    ReadAccess,
)
from slurm_carbon.slurm.fake import FakeSlurm
from slurm_carbon.store import SessionFactory, issue_token
from tests.unit.cli.test_report_data import NOW, seed

with warnings.catch_warnings():
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

# Admins: root (always) and the group ops.
SITE_FIELDS: dict[str, Any] = {
    "cluster": "tc",
    "regions": {"default": "DE"},
    "pue": {"default": 1.5},
    "admins": {"groups": ["ops"]},
}
SITE = parse_config(SITE_FIELDS)
ALICE, BOB, ROOT, OPS, NOBODY = 1001, 1002, 0, 1003, 4242
USERS = {ALICE: "alice", BOB: "bob", ROOT: "root", OPS: "olga"}
# Credentials: armoured like munge's, each decoding to the answer beside it.
GOOD = {uid: f"MUNGE:AwQFAAAA{uid}good=:" for uid in (ALICE, BOB, ROOT, OPS, NOBODY)}
REPLAYED = "MUNGE:AwQFAAAAreplayed=:"
EXPIRED = "MUNGE:AwQFAAAAexpired=:"
FORGED = "MUNGE:AwQFAAAAforged=:"
DOWN = "MUNGE:AwQFAAAAdown=:"


def _metadata(status: int, uid: int) -> str:
    return f"STATUS:          {status}\nUID:             {uid}\nGID:             {uid}\n"


ANSWERS: dict[str, tuple[int, str]] = {
    **{cred: (0, _metadata(0, uid)) for uid, cred in GOOD.items()},
    # munged refuses these but unmunge still prints the uid claimed: root's.
    REPLAYED: (17, _metadata(17, ROOT)),
    EXPIRED: (15, _metadata(15, ROOT)),
    FORGED: (14, ""),
    DOWN: (6, ""),
}


class RecordedUnmunge:
    """unmunge as recorded; remembers its calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], bytes, float]] = []

    def __call__(self, argv: Sequence[str], stdin: bytes, timeout_s: float) -> tuple[int, str]:
        self.calls.append((list(argv), stdin, timeout_s))
        return ANSWERS[stdin.decode().strip()]


def users(identity: MungeIdentity) -> tuple[str, frozenset[str]] | None:
    name = USERS.get(identity.uid)
    groups = frozenset({"ops"}) if name == "olga" else frozenset()
    return None if name is None else (name, groups)


@pytest.fixture
def unmunge() -> RecordedUnmunge:
    return RecordedUnmunge()


@pytest.fixture
def client(
    session: Session, factory: SessionFactory, unmunge: RecordedUnmunge
) -> Iterator[TestClient]:
    seed(session)
    session.commit()
    access = ReadAccess(
        site=SITE,
        decoder=MungeDecoder(runner=unmunge),
        users=users,
    )
    with TestClient(create_app(factory, clock=lambda: NOW, read_access=access)) as test_client:
        yield test_client


def get(client: TestClient, credential: str | None, **params: Any) -> Any:
    headers = {} if credential is None else {"Authorization": f"MUNGE {credential}"}
    return client.get("/api/v1/jobs", headers=headers, params=params)


def job_ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["job_id"] for item in response.json()["jobs"]]


def test_a_user_sees_only_their_own_jobs(client: TestClient) -> None:
    assert sorted(job_ids(get(client, GOOD[ALICE]))) == ["100", "101", "200_1", "200_2"]
    assert sorted(job_ids(get(client, GOOD[BOB]))) == ["102", "103"]


def test_admins_by_name_or_group_see_every_job(client: TestClient) -> None:
    every = ["100", "101", "102", "103", "200_1", "200_2", "300"]
    assert sorted(job_ids(get(client, GOOD[ROOT]))) == every
    assert sorted(job_ids(get(client, GOOD[OPS]))) == every
    assert sorted(job_ids(get(client, GOOD[OPS], users="bob"))) == ["102", "103"]


def test_items_are_the_reports_json_items(client: TestClient) -> None:
    item = get(client, GOOD[ALICE], jobs="100").json()["jobs"][0]
    # Spec 100: gpu 1.0 + cpu 0.5 + dram 0.1 kWh at PUE 1.5 -> 2.4 kWh, 600 g.
    assert item["user"] == "alice"
    assert item["facility_kwh"] == pytest.approx(2.4)
    assert item["co2e_g"] == pytest.approx(600.0)
    assert item["ci_source"] == "electricitymaps"


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"users": "bob"}, "alice may only see their own jobs, not those of bob"),
        ({"jobs": "100,102"}, "alice may only see their own jobs, and job 102 is not among them"),
    ],
)
def test_asking_for_someone_elses_jobs_is_403(
    client: TestClient, params: dict[str, str], words: str
) -> None:
    response = get(client, GOOD[ALICE], **params)
    assert response.status_code == 403
    assert response.json() == {"error": words}


@pytest.mark.parametrize(
    ("credential", "words"),
    [
        (None, "missing MUNGE credential"),
        (REPLAYED, "already used"),
        (EXPIRED, "has expired"),
        (FORGED, "not valid here"),
        ("MUNGE:not base64!:", "malformed"),
        ("MUNGE:" + "A" * MAX_CREDENTIAL_BYTES + ":", f"over {MAX_CREDENTIAL_BYTES} bytes"),
    ],
)
def test_a_bad_credential_is_401_with_nothing_returned(
    client: TestClient, credential: str | None, words: str
) -> None:
    response = get(client, credential)
    assert response.status_code == 401
    assert set(response.json()) == {"error"}
    assert words in response.json()["error"]
    assert response.headers["WWW-Authenticate"] == "MUNGE"


def test_a_node_token_cannot_read(client: TestClient, session: Session) -> None:
    token = issue_token(session, "tc", "gpu01")
    session.commit()
    response = client.get("/api/v1/jobs", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json() == {
        "error": "node tokens cannot read: send Authorization: MUNGE <credential>"
    }
    assert response.headers["WWW-Authenticate"] == "MUNGE"
    # The nodes' own routes still ask for a bearer token.
    assert client.get("/api/v1/caps").headers["WWW-Authenticate"] == "Bearer"


def test_a_uid_without_a_name_is_403(client: TestClient) -> None:
    response = get(client, GOOD[NOBODY])
    assert response.status_code == 403
    assert response.json() == {"error": "uid 4242 has no user name on the service's host"}


def test_munged_unreachable_is_503(client: TestClient) -> None:
    response = get(client, DOWN)
    assert response.status_code == 503
    assert response.json() == {"error": "cannot check MUNGE credentials now, retry later"}


def test_unmunge_gets_the_credential_on_stdin_with_a_deadline(
    client: TestClient, unmunge: RecordedUnmunge
) -> None:
    get(client, GOOD[ALICE])
    argv, stdin, timeout_s = unmunge.calls[-1]
    assert argv[0] == "unmunge"
    assert GOOD[ALICE] not in " ".join(argv)
    assert stdin == GOOD[ALICE].encode() + b"\n"
    assert timeout_s == UNMUNGE_TIMEOUT_S


def test_the_munged_socket_is_passed_when_configured(unmunge: RecordedUnmunge) -> None:
    decoder = MungeDecoder(socket=Path("/run/x/munge.socket"), runner=unmunge)
    assert decoder.decode(GOOD[BOB]) == MungeIdentity(uid=BOB, gid=BOB)
    assert "--socket=/run/x/munge.socket" in unmunge.calls[-1][0]


def test_the_site_names_the_munged_socket_and_the_admins() -> None:
    site = parse_config({**SITE_FIELDS, "api": {"munge_socket": "/run/x/munge.socket"}})
    access = ReadAccess.for_site(site, FakeSlurm())
    assert access.decoder.socket == Path("/run/x/munge.socket")
    assert access.site is site
    assert access.coordinators is None  # [api] coordinators is off by default
    assert ReadAccess.for_site(parse_config(SITE_FIELDS), FakeSlurm()).decoder.socket is None


@pytest.mark.parametrize("api", [{"munge_socket": "run/munge.socket"}, {"coordinator": True}])
def test_a_bad_api_section_is_refused(api: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match=r"api\."):
        parse_config({**SITE_FIELDS, "api": api})
