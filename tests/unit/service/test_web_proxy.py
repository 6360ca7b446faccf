"""Single sign-on by a trusted reverse proxy: its user header opens a session, from it only."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.orm import Session

from slurm_carbon.config import parse_config
from slurm_carbon.errors import ConfigError
from slurm_carbon.service import create_app
from slurm_carbon.service.api import ReadAccess
from slurm_carbon.service.api.munge_auth import MungeDecoder, MungeIdentity
from slurm_carbon.service.web.proxy import MAX_USER_NAME_CHARS
from slurm_carbon.service.web.session import SESSION_COOKIE
from slurm_carbon.store import SessionFactory
from tests.unit.cli.test_report_data import NOW, seed
from tests.unit.service.test_api_auth import SITE_FIELDS, USERS, RecordedUnmunge, users

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from starlette.testclient import TestClient

PROXY, ELSEWHERE = "10.1.2.3", "192.168.7.7"
WEB = {"trusted_proxies": ["127.0.0.1", "10.0.0.0/8"], "user_header": "X-Remote-User"}


def names(name: str) -> MungeIdentity | None:
    uid = {user: uid for uid, user in USERS.items()}.get(name)
    return None if uid is None else MungeIdentity(uid, uid)


def _client(session: Session, factory: SessionFactory, web: Any, peer: str) -> TestClient:
    seed(session)
    session.commit()
    site = parse_config(SITE_FIELDS | ({} if web is None else {"web": web}))
    access = ReadAccess(
        site=site, decoder=MungeDecoder(runner=RecordedUnmunge()), users=users, names=names
    )
    app = create_app(factory, clock=lambda: NOW, read_access=access)
    return TestClient(app, client=(peer, 40000))


@pytest.fixture
def proxied(session: Session, factory: SessionFactory) -> Iterator[TestClient]:
    with _client(session, factory, WEB, PROXY) as client:
        yield client


def _as(client: TestClient, user: str) -> Any:
    return client.get("/web/", headers={"X-Remote-User": user})


def test_the_proxys_user_opens_a_session(proxied: TestClient) -> None:
    page = _as(proxied, "alice")
    assert page.status_code == 200, page.text
    assert "alice (user)" in page.text
    assert "shown to admins" in page.text
    assert SESSION_COOKIE in page.headers["set-cookie"]
    # The session goes on without the header, as the login link's would.
    again = proxied.get("/web/")
    assert (again.status_code, "alice (user)" in again.text) == (200, True)


def test_an_admin_named_by_the_proxy_is_an_admin(proxied: TestClient) -> None:
    page = _as(proxied, "olga")  # in group ops, the site's admins
    assert "olga (admin)" in page.text
    assert "Nodes that stopped reporting" in page.text


def test_the_proxy_naming_another_user_replaces_the_session(proxied: TestClient) -> None:
    assert "alice (user)" in _as(proxied, "alice").text
    assert "bob (user)" in _as(proxied, "bob").text


def test_the_header_from_elsewhere_is_ignored(session: Session, factory: SessionFactory) -> None:
    with _client(session, factory, WEB, ELSEWHERE) as client:
        page = _as(client, "root")
    assert page.status_code == 401
    assert "slurm-carbon web" in page.text
    assert "set-cookie" not in page.headers


def test_no_proxy_is_trusted_by_default(session: Session, factory: SessionFactory) -> None:
    with _client(session, factory, None, "127.0.0.1") as client:
        page = _as(client, "root")
    assert page.status_code == 401
    assert "set-cookie" not in page.headers


@pytest.mark.parametrize(
    "name",
    ["", "alice bob", "alice@EXAMPLE.ORG", "../root", "-alice", "a" * (MAX_USER_NAME_CHARS + 1)],
)
def test_a_malformed_user_name_is_refused(proxied: TestClient, name: str) -> None:
    page = proxied.get("/web/", headers={"X-Remote-User": name})
    assert page.status_code == 401
    assert "not a user name" in page.text
    assert "set-cookie" not in page.headers


def test_a_user_unknown_on_the_host_is_refused(proxied: TestClient) -> None:
    page = _as(proxied, "mallory")
    assert page.status_code == 403
    assert "mallory has no account on the service" in page.text


@pytest.mark.parametrize(
    ("web", "words"),
    [
        ({"trusted_proxies": ["10.0.0.0/33"]}, "web.trusted_proxies"),
        ({"trusted_proxies": ["proxy.example.org"]}, "not an IP address or network"),
        ({"user_header": "X Remote User"}, "web.user_header"),
    ],
)
def test_bad_web_settings_are_one_line(web: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(SITE_FIELDS | {"web": web})
    assert words in str(raised.value)
    assert "\n" not in str(raised.value)
