"""``GET /api/v1/caps``: a node's token sees the caps in force for its own running jobs, bounded."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from slurm_carbon.agent.shipper import interval_json
from slurm_carbon.agent.spool import DeviceRef, Spool
from slurm_carbon.service import caps_api, create_app
from slurm_carbon.service.schemas import MAX_DEVICE_POWER_W
from slurm_carbon.store import (
    EnergyInterval,
    SessionFactory,
    issue_token,
    node_for_token,
    revoke_tokens,
    upsert_job,
)
from slurm_carbon.store.caps import CapDecisionRecord, record_decision
from slurm_carbon.store.repositories import get_or_create_cluster
from slurm_carbon.store.tokens import TOKEN_CACHE_TTL_S
from tests.unit.service.conftest import CLUSTER, GPU_UUID, NOW, interval

HALF_HOUR = timedelta(minutes=30)


def decide(api: Any, slurm_job_id: int, node_list: str, gpu: str | None = GPU_UUID) -> None:
    cluster = get_or_create_cluster(api.session, CLUSTER)
    job = upsert_job(api.session, cluster.id, slurm_job_id, node_list=node_list)
    record_decision(
        api.session,
        CapDecisionRecord(
            job_id=job.id,
            device=gpu,
            period_start=NOW - timedelta(minutes=10),
            period_end=NOW + timedelta(minutes=20),
            power_limit_w=240.0,
            policy="carbon",
            reason="dirty hour ahead",
            decided_at=NOW - timedelta(minutes=11),
        ),
    )
    api.session.commit()


def get(api: Any, token: str | None = None) -> Any:
    headers = {} if token == "" else {"Authorization": f"Bearer {token or api.token}"}
    return api.client.get("/api/v1/caps", headers=headers)


def test_a_node_gets_the_caps_of_its_running_jobs(api: Any) -> None:
    decide(api, 123, "vm")
    decide(api, 124, "vm,gpu01", gpu=None)

    response = get(api)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "caps": [
            {
                "job_id": 123,
                "gpu": GPU_UUID,
                "power_limit_w": 240.0,
                "until": "2026-11-23T16:20:00+00:00",
            },
            {
                "job_id": 124,
                "gpu": None,
                "power_limit_w": 240.0,
                "until": "2026-11-23T16:20:00+00:00",
            },
        ],
        "now": "2026-11-23T16:00:00+00:00",
    }


def test_a_node_never_sees_another_nodes_caps(api: Any) -> None:
    decide(api, 125, "gpu[01-02]")
    other = issue_token(api.session, CLUSTER, "gpu02")
    api.session.commit()

    assert get(api).json()["caps"] == []
    assert [cap["job_id"] for cap in get(api, other).json()["caps"]] == [125]


@pytest.mark.parametrize(
    ("token", "error"),
    [("", "missing bearer token"), ("not-a-token", "unknown or revoked token")],
)
def test_no_caps_without_a_good_token(api: Any, token: str, error: str) -> None:
    decide(api, 123, "vm")

    response = get(api, token)

    assert response.status_code == 401
    assert response.json() == {"error": error}
    assert response.headers["WWW-Authenticate"] == "Bearer"


def count_lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tokens the service looks up in the store from now on, in order."""
    looked_up: list[str] = []

    def counting(session: Session, token: str) -> tuple[str, str] | None:
        looked_up.append(token)
        return node_for_token(session, token)

    monkeypatch.setattr("slurm_carbon.service.ingest.node_for_token", counting)
    return looked_up


