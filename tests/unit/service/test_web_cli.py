"""``slurm-carbon web`` against the dashboard served on loopback, munge faked on PATH."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
import uvicorn
from click.testing import CliRunner
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from slurm_carbon.cli.main import cli
from slurm_carbon.cli.service import WEB_SECRET_VARIABLE
from slurm_carbon.service import create_app
from slurm_carbon.service.api import MungeDecoder, ReadAccess
from slurm_carbon.service.web import LOGIN_TOKEN_TTL_S, SESSION_TTL_S
from slurm_carbon.service.web.session import SECRET_BYTES, SESSION_COOKIE
from slurm_carbon.store import SessionFactory
from tests.unit.cli.test_report_data import NOW, seed
from tests.unit.service.test_api_auth import ALICE, GOOD, SITE, RecordedUnmunge, users
from tests.unit.service.test_service_cli import migrated

__all__ = ["migrated"]  # fixture, shared

#: Seconds a server on loopback may take to start listening.
START_DEADLINE_S = 10


def serve(
    session: Session,
    factory: SessionFactory,
    access: ReadAccess | None = None,
    more: Callable[[Session, dict[int, int]], None] | None = None,
) -> Iterator[str]:
    """The service over the report's test data on a free loopback port; yields its URL.

    ``access`` judges callers (default: the read API tests' site, unmunge and users);
    ``more`` adds to the seeded store (given the jobs' row ids by Slurm id).
    """
    ids = seed(session)
    if more is not None:
        more(session, ids)
    session.commit()
    if access is None:
        access = ReadAccess(site=SITE, decoder=MungeDecoder(runner=RecordedUnmunge()), users=users)
    app = create_app(factory, clock=lambda: NOW, read_access=access)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_DEADLINE_S
    while not server.started:
        assert time.monotonic() < deadline, "the service did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(START_DEADLINE_S)


@pytest.fixture
def live(session: Session, factory: SessionFactory) -> Iterator[str]:
    yield from serve(session, factory)


@pytest.fixture
def munge_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ``munge`` that prints alice's recorded credential."""
    script = tmp_path / "munge"
    script.write_text(f"#!/bin/sh\necho '{GOOD[ALICE]}'\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    return script


@pytest.mark.usefixtures("munge_on_path")
def test_the_printed_link_logs_the_user_in(live: str) -> None:
    result = CliRunner().invoke(cli, ["web", "--service-url", live])
    assert result.exit_code == 0, result.output
    link = result.stdout.strip()
    assert link.startswith(f"{live}/web/login?token=")
    browser = requests.Session()
    page = browser.get(link, timeout=10)
    assert page.status_code == 200
    assert page.url == f"{live}/web/"
    assert "Figures of alice&#x27;s jobs." in page.text
    assert browser.get(link, timeout=10).status_code == 401  # once only


def test_a_refused_credential_is_one_line(
    live: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "munge"
    script.write_text("#!/bin/sh\necho 'MUNGE:AwQFAAAAforged=:'\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    result = CliRunner().invoke(cli, ["web", "--service-url", live])
    assert result.exit_code == 1
    assert "refused a login link (401): the MUNGE credential is not valid here" in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.usefixtures("munge_on_path")
def test_an_unreachable_service_is_one_line() -> None:
    result = CliRunner().invoke(cli, ["web", "--service-url", "http://127.0.0.1:9"])
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: cannot reach the service at http://127.0.0.1:9: ConnectionError"
    )


def test_the_help_names_the_bounds() -> None:
    shown = " ".join(CliRunner().invoke(cli, ["web", "--help"]).output.split())
    assert f"within {LOGIN_TOKEN_TTL_S // 60} minutes" in shown
    assert f"lasts {SESSION_TTL_S // 3600} hours" in shown


def test_workers_given_one_secret_share_sessions(session: Session, factory: SessionFactory) -> None:
    seed(session)
    session.commit()
    access = ReadAccess(site=SITE, decoder=MungeDecoder(runner=RecordedUnmunge()), users=users)

    def app(secret: bytes) -> TestClient:
        return TestClient(
            create_app(factory, clock=lambda: NOW, read_access=access, web_secret=secret)
        )

    with (
        app(b"k" * SECRET_BYTES) as one,
        app(b"k" * SECRET_BYTES) as two,
        app(b"x" * SECRET_BYTES) as other,
    ):
        answer = one.post("/web/token", headers={"Authorization": f"MUNGE {GOOD[ALICE]}"})
        one.get(answer.json()["login_path"], follow_redirects=False)
        cookie = one.cookies[SESSION_COOKIE]
        two.cookies.set(SESSION_COOKIE, cookie)
        other.cookies.set(SESSION_COOKIE, cookie)
        assert two.get("/web/").status_code == 200
        assert other.get("/web/").status_code == 401


def keep_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Have the variables ``service`` sets for its workers restored after the test."""
    for name in ("SLURM_CARBON_DB_URL", WEB_SECRET_VARIABLE):
        monkeypatch.setenv(name, os.environ.get(name, "set by the test"))


def test_the_service_gives_its_workers_one_secret(
    migrated: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    keep_environment(monkeypatch)
    monkeypatch.delenv(WEB_SECRET_VARIABLE)
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: None)
    result = CliRunner().invoke(cli, ["service", "--url", migrated])
    assert result.exit_code == 0, result.output
    assert re.fullmatch(r"[0-9a-f]{64}", os.environ[WEB_SECRET_VARIABLE])
    # A site's own secret, shared by its replicas, is kept.
    monkeypatch.setenv(WEB_SECRET_VARIABLE, "ab" * SECRET_BYTES)
    CliRunner().invoke(cli, ["service", "--url", migrated])
    assert os.environ[WEB_SECRET_VARIABLE] == "ab" * SECRET_BYTES


@pytest.mark.parametrize("value", ["short", "zz" * SECRET_BYTES, "ab" * (SECRET_BYTES - 1)])
def test_a_bad_secret_is_one_line(
    migrated: str, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    keep_environment(monkeypatch)
    monkeypatch.setenv(WEB_SECRET_VARIABLE, value)
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: None)
    result = CliRunner().invoke(cli, ["service", "--url", migrated])
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: {WEB_SECRET_VARIABLE}: {SECRET_BYTES * 2} hex digits or more, please"
    )
