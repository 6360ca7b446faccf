"""The dashboard: login through MUNGE, sessions, who sees which page, figures as the API's."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from starlette.testclient import TestClient

from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.service.api import Viewer
from slurm_carbon.service.ingest import ApiError
from slurm_carbon.service.web import LOGIN_TOKEN_TTL_S, SESSION_TTL_S, WebSessions
from slurm_carbon.service.web.pages import grams, kwh
from slurm_carbon.store import SessionFactory
from slurm_carbon.store.intensity import save_points
from slurm_carbon.vocabulary import CiKind, CiSignal
from tests.unit.cli.test_report_data import NOW
from tests.unit.service.test_api_auth import ALICE, BOB, GOOD, REPLAYED, ROOT, client, unmunge

__all__ = ["client", "unmunge"]  # fixtures, shared


def login(client: TestClient, uid: int) -> None:
    """Log ``client`` in as ``uid`` the way ``slurm-carbon web`` and a browser do."""
    answer = client.post("/web/token", headers={"Authorization": f"MUNGE {GOOD[uid]}"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["expires_in_s"] == LOGIN_TOKEN_TTL_S
    opened = client.get(answer.json()["login_path"], follow_redirects=False)
    assert (opened.status_code, opened.headers["location"]) == (303, "/web/")


def shown(page: str, test_id: str) -> str:
    found = re.search(rf'data-testid="{test_id}">([^<]*)<', page)
    assert found is not None, f"{test_id} not on the page"
    return found.group(1)


def test_the_login_link_sets_a_strict_http_only_cookie(client: TestClient) -> None:
    answer = client.post("/web/token", headers={"Authorization": f"MUNGE {GOOD[ALICE]}"})
    opened = client.get(answer.json()["login_path"], follow_redirects=False)
    cookie = opened.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert f"Max-Age={SESSION_TTL_S}" in cookie


def test_a_login_link_opens_one_session_only(client: TestClient) -> None:
    answer = client.post("/web/token", headers={"Authorization": f"MUNGE {GOOD[ALICE]}"})
    path = answer.json()["login_path"]
    assert client.get(path, follow_redirects=False).status_code == 303
    again = client.get(path, follow_redirects=False)
    assert again.status_code == 401
    assert "already used" in again.text


@pytest.mark.parametrize(
    ("credential", "status"), [(None, 401), (REPLAYED, 401), ("Bearer x", 401)]
)
def test_a_login_token_needs_a_good_munge_credential(
    client: TestClient, credential: str | None, status: int
) -> None:
    headers = {} if credential is None else {"Authorization": f"MUNGE {credential}"}
    if credential == "Bearer x":
        headers = {"Authorization": credential}
    answer = client.post("/web/token", headers=headers)
    assert answer.status_code == status
    assert "token" not in answer.json()


def test_pages_need_a_session(client: TestClient) -> None:
    for path in ("/web/", "/web/jobs/100"):
        page = client.get(path)
        assert page.status_code == 401
        assert "slurm-carbon web" in shown(page.text, "error")


def test_a_forged_token_opens_nothing(client: TestClient) -> None:
    other = WebSessions(lambda: NOW).login_token(Viewer("root", admin=True))
    page = client.get(f"/web/login?token={other}", follow_redirects=False)
    assert page.status_code == 401
    assert client.get("/web/").status_code == 401


def test_tokens_and_sessions_expire() -> None:
    now = [datetime(2026, 12, 1, 12, 0, tzinfo=UTC)]
    sessions = WebSessions(lambda: now[0])
    alice = Viewer("alice", frozenset({"physics"}))
    token, cookie = sessions.login_token(alice), sessions.session_cookie(alice)
    now[0] += timedelta(seconds=LOGIN_TOKEN_TTL_S + 1)
    with pytest.raises(ApiError, match="not valid"):
        sessions.redeem(token)
    assert sessions.viewer(cookie) == alice
    now[0] += timedelta(seconds=SESSION_TTL_S)
    assert sessions.viewer(cookie) is None


def test_the_overview_shows_the_apis_totals_of_the_users_jobs(client: TestClient) -> None:
    api = client.get("/api/v1/totals", headers={"Authorization": f"MUNGE {GOOD[ALICE]}"}).json()
    login(client, ALICE)
    page = client.get("/web/")
    assert page.status_code == 200, page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert shown(page.text, "total-co2e") == grams(api["totals"]["co2e_g"])
    assert shown(page.text, "total-kwh") == kwh(api["totals"]["facility_kwh"])
    assert shown(page.text, "total-jobs") == str(api["totals"]["jobs"])
    # Bob's job 102 is not among alice's biggest emitters; her own 100 is.
    assert 'href="/web/jobs/100"' in page.text
    assert 'href="/web/jobs/102"' not in page.text
    assert "shown to admins" in page.text


def test_an_admin_sees_every_job_and_the_cluster(client: TestClient) -> None:
    api = client.get("/api/v1/totals", headers={"Authorization": f"MUNGE {GOOD[ROOT]}"}).json()
    login(client, ROOT)
    page = client.get("/web/").text
    assert shown(page, "total-co2e") == grams(api["totals"]["co2e_g"])
    assert 'href="/web/jobs/102"' in page
    assert "Nodes that stopped reporting" in page


def test_a_user_opens_their_job_but_not_anothers(client: TestClient) -> None:
    api = client.get("/api/v1/jobs/100", headers={"Authorization": f"MUNGE {GOOD[ALICE]}"}).json()
    login(client, ALICE)
    page = client.get("/web/jobs/100")
    assert page.status_code == 200, page.text
    assert shown(page.text, "job-co2e") == grams(api["job"]["co2e_g"]) == "600.0 g"
    refused = client.get("/web/jobs/102")
    assert refused.status_code == 403
    assert "job 102 is not among them" in shown(refused.text, "error")
    assert client.get("/web/jobs/999").status_code == 404


def test_another_user_is_refused_alices_job(client: TestClient) -> None:
    login(client, BOB)
    assert client.get("/web/jobs/100").status_code == 403


def test_the_charting_library_is_served_from_the_package(client: TestClient) -> None:
    script = client.get("/web/static/uPlot.iife.min.js")
    assert script.status_code == 200
    assert "uPlot" in script.text[:2000]
    assert client.get("/web/static/uPlot.LICENSE").text.startswith("The MIT License")


def test_the_cleanest_hour_comes_from_the_stored_forecast(
    client: TestClient, factory: SessionFactory
) -> None:
    # 24 hourly values from NOW, issued an hour before: 300 g/kWh but 40 at NOW + 5 h.
    issued = NOW - timedelta(hours=1)
    save_points(
        factory,
        [
            CiPoint(
                region="SE",
                time=NOW + timedelta(hours=hour),
                step_s=3600,
                ci_g_per_kwh=40.0 if hour == 5 else 300.0,
                source="electricitymaps",
                kind=CiKind.FORECAST,
                signal=CiSignal.AVERAGE,
                issued_at=issued,
            )
            for hour in range(24)
        ],
    )
    login(client, ALICE)
    page = client.get("/web/").text
    assert "2024-03-14 23:00 UTC: 40 g/kWh" in page
    # FR has only actuals: its last value carried forward tells of no cleaner hour.
    assert re.search(r"<td>FR</td><td>50 g/kWh</td><td>no forecast stored</td>", page)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "-"),
        (0.0002, "0.20 Wh"),
        (0.5, "500.00 Wh"),
        (2.4, "2.400 kWh"),
        (1234.5, "1,234.500 kWh"),
    ],
)
def test_energy_is_shown_in_wh_below_a_kwh(value: float | None, text: str) -> None:
    assert kwh(value) == text


@pytest.mark.parametrize(
    ("value", "text"), [(None, "-"), (0.04, "0.0 g"), (600.0, "600.0 g"), (2250.0, "2.250 kg")]
)
def test_co2e_is_shown_in_g_below_a_kg(value: float | None, text: str) -> None:
    assert grams(value) == text
