"""The real ``slurm-carbon service`` process on loopback, over PostgreSQL, fed with requests."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select

from slurm_carbon.store import (
    EnergyInterval,
    issue_token,
    make_engine,
    session_factory,
    upgrade,
)

pytestmark = pytest.mark.integration

STARTUP_DEADLINE_S = 30
SLURM_CARBON = Path(sys.executable).with_name("slurm-carbon")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_healthy(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_DEADLINE_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"service exited {process.returncode}:\n{log.read_text()}")
        try:
            if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    pytest.fail(f"service not healthy after {STARTUP_DEADLINE_S} s:\n{log.read_text()}")


@pytest.fixture
def database(postgres_databases: Any) -> tuple[str, str]:
    """A migrated PostgreSQL database and a token for node ``vm`` of ``sclocal``."""
    url: str = postgres_databases.create("service")
    upgrade(url)
    engine = make_engine(url)
    try:
        with session_factory(engine).begin() as session:
            token = issue_token(session, "sclocal", "vm")
    finally:
        engine.dispose()
    return url, token


@pytest.fixture
def service(database: tuple[str, str], tmp_path: Path) -> Iterator[str]:
    """The service running with two workers; its base URL. Always stopped afterwards."""
    url, _ = database
    port = _free_port()
    log = tmp_path / "service.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(SLURM_CARBON), "service", "--url", url, "--port", str(port), "--workers", "2"],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_healthy(base, process, log)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_the_service_stores_a_batch_once(database: tuple[str, str], service: str) -> None:
    url, token = database
    body = {
        "cluster": "sclocal",
        "node": "vm",
        "intervals": [
            {
                "job_id": 123,
                "device": {"uuid": "GPU-abc", "kind": "gpu", "model": "Tesla V100", "minor": 0},
                "start": f"2026-11-23T15:0{minute}:00+00:00",
                "end": f"2026-11-23T15:0{minute + 1}:00+00:00",
                "energy_j": 100.0 + minute,
                "method": "counter",
                "sharing": "exclusive",
            }
            for minute in range(3)
        ],
    }
    headers = {"Authorization": f"Bearer {token}"}

    first = requests.post(f"{service}/api/v1/intervals", json=body, headers=headers, timeout=10)
    again = requests.post(f"{service}/api/v1/intervals", json=body, headers=headers, timeout=10)
    refused = requests.post(
        f"{service}/api/v1/intervals", json=body, headers={"Authorization": "Bearer no"}, timeout=10
    )

    assert (first.status_code, first.json()) == (200, {"received": 3, "stored": 3})
    assert (again.status_code, again.json()) == (200, {"received": 3, "stored": 0})
    assert refused.status_code == 401
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            stored = session.execute(
                select(EnergyInterval.energy_j).order_by(EnergyInterval.interval_start)
            )
            assert stored.scalars().all() == [100.0, 101.0, 102.0]
    finally:
        engine.dispose()
