"""The child-process supervisor the demo and the integration rig share, with a real service."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import requests

from slurm_carbon.cli.supervisor import ChildFailed, child, free_port, start_child, wait_healthy
from slurm_carbon.store import upgrade


def test_a_service_child_becomes_healthy_and_is_stopped(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'service.db'}"
    upgrade(url)
    port = free_port()
    log = tmp_path / "service.log"

    with child(log, "service", "--url", url, "--port", str(port), settle_s=0) as process:
        wait_healthy(f"http://127.0.0.1:{port}", process)
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200

    # uvicorn shuts down on SIGTERM, then re-raises it: stopped by us, not killed.
    assert process.returncode == -signal.SIGTERM
    assert "Finished server process" in log.read_text()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)


def test_a_child_that_exits_at_once_is_said(tmp_path: Path) -> None:
    log = tmp_path / "bad.log"

    with pytest.raises(ChildFailed, match=r"slurm-carbon no-such-command exited at once; see "):  # noqa: SIM117
        with child(log, "no-such-command", settle_s=2):
            pytest.fail("the block must not run")

    assert "No such command" in log.read_text()


def test_waiting_for_a_service_that_exited_ends_at_once(tmp_path: Path) -> None:
    process = start_child(tmp_path / "bad.log", "service", "--port", "-1")
    process.wait()

    with pytest.raises(ChildFailed, match=r"exited 2"):
        wait_healthy(f"http://127.0.0.1:{free_port()}", process, timeout_s=30)


def test_waiting_for_nothing_listening_ends_at_the_deadline() -> None:
    with pytest.raises(ChildFailed, match=r"did not become healthy in 0.3 s"):
        wait_healthy(f"http://127.0.0.1:{free_port()}", timeout_s=0.3, poll_s=0.05)
