"""POST /api/v1/intervals on SQLite and PostgreSQL: storing, idempotence, every refusal."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from slurm_carbon.agent.shipper import interval_json
from slurm_carbon.agent.spool import DeviceRef, Spool
from slurm_carbon.service import MAX_INTERVALS, create_app
from slurm_carbon.service.schemas import MAX_BUSY_CLOCK_MHZ, MAX_DEVICE_POWER_W
from slurm_carbon.store import Device, EnergyInterval, SessionFactory, issue_token, revoke_tokens
from slurm_carbon.store.tokens import TOKEN_CACHE_TTL_S
from slurm_carbon.vocabulary import DeviceKind, EnergyMethod, Sharing
from tests.unit.service.conftest import GPU_UUID, NOW, interval

UNKNOWN_TOKEN = "x" * 43
NOTHING_WRITTEN = {"clusters": 1, "nodes": 1, "devices": 0, "jobs": 0, "energy_intervals": 0}


def _utc(minute: int) -> datetime:
    return datetime(2026, 11, 23, 15, minute, tzinfo=UTC)


def test_a_good_batch_is_stored_with_its_keys_and_energy(api: Any) -> None:
    cpu = interval(
        0,
        job_id=124,
        device={"uuid": "intel-rapl:0", "kind": "cpu", "model": None, "minor": None},
        start="2026-11-23T16:00:00+01:00",  # 15:00 UTC
        end="2026-11-23T16:01:00+01:00",
        energy_j=0.0,
        method="integrated",
        sharing="shared",
    )
    response = api.post(api.batch([interval(0), interval(1), cpu]))

    assert response.status_code == 200, response.text
    assert response.json() == {"received": 3, "stored": 3}
    gpu = ("sclocal", "vm", 123, GPU_UUID, DeviceKind.GPU, "Tesla V100", 0)
    assert api.stored() == [
        (*gpu, _utc(0), _utc(1), 12.5, EnergyMethod.COUNTER, Sharing.EXCLUSIVE),
        (
            *("sclocal", "vm", 124, "intel-rapl:0", DeviceKind.CPU, None, None),
            *(_utc(0), _utc(1), 0.0, EnergyMethod.INTEGRATED, Sharing.SHARED),
        ),
        (*gpu, _utc(1), _utc(2), 13.5, EnergyMethod.COUNTER, Sharing.EXCLUSIVE),
    ]


def test_the_same_batch_twice_is_stored_once(api: Any) -> None:
    first = api.post(api.batch())
    again = api.post(api.batch())

    assert first.json() == {"received": 2, "stored": 2}
    assert again.status_code == 200
    assert again.json() == {"received": 2, "stored": 0}
    assert api.counts() == {
        "clusters": 1,
        "nodes": 1,
        "devices": 1,
        "jobs": 1,
        "energy_intervals": 2,
    }


def test_a_resent_interval_keeps_the_first_energy_and_new_ones_are_added(api: Any) -> None:
    api.post(api.batch([interval(0)]))
    response = api.post(api.batch([interval(0, energy_j=999.0), interval(1)]))

    assert response.json() == {"received": 2, "stored": 1}
    assert [row[9] for row in api.stored()] == [12.5, 13.5]


def test_an_empty_batch_stores_nothing(api: Any) -> None:
    response = api.post(api.batch([]))

    assert response.json() == {"received": 0, "stored": 0}


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (
            {"energy_j": -0.5},
            "intervals[1].energy_j: Input should be greater than or equal to 0",
        ),
        (
            {"start": "2026-11-23T15:01:00", "end": "2026-11-23T15:02:00"},
            "intervals[1].start: Input should have timezone info",
        ),
        (
            {"start": "2026-11-23T15:02:00+00:00", "end": "2026-11-23T15:02:00+00:00"},
            "intervals[1].end: end must be after start",
        ),
        (
            {"start": "2026-11-23T15:03:00+00:00", "end": "2026-11-23T15:02:00+00:00"},
            "intervals[1].end: end must be after start",
        ),
        (
            {"method": "guessed"},
            "intervals[1].method: Input should be 'counter', 'integrated' or 'estimated'",
        ),
        ({"job_id": 0}, "intervals[1].job_id: Input should be greater than 0"),
        ({"job_id": "123"}, "intervals[1].job_id: Input should be a valid integer"),
        ({"colour": "green"}, "intervals[1].colour: Extra inputs are not permitted"),
        (
            {"device": {"uuid": GPU_UUID, "kind": "tpu"}},
            "intervals[1].device.kind: Input should be 'gpu', 'cpu' or 'dram'",
        ),
        (
            {"start": 1795100400, "end": 1795100460},
            "intervals[1].start: must be an ISO 8601 time with its UTC offset, "
            "e.g. 2026-11-23T15:00:00Z",
        ),
    ],
)
def test_one_bad_interval_refuses_the_whole_batch(
    api: Any, bad: dict[str, Any], error: str
) -> None:
    response = api.post(api.batch([interval(0), interval(1, **bad), interval(2)]))

    assert response.status_code == 422
    assert response.json() == {"error": error}
    assert api.counts() == NOTHING_WRITTEN


def test_a_missing_field_is_named(api: Any) -> None:
    missing = interval(1)
    del missing["sharing"]

    response = api.post(api.batch([interval(0), missing]))

    assert response.status_code == 422
    assert response.json() == {"error": "intervals[1].sharing: Field required"}
    assert api.counts() == NOTHING_WRITTEN


@pytest.mark.parametrize("energy", ["NaN", "Infinity", "1e400"])
def test_energy_must_be_finite(api: Any, energy: str) -> None:
    text = json.dumps(api.batch([interval(0, energy_j=123456.0)]))
    response = api.post(None, content=text.replace("123456.0", energy))

    assert response.status_code == 422
    assert response.json() == {"error": "intervals[0].energy_j: Input should be a finite number"}


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"node": "vm", "intervals": []}, "cluster: Field required"),
        (
            {"cluster": "", "node": "vm", "intervals": []},
            "cluster: String should have at least 1 character",
        ),
        ([1, 2], "body: Input should be an object"),
    ],
)
def test_a_bad_envelope_is_named(api: Any, body: Any, error: str) -> None:
    response = api.post(body)

    assert response.status_code == 422
    assert response.json() == {"error": error}


def test_malformed_json_is_400(api: Any) -> None:
    response = api.post(None, content=b'{"cluster": "sclocal", "intervals": [')

    assert response.status_code == 400
    assert response.json()["error"].startswith("malformed JSON: ")
    assert api.counts() == NOTHING_WRITTEN


@pytest.mark.parametrize(
    "authorization", [None, "", "Bearer", "Bearer ", "Basic dm06c2VjcmV0", "Bearer wrong-token"]
)
def test_no_or_unknown_token_is_401(api: Any, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}

    response = api.client.post("/api/v1/intervals", json=api.batch(), headers=headers)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "token" in response.json()["error"]
    assert api.counts() == NOTHING_WRITTEN


def test_an_unknown_token_is_refused_before_the_body_is_judged(api: Any) -> None:
    response = api.post(api.batch([interval(0, energy_j=-1)]), token=UNKNOWN_TOKEN)

    assert response.status_code == 401


def test_the_scheme_is_case_insensitive(api: Any) -> None:
    headers = {"Authorization": f"bearer {api.token}"}

    response = api.client.post("/api/v1/intervals", json=api.batch(), headers=headers)

    assert response.json() == {"received": 2, "stored": 2}


def test_a_revoked_token_is_401_once_its_lookup_is_older_than_the_cache_ttl(
    api: Any, factory: SessionFactory
) -> None:
    now = [NOW]
    headers = {"Authorization": f"Bearer {api.token}"}
    with TestClient(create_app(factory, clock=lambda: now[0])) as client:

        def post(minute: int) -> Any:
            batch = api.batch([interval(minute)])
            return client.post("/api/v1/intervals", json=batch, headers=headers)

        assert post(0).status_code == 200
        assert revoke_tokens(api.session, "sclocal", "vm") == 1
        api.session.commit()
        now[0] = NOW + timedelta(seconds=TOKEN_CACHE_TTL_S - 1)
        trusted = post(1)  # the lookup of minute 0 is still trusted
        now[0] = NOW + timedelta(seconds=TOKEN_CACHE_TTL_S)
        response = post(2)

    assert trusted.status_code == 200
    assert response.status_code == 401
    assert response.json() == {"error": "unknown or revoked token"}
    assert len(api.stored()) == 2


def test_a_revoked_token_never_trusted_by_this_process_is_401_at_once(api: Any) -> None:
    assert revoke_tokens(api.session, "sclocal", "vm") == 1
    api.session.commit()

    response = api.post(api.batch([interval(0)]))

    assert response.status_code == 401
    assert api.stored() == []


@pytest.mark.parametrize(("cluster", "node"), [("sclocal", "gpu02"), ("other", "vm")])
def test_a_node_may_only_report_for_itself(api: Any, cluster: str, node: str) -> None:
    issue_token(api.session, "sclocal", "gpu02")
    api.session.commit()

    response = api.post(api.batch(cluster=cluster, node=node))

    assert response.status_code == 403
    assert response.json() == {
        "error": "this token reports for node 'vm' of cluster 'sclocal' only"
    }
    assert api.stored() == []


def test_a_token_of_node_b_cannot_report_for_node_a(api: Any) -> None:
    token_b = issue_token(api.session, "sclocal", "gpu02")
    api.session.commit()

    refused = api.post(api.batch(), token=token_b)
    allowed = api.post(api.batch(node="gpu02"), token=token_b)

    assert refused.status_code == 403
    assert allowed.json() == {"received": 2, "stored": 2}
    assert {row[1] for row in api.stored()} == {"gpu02"}


def test_more_than_the_maximum_of_intervals_is_413(api: Any) -> None:
    many = [interval(0, job_id=job) for job in range(1, MAX_INTERVALS + 2)]

    response = api.post(api.batch(many))

    assert response.status_code == 413
    assert response.json() == {"error": "more than 10000 intervals in one batch"}
    assert api.counts() == NOTHING_WRITTEN


def test_the_maximum_of_intervals_is_stored_in_one_request(api: Any) -> None:
    many = [interval(0, job_id=1000 + n % 50, energy_j=float(n)) for n in range(MAX_INTERVALS)]
    # 50 jobs x 200 distinct start minutes: every interval has its own key.
    for n, item in enumerate(many):
        item["start"] = f"2026-11-{1 + n // 50 // 24 % 28:02d}T{n // 50 % 24:02d}:00:00+00:00"
        item["end"] = item["start"].replace(":00:00+", ":30:00+")

    response = api.post(api.batch(many))

    assert response.json() == {"received": MAX_INTERVALS, "stored": MAX_INTERVALS}
    assert api.counts()["jobs"] == 50


def test_a_body_over_the_limit_is_413(factory: SessionFactory, api: Any) -> None:
    with TestClient(create_app(factory, max_body_bytes=1000)) as client:
        body = api.batch([interval(n) for n in range(10)])
        response = client.post(
            "/api/v1/intervals", json=body, headers={"Authorization": f"Bearer {api.token}"}
        )

    assert response.status_code == 413
    assert response.json() == {"error": "request body over 1000 bytes"}


def test_a_streamed_body_over_the_limit_is_413(factory: SessionFactory, api: Any) -> None:
    def chunks() -> Any:
        for _ in range(10):
            yield b" " * 500

    with TestClient(create_app(factory, max_body_bytes=1000)) as client:
        response = client.post(
            "/api/v1/intervals",
            content=chunks(),
            headers={"Authorization": f"Bearer {api.token}", "Content-Type": "application/json"},
        )

    assert response.status_code == 413


def test_only_post_is_allowed(api: Any) -> None:
    assert api.client.get("/api/v1/intervals").status_code == 405


def test_healthz_answers_when_the_database_does(api: Any) -> None:
    response = api.client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_a_bug_is_a_500_with_a_json_body(
    factory: SessionFactory, api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: Any) -> int:
        raise RuntimeError("bug")

    monkeypatch.setattr("slurm_carbon.service.ingest.ingest_batch", broken)
    with TestClient(create_app(factory), raise_server_exceptions=False) as client:
        response = client.post(
            "/api/v1/intervals", json=api.batch(), headers={"Authorization": f"Bearer {api.token}"}
        )

    assert response.status_code == 500
    assert response.json() == {"error": "internal error"}


GPU_WITH_LIMITS = {
    "uuid": GPU_UUID,
    "kind": "gpu",
    "model": "Tesla V100",
    "minor": 0,
    "min_limit_w": 100.0,
    "max_limit_w": 300.0,
}


def test_the_busy_clock_and_the_gpu_limit_range_are_stored(api: Any) -> None:
    old_agent = api.post(api.batch([interval(0)]))  # an older agent: neither field
    assert old_agent.status_code == 200, old_agent.text
    device = api.session.query(Device.min_limit_w, Device.max_limit_w).one()
    assert tuple(device) == (None, None)

    response = api.post(
        api.batch([interval(1, busy_clock_mhz=1187.5, device=GPU_WITH_LIMITS), interval(2)])
    )

    assert response.status_code == 200, response.text
    api.session.expire_all()
    stored = api.session.query(EnergyInterval.busy_clock_mhz).order_by(
        EnergyInterval.interval_start
    )
    assert [busy for (busy,) in stored] == [None, 1187.5, None]
    device = api.session.query(Device.min_limit_w, Device.max_limit_w).one()
    assert tuple(device) == (100.0, 300.0)  # learned from the newer agent's report


CPU_DEVICE = {"uuid": "intel-rapl:0", "kind": "cpu", "model": None, "minor": 0}


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        (
            {"busy_clock_mhz": -1.0},
            "intervals[0].busy_clock_mhz: Input should be greater than or equal to 0",
        ),
        (
            {"busy_clock_mhz": MAX_BUSY_CLOCK_MHZ + 1},
            "intervals[0].busy_clock_mhz: Input should be less than or equal to 10000",
        ),
        ({"busy_clock_mhz": "900"}, "intervals[0].busy_clock_mhz: Input should be a valid number"),
        (
            {"busy_clock_mhz": 900.0, "device": CPU_DEVICE},
            "intervals[0].busy_clock_mhz: only a GPU has a busy clock",
        ),
        (
            {"device": {**GPU_WITH_LIMITS, "min_limit_w": 0}},
            "intervals[0].device.min_limit_w: Input should be greater than 0",
        ),
        (
            {"device": {**GPU_WITH_LIMITS, "max_limit_w": MAX_DEVICE_POWER_W + 1}},
            "intervals[0].device.max_limit_w: Input should be less than or equal to 10000",
        ),
        (
            {"device": {**GPU_WITH_LIMITS, "min_limit_w": 350.0}},
            "intervals[0].device: min_limit_w 350 W above max_limit_w 300 W",
        ),
        (
            {"device": {**GPU_WITH_LIMITS, "max_limit_w": None}},
            "intervals[0].device: min_limit_w and max_limit_w come together",
        ),
        (
            {"device": {**CPU_DEVICE, "min_limit_w": 10.0, "max_limit_w": 20.0}},
            "intervals[0].device: only a GPU has a power-limit range",
        ),
    ],
)
def test_a_bad_busy_clock_or_limit_range_is_refused_with_its_field(
    api: Any, fields: dict[str, Any], error: str
) -> None:
    response = api.post(api.batch([interval(0, **fields)]))

    assert response.status_code == 422
    assert response.json() == {"error": error}


def test_the_busy_clock_and_limits_go_from_the_agents_spool_into_the_store(
    api: Any, tmp_path: Path
) -> None:
    """What the agent integrated (1400 MHz for 20 s, then 700 MHz for 40 s) is what is stored."""
    spool = Spool(tmp_path / "agent.db")
    gpu = DeviceRef(GPU_UUID, "gpu", "Tesla V100", 0, 100.0, 300.0)
    slot = datetime(2026, 11, 23, 15, tzinfo=UTC).timestamp()
    for busy_mhz, seconds in ((1400.0, 20.0), (700.0, 40.0)):
        spool.add_energy(
            job_id=123,
            device=gpu,
            slot_start_s=slot,
            energy_j=200.0 * seconds,
            method="counter",
            sharing="exclusive",
            busy_mhz=busy_mhz,
            seconds=seconds,
        )
    [open_interval] = spool.open_intervals()
    spool.close_interval("vm", open_interval, slot, slot + 60)
    sent = [interval_json(row) for row in spool.outbox(10)]
    spool.close()

    response = api.post(api.batch(sent))

    assert response.status_code == 200, response.text
    assert api.session.query(EnergyInterval.busy_clock_mhz).scalar() == pytest.approx(
        (1400.0 * 20 + 700.0 * 40) / 60
    )
    assert tuple(api.session.query(Device.min_limit_w, Device.max_limit_w).one()) == (100.0, 300.0)