def test_polls_within_the_token_cache_ttl_look_the_token_up_once(
    api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    decide(api, 123, "vm")
    looked_up = count_lookups(monkeypatch)

    answers = [get(api) for _ in range(3)]

    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert [cap["job_id"] for cap in answers[2].json()["caps"]] == [123]
    assert looked_up == [api.token]


def test_a_token_found_by_ingest_is_not_looked_up_again_by_the_caps_poll(
    api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    looked_up = count_lookups(monkeypatch)

    assert api.post(api.batch([interval(0)])).status_code == 200
    assert get(api).status_code == 200
    assert looked_up == [api.token]


def test_a_revoked_token_polls_caps_until_its_lookup_is_as_old_as_the_cache_ttl(
    api: Any, factory: SessionFactory
) -> None:
    decide(api, 123, "vm")
    now = [NOW]
    headers = {"Authorization": f"Bearer {api.token}"}
    with TestClient(create_app(factory, clock=lambda: now[0])) as client:
        assert client.get("/api/v1/caps", headers=headers).status_code == 200
        assert revoke_tokens(api.session, CLUSTER, "vm") == 1
        api.session.commit()
        now[0] = NOW + timedelta(seconds=TOKEN_CACHE_TTL_S - 1)
        trusted = client.get("/api/v1/caps", headers=headers)
        now[0] = NOW + timedelta(seconds=TOKEN_CACHE_TTL_S)
        refused = client.get("/api/v1/caps", headers=headers)

    assert trusted.status_code == 200
    assert refused.status_code == 401
    assert refused.json() == {"error": "unknown or revoked token"}


def test_the_answer_is_bounded(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(caps_api, "MAX_CAPS", 2)
    for job_id in (201, 202, 203):
        decide(api, job_id, "vm")

    caps = get(api).json()["caps"]

    assert [cap["job_id"] for cap in caps] == [201, 202]


def test_post_is_not_allowed(api: Any) -> None:
    response = api.client.post("/api/v1/caps", headers={"Authorization": f"Bearer {api.token}"})

    assert response.status_code == 405


def test_the_limit_in_force_is_stored_with_a_gpus_energy(api: Any) -> None:
    response = api.post(api.batch([interval(0, cap_w=212.5), interval(1)]))

    assert response.status_code == 200, response.text
    stored = api.session.query(EnergyInterval.cap_w).order_by(EnergyInterval.interval_start)
    assert [cap_w for (cap_w,) in stored] == [212.5, None]


CPU = {"uuid": "intel-rapl:0", "kind": "cpu", "model": None, "minor": 0}


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"cap_w": 0}, "intervals[0].cap_w: Input should be greater than 0"),
        (
            {"cap_w": MAX_DEVICE_POWER_W + 1},
            "intervals[0].cap_w: Input should be less than or equal to 10000",
        ),
        ({"cap_w": "250"}, "intervals[0].cap_w: Input should be a valid number"),
        ({"cap_w": 95.0, "device": CPU}, "intervals[0].cap_w: only a GPU has a power limit"),
    ],
)
def test_a_bad_limit_is_refused_with_its_field(
    api: Any, fields: dict[str, Any], error: str
) -> None:
    response = api.post(api.batch([interval(0, **fields)]))

    assert response.status_code == 422
    assert response.json() == {"error": error}
    assert api.count(EnergyInterval) == 0


def test_the_limit_goes_from_the_agents_spool_into_the_store(api: Any, tmp_path: Path) -> None:
    """What the agent integrated (300 W for 20 s, then 150 W for 40 s) is what is stored."""
    spool = Spool(tmp_path / "agent.db")
    gpu = DeviceRef(GPU_UUID, "gpu", "Tesla V100", 0)
    slot = NOW.timestamp() - 3600
    for cap_mw, seconds in ((300_000, 20.0), (150_000, 40.0)):
        spool.add_energy(
            job_id=123,
            device=gpu,
            slot_start_s=slot,
            energy_j=cap_mw / 1000 * seconds,
            method="counter",
            sharing="exclusive",
            cap_mw=cap_mw,
            seconds=seconds,
        )
    [open_interval] = spool.open_intervals()
    spool.close_interval("vm", open_interval, slot, slot + 60)
    sent = [interval_json(row) for row in spool.outbox(10)]
    spool.close()

    response = api.post(api.batch(sent))

    assert response.status_code == 200, response.text
    assert api.session.query(EnergyInterval.cap_w).scalar() == 200.0
