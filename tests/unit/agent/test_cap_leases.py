"""Caps the service decided: pulled by the shipper over HTTP, applied as leases by the keeper.

A fake service (stdlib http.server on 127.0.0.1) answers ``GET /api/v1/caps``;
fake GPUs record every limit set.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from slurm_carbon.agent import Agent
from slurm_carbon.agent.capfeed import (
    CAP_LEASE_GRACE_S,
    CAPS_MAX,
    CAPS_MAX_BYTES,
    cap_refusal,
    parse_caps,
)
from slurm_carbon.agent.shipper import Shipper, interval_json
from slurm_carbon.agent.spool import Spool
from slurm_carbon.sensors.fake import FakeGpuBackend
from tests.unit.agent.conftest import hand_off, outbox

MakeAgent = Callable[..., Agent]
#: The fake service's clock is an hour ahead of the agent's: leases must not care.
SERVICE_AHEAD_S = 3600.0
ORIGINAL_MW = 300_000


def iso(t_s: float) -> str:
    return datetime.fromtimestamp(t_s + SERVICE_AHEAD_S, UTC).isoformat()


class CapService:
    """Answers GET /api/v1/caps with ``status`` and ``caps`` (``until`` in agent seconds)."""

    def __init__(self) -> None:
        self.status = 200
        self.caps: list[dict[str, Any]] = []
        self.now_s = 0.0
        self.headers: list[dict[str, str]] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                service.headers.append({"path": self.path, **dict(self.headers)})
                answer: Any = {"error": "database unavailable, retry later"}
                if service.status == 200:
                    caps = [{**cap, "until": iso(cap["until"])} for cap in service.caps]
                    answer = {"caps": caps, "now": iso(service.now_s)}
                data = json.dumps(answer).encode()
                self.send_response(service.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def decide(self, job_id: int, gpu: str | None, watts: float, until_s: float) -> None:
        self.caps.append({"job_id": job_id, "gpu": gpu, "power_limit_w": watts, "until": until_s})


@pytest.fixture
def service() -> Iterator[CapService]:
    service = CapService()
    service.thread.start()
    yield service
    service.server.shutdown()
    service.server.server_close()


class Node:
    """An agent with fake GPUs, its shipper on the fake service, and a shared clock."""

    def __init__(self, make_agent: MakeAgent, service: CapService, state: Path, **kw: Any) -> None:
        self.t = 0.0
        self.service = service
        self.backend = FakeGpuBackend.with_gpus(2)
        self.shipper = Shipper(
            state / "agent.db",
            service_url=service.url,
            token="node-token",  # noqa: S106 - the fake service's
            cluster="c",
            node="n1",
            session=requests.Session(),
            timeout_s=(2.0, 2.0),
            clock=lambda: self.t,
        )
        self.agent = make_agent(gpu_backend=self.backend, shipper=self.shipper, **kw)

    def at(self, t_s: float, *, pull: bool = True) -> None:
        """Run the GPUs to ``t_s``, pull (the service's clock says the same), then tick."""
        self.backend.advance(t_s - self.t)
        self.t = self.service.now_s = t_s
        if pull:
            self.shipper.pull_caps()
        self.agent.tick(t_s)

    def limit_w(self, minor: int) -> float:
        return self.backend.gpu_by_minor(minor).power_limit_mw() / 1000

    def sets(self, minor: int) -> list[int]:
        return self.backend.gpu_by_minor(minor).set_power_limit_calls


@pytest.fixture
def node(make_agent: MakeAgent, service: CapService, dirs: tuple[Path, Path]) -> Node:
    return Node(make_agent, service, dirs[1], shared_gpus=True)


def uuid(node: Node, minor: int) -> str:
    return node.backend.gpu_by_minor(minor).info.uuid


def test_a_decided_cap_is_applied_on_an_exclusive_gpu_and_not_on_a_shared_one(
    node: Node, service: CapService, dirs: tuple[Path, Path]
) -> None:
    hand_off(dirs[0], 1, "start", 0.0, gpus="0")
    hand_off(dirs[0], 2, "start", 0.0, gpus="1")
    hand_off(dirs[0], 3, "start", 0.0, gpus="1")
    service.decide(1, None, 150.0, until_s=1800.0)  # every GPU of job 1
    service.decide(2, uuid(node, 1), 150.0, until_s=1800.0)

    node.at(1.0)
    node.at(2.0)

    assert (node.limit_w(0), node.limit_w(1)) == (150.0, 300.0)
    assert node.sets(0) == [150_000]  # once, not at every tick
    assert node.sets(1) == []
    assert [cap.uuid for cap in node.agent.spool.saved_caps()] == [uuid(node, 0)]
    assert service.headers[0]["path"] == "/api/v1/caps"
    assert service.headers[0]["Authorization"] == "Bearer node-token"


def test_a_cap_for_one_gpu_overrides_the_jobs_and_is_clamped(
    node: Node, service: CapService, dirs: tuple[Path, Path]
) -> None:
    hand_off(dirs[0], 1, "start", 0.0, gpus="0,1")
    service.decide(1, uuid(node, 1), 20.0, until_s=1800.0)  # below the 100 W minimum
    service.decide(1, None, 250.0, until_s=1800.0)

    node.at(1.0)

    assert (node.limit_w(0), node.limit_w(1)) == (250.0, 100.0)


def test_a_job_that_opted_out_is_never_capped(
    node: Node, service: CapService, dirs: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    hand_off(dirs[0], 1, "start", 0.0, gpus="0", comment="carbon_budget=5kg carbon_cap=off")
    service.decide(1, None, 150.0, until_s=1800.0)

    with caplog.at_level(logging.WARNING):
        node.at(1.0)
        node.at(2.0)

    assert node.sets(0) == []
    assert node.agent.spool.saved_caps() == []
    assert [r.getMessage() for r in caplog.records].count(
        "service cap of 150 W for job 1 on * not applied: opted out (carbon_cap=off)"
    ) == 1


def test_a_lease_the_unreachable_service_does_not_renew_runs_out(
    node: Node, service: CapService, dirs: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    hand_off(dirs[0], 1, "start", 0.0, gpus="0")
    service.decide(1, None, 150.0, until_s=600.0)
    node.at(1.0)
    assert node.limit_w(0) == 150.0

    service.status = 503
    with caplog.at_level(logging.WARNING):
        node.at(300.0)
        node.at(600.0 + CAP_LEASE_GRACE_S - 1)
    assert node.limit_w(0) == 150.0  # held through the outage, within its lease
    node.at(600.0 + CAP_LEASE_GRACE_S)

    assert node.limit_w(0) == ORIGINAL_MW / 1000
    assert node.agent.spool.saved_caps() == []
    pulls_failed = [r for r in caplog.records if "cannot pull caps" in r.getMessage()]
    assert len(pulls_failed) == 1  # once per outage
    assert "HTTP 503: database unavailable, retry later" in pulls_failed[0].getMessage()


def test_a_renewed_lease_holds_and_a_withdrawn_decision_is_restored(
    node: Node, service: CapService, dirs: tuple[Path, Path]
) -> None:
    hand_off(dirs[0], 1, "start", 0.0, gpus="0")
    service.decide(1, None, 150.0, until_s=600.0)
    node.at(1.0)
    service.caps = []
    service.decide(1, None, 200.0, until_s=1200.0)
    node.at(700.0)
    assert node.limit_w(0) == 200.0
    node.at(1000.0)
    assert node.sets(0) == [150_000, 200_000]

    service.caps = []  # the service decided no cap any more
    node.at(1001.0)

    assert node.limit_w(0) == ORIGINAL_MW / 1000
    assert node.agent.spool.saved_caps() == []


def test_a_capped_gpu_is_restored_at_job_end_and_not_capped_again(
    node: Node, service: CapService, dirs: tuple[Path, Path]
) -> None:
    hand_off(dirs[0], 1, "start", 0.0, gpus="0")
    service.decide(1, None, 150.0, until_s=1800.0)
    node.at(1.0)
    hand_off(dirs[0], 1, "stop", 5.0)

    node.at(6.0)
    node.at(7.0)

    assert node.sets(0) == [150_000, ORIGINAL_MW]
    assert node.agent.spool.saved_caps() == []


def test_the_agent_restores_a_leased_cap_when_it_stops(
    node: Node, service: CapService, dirs: tuple[Path, Path]
) -> None:
    hand_off(dirs[0], 1, "start", 0.0, gpus="0")
    service.decide(1, None, 150.0, until_s=1800.0)
    node.at(1.0)

    node.agent.shutdown(2.0)

    assert node.sets(0) == [150_000, ORIGINAL_MW]


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ([], 'no "caps" list'),
        ({"caps": [], "now": "2026-12-01T12:00:00"}, "now has no UTC offset"),
        ({"caps": [{"job_id": 0}], "now": "2026-12-01T12:00:00Z"}, "job_id 0"),
        ({"caps": [{"job_id": 1, "gpu": "../x"}], "now": "2026-12-01T12:00:00Z"}, "UUID"),
        (
            {
                "caps": [{"job_id": 1, "gpu": None, "power_limit_w": 1e9}],
                "now": "2026-12-01T12:00Z",
            },
            "power_limit_w 1000000000.0",
        ),
        ({"caps": [{}] * (CAPS_MAX + 1), "now": "2026-12-01T12:00:00Z"}, f"more than {CAPS_MAX}"),
    ],
)
def test_an_answer_not_from_our_service_is_refused(answer: object, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_caps(answer, 0.0)


@pytest.mark.parametrize(
    ("comment", "refusal"),
    [
        ("carbon_cap=off", "opted out (carbon_cap=off)"),
        ("carbon_budget=5kg;CARBON_CAP=Off", "opted out (carbon_cap=off)"),
        ("carbon_cap=on carbon_profile=resnet50", None),
        ("carbon_capture=yes", None),
        ("", None),
        (
            "carbon_cap=offline",
            'its comment\'s capping words cannot be read (bad carbon_cap "carbon_cap=offline": '
            "not carbon_cap=off or on; write e.g. carbon_cap=off (off or on))",
        ),
    ],
)
def test_the_comments_words_decide_whether_a_job_may_be_capped(
    comment: str, refusal: str | None
) -> None:
    assert cap_refusal(comment) == refusal


def test_each_gpu_interval_carries_the_limit_in_force_time_weighted(
    node: Node, service: CapService, dirs: tuple[Path, Path]
) -> None:
    hand_off(dirs[0], 1, "start", 0.0, gpus="0")
    for t_s in (0.0, 10.0, 20.0):
        node.at(t_s)
    service.decide(1, None, 150.0, until_s=1800.0)
    for t_s in (30.0, 40.0, 50.0, 60.0, 61.0):
        node.at(t_s)

    rows = [row for row in outbox(node.agent) if row.device.uuid == uuid(node, 0)]
    # The limit read at a sample holds since the previous one: 300 W over [0, 20),
    # 150 W over [20, 60).
    assert [(row.start_s, row.cap_w) for row in rows] == [(0.0, 200.0)]
    assert interval_json(rows[0])["cap_w"] == 200.0
    assert "cap_w" not in interval_json(replace(rows[0], cap_w=None))


def test_an_agent_db_of_an_earlier_release_gets_the_new_columns(tmp_path: Path) -> None:
    db = tmp_path / "agent.db"
    old = sqlite3.connect(db)
    old.executescript(
        "CREATE TABLE open_interval (job_id INTEGER NOT NULL, device TEXT NOT NULL, "
        "slot_start REAL NOT NULL, kind TEXT NOT NULL, model TEXT, minor INTEGER, "
        "energy_j REAL NOT NULL, method TEXT NOT NULL, sharing TEXT NOT NULL, "
        "PRIMARY KEY (job_id, device, slot_start));"
        "INSERT INTO open_interval VALUES (7, 'GPU-a', 0, 'gpu', NULL, 0, 5.0, 'counter', "
        "'exclusive');"
    )
    old.close()

    spool = Spool(db)
    [interval] = spool.open_intervals()
    spool.close_interval("n1", interval, 0.0, 60.0)

    assert (interval.energy_j, interval.cap_w) == (5.0, None)
    assert [(row.job_id, row.cap_w) for row in spool.outbox(10)] == [(7, None)]
    spool.close()


def test_an_answer_too_large_is_not_read_and_the_leases_stay(
    node: Node, service: CapService, dirs: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    hand_off(dirs[0], 1, "start", 0.0, gpus="0")
    service.decide(1, None, 150.0, until_s=1800.0)
    node.at(1.0)
    service.caps = [service.caps[0]] * (CAPS_MAX_BYTES // 50)

    with caplog.at_level(logging.WARNING):
        node.at(2.0)

    assert node.limit_w(0) == 150.0
    assert f"answer over {CAPS_MAX_BYTES} bytes" in caplog.text
