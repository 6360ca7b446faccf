"""The shipper against a real HTTP server on 127.0.0.1 (stdlib http.server in a thread)."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from slurm_carbon.agent.shipper import AUTH_RETRY_MAX_S, RETRY_AFTER_MAX_S, Shipper
from slurm_carbon.agent.spool import DeviceRef, OpenInterval, Spool


class Service:
    """Answers POSTs from a script of (status, headers, body); records what it got."""

    def __init__(self) -> None:
        self.script: list[tuple[int, dict[str, str], Any]] = []
        self.received: list[tuple[dict[str, str], Any]] = []
        # Batches holding an interval of one of these energies are refused with 422.
        self.poisoned: set[float] = set()
        # ... and batches holding a progress point of one of these fractions.
        self.poisoned_fractions: set[float] = set()
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                service.received.append((dict(self.headers), body))
                poisoned = {i["energy_j"] for i in body["intervals"]} & service.poisoned
                fractions = {p["fraction"] for p in body.get("progress", [])}
                poisoned |= fractions & service.poisoned_fractions
                if service.script:
                    status, headers, answer = service.script.pop(0)
                elif poisoned:
                    status, headers, answer = 422, {}, {"error": "energy_j\nforged log line"}
                else:
                    status, headers, answer = 200, {}, {"received": len(body["intervals"])}
                data = json.dumps(answer).encode()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
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


@pytest.fixture
def service() -> Iterator[Service]:
    service = Service()
    service.thread.start()
    yield service
    service.server.shutdown()
    service.server.server_close()


def fill(db: Path, count: int) -> None:
    spool = Spool(db)
    with spool.transaction():
        for i in range(count):
            interval = OpenInterval(
                job_id=100 + i // 50,
                device=DeviceRef("GPU-abc", "gpu", "Fake GPU", 0),
                slot_start_s=60.0 * i,
                energy_j=1.5 * i,
                method="counter",
                sharing="exclusive",
            )
            spool.close_interval("n1", interval, 60.0 * i, 60.0 * i + 60)
    spool.close()


def fill_progress(db: Path, fractions: list[float]) -> None:
    spool = Spool(db)
    with spool.transaction():
        for i, fraction in enumerate(fractions):
            spool.add_progress(100, 1_764_600_000.0 + 5 * i, fraction)
    spool.close()


def make_shipper(db: Path, url: str, session: requests.Session, **kwargs: Any) -> Shipper:
    return Shipper(
        db,
        service_url=url,
        token="s3cret",  # noqa: S106 - a test token
        cluster="sclocal",
        node="n1",
        session=session,
        timeout_s=(2.0, 5.0),
        jitter=lambda: 0.0,
        **kwargs,
    )


def test_a_batch_is_delivered_once_in_the_wire_format(service: Service, tmp_path: Path) -> None:
    db = tmp_path / "agent.db"
    fill(db, 3)
    with requests.Session() as session:
        shipper = make_shipper(db, service.url + "/", session)
        assert shipper.ship_once() is None
        assert shipper.ship_once() is None

    assert len(service.received) == 1
    headers, body = service.received[0]
    assert headers["Authorization"] == "Bearer s3cret"
    assert body["cluster"] == "sclocal"
    assert body["node"] == "n1"
    assert body["intervals"][1] == {
        "job_id": 100,
        "device": {"uuid": "GPU-abc", "kind": "gpu", "model": "Fake GPU", "minor": 0},
        "start": "1970-01-01T00:01:00+00:00",
        "end": "1970-01-01T00:02:00+00:00",
        "energy_j": 1.5,
        "method": "counter",
        "sharing": "exclusive",
    }
    assert shipper.spool.outbox_count() == 0


def test_an_outage_is_logged_once_and_everything_arrives_after_it(
    service: Service, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "agent.db"
    fill(db, 2500)
    service.script = [(503, {}, {"error": "db down"})] * 3
    with requests.Session() as session, caplog.at_level(logging.INFO):
        shipper = make_shipper(db, service.url, session)
        delays = [shipper.ship_once() for _ in range(3)]
        results = [shipper.ship_once() for _ in range(3)]

    assert delays == [0.5, 1.0, 2.0]  # exponential, jitter 0 -> half the ceiling
    assert results == [0.0, 0.0, None]
    sizes = [len(body["intervals"]) for _, body in service.received]
    assert sizes == [1000, 1000, 1000, 1000, 1000, 500]
    delivered = [i["energy_j"] for _, body in service.received[3:] for i in body["intervals"]]
    assert delivered == [1.5 * i for i in range(2500)]
    messages = [r.getMessage() for r in caplog.records if r.name == "slurm_carbon.agent.shipper"]
    assert len(messages) == 2
    assert "unavailable (HTTP 503: db down)" in messages[0]
    assert "available again" in messages[1]


def test_connection_refused_keeps_the_outbox(tmp_path: Path) -> None:
    db = tmp_path / "agent.db"
    fill(db, 2)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    with requests.Session() as session:
        shipper = make_shipper(db, f"http://127.0.0.1:{port}", session)
        assert shipper.ship_once() == 0.5
    assert shipper.spool.outbox_count() == 2


def test_one_poisoned_interval_is_dead_lettered_alone_and_the_rest_delivered(
    service: Service, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "agent.db"
    fill(db, 1000)
    service.poisoned = {1.5 * 637}
    with requests.Session() as session:
        shipper = make_shipper(db, service.url, session)
        while shipper.ship_once() is not None:
            pass

    refused = {1.5 * 637}
    accepted = [
        i["energy_j"]
        for _, body in service.received
        if not {i["energy_j"] for i in body["intervals"]} & refused
        for i in body["intervals"]
    ]
    assert accepted == [1.5 * i for i in range(1000) if i != 637]
    [(status, error, body)] = shipper.spool.dead_letters()
    assert (status, error) == (422, "energy_j\\x0aforged log line")
    assert [i["energy_j"] for i in body["intervals"]] == [1.5 * 637]  # type: ignore[index]
    assert shipper.spool.outbox_count() == 0
    # Halving on refusal, doubling on success: O(log2 1000) requests, not 1000.
    assert len(service.received) <= 4 * 10
    assert "\nforged" not in caplog.text


def test_a_refused_token_is_retried_for_a_day_then_dead_lettered(
    service: Service, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "agent.db"
    fill(db, 3)
    service.script = [(401, {}, {"error": "bad token"})] * 3
    now = [0.0]
    with requests.Session() as session:
        shipper = make_shipper(db, service.url, session, clock=lambda: now[0])
        first = shipper.ship_once()
        now[0] = AUTH_RETRY_MAX_S - 1
        second = shipper.ship_once()
        assert shipper.spool.outbox_count() == 3
        now[0] = AUTH_RETRY_MAX_S
        last = shipper.ship_once()

    assert first == 0.5  # backoff, jitter 0
    assert second == 1.0
    assert last == 0.0
    assert shipper.spool.outbox_count() == 0
    [(status, error, _)] = shipper.spool.dead_letters()
    assert (status, error) == (401, "bad token")
    assert caplog.text.count("refuses this node's token") == 1
    assert AUTH_RETRY_MAX_S == 24 * 3600


def test_a_retry_after_longer_than_the_cap_is_capped(service: Service, tmp_path: Path) -> None:
    db = tmp_path / "agent.db"
    fill(db, 1)
    service.script = [(429, {"Retry-After": "86400"}, {"error": "slow down"})]
    with requests.Session() as session:
        shipper = make_shipper(db, service.url, session)
        assert shipper.ship_once() == RETRY_AFTER_MAX_S == 600.0
    assert shipper.spool.outbox_count() == 1


def test_429_retry_after_is_honoured(service: Service, tmp_path: Path) -> None:
    db = tmp_path / "agent.db"
    fill(db, 1)
    service.script = [(429, {"Retry-After": "7"}, {"error": "slow down"})]
    with requests.Session() as session:
        shipper = make_shipper(db, service.url, session)
        assert shipper.ship_once() == 7.0
        assert shipper.spool.outbox_count() == 1
        assert shipper.ship_once() is None
    assert shipper.spool.outbox_count() == 0


def test_413_halves_the_batch_then_delivers(service: Service, tmp_path: Path) -> None:
    db = tmp_path / "agent.db"
    fill(db, 10)
    service.script = [(413, {}, {"error": "too large"})]
    with requests.Session() as session:
        shipper = make_shipper(db, service.url, session)
        while shipper.ship_once() is not None:
            pass
    assert [len(body["intervals"]) for _, body in service.received] == [10, 5, 5]
    assert shipper.spool.dead_letters() == []


def test_run_waits_the_returned_delay_and_stops(service: Service, tmp_path: Path) -> None:
    db = tmp_path / "agent.db"
    fill(db, 1)
    service.script = [(429, {"Retry-After": "0.05"}, {})]
    stop = threading.Event()
    with requests.Session() as session:
        shipper = make_shipper(db, service.url, session)
        thread = threading.Thread(target=shipper.run, args=(stop, 0.01))
        thread.start()
        deadline = threading.Event()
        for _ in range(200):
            if len(service.received) >= 2:
                break
            deadline.wait(0.01)
        stop.set()
        thread.join(timeout=5)
    assert len(service.received) == 2
    assert Spool(db).outbox_count() == 0


def test_progress_points_ride_in_the_same_batch(service: Service, tmp_path: Path) -> None:
    db = tmp_path / "agent.db"
    fill(db, 2)
    fill_progress(db, [0.25, 0.5])
    with requests.Session() as session:
        shipper = make_shipper(db, service.url, session)
        assert shipper.ship_once() is None

    [(_, body)] = service.received
    assert len(body["intervals"]) == 2
    assert body["progress"] == [
        {"job_id": 100, "time": "2025-12-01T14:40:00+00:00", "fraction": 0.25},
        {"job_id": 100, "time": "2025-12-01T14:40:05+00:00", "fraction": 0.5},
    ]
    assert shipper.spool.progress(10) == []


def test_progress_is_kept_through_an_outage(service: Service, tmp_path: Path) -> None:
    db = tmp_path / "agent.db"
    fill_progress(db, [0.5])
    service.script = [(503, {}, {"error": "db down"})]
    with requests.Session() as session:
        shipper = make_shipper(db, service.url, session)
        assert shipper.ship_once() == 0.5  # backoff_s 1.0 at jitter 0
        assert [p.fraction for p in shipper.spool.progress(10)] == [0.5]
        assert shipper.ship_once() is None

    assert [body["progress"] for _, body in service.received] == [
        [{"job_id": 100, "time": "2025-12-01T14:40:00+00:00", "fraction": 0.5}]
    ] * 2
    assert shipper.spool.progress(10) == []


def test_refused_progress_is_dead_lettered_alone_and_the_intervals_delivered(
    service: Service, tmp_path: Path
) -> None:
    db = tmp_path / "agent.db"
    fill(db, 3)
    fill_progress(db, [0.25, 0.75])
    service.poisoned_fractions = {0.75}
    with requests.Session() as session:
        shipper = make_shipper(db, service.url, session)
        while shipper.ship_once() is not None:
            pass

    delivered = [body for _, body in service.received if body["intervals"]][-1]
    assert [i["energy_j"] for i in delivered["intervals"]] == [0.0, 1.5, 3.0]
    assert "progress" not in delivered
    [(status, _, body)] = shipper.spool.dead_letters()
    assert status == 422
    assert body["intervals"] == []  # type: ignore[index]
    assert [p["fraction"] for p in body["progress"]] == [0.25, 0.75]  # type: ignore[index]
    assert (shipper.spool.outbox_count(), shipper.spool.progress(10)) == (0, [])
