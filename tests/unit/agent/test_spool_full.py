"""agent.db on a full disk: the agent keeps going, says so once, and loses no joule.

The full disk: the tick's last write into agent.db fails as SQLite fails on a full
filesystem (``sqlite3.OperationalError: database or disk is full``), after the readings
and the energy of the tick were written in the same transaction. (``PRAGMA
max_page_count`` does not do it: a tick mostly rewrites pages it has.)
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from slurm_carbon.agent import Agent
from slurm_carbon.sensors.fake import FakeGpuBackend
from tests.unit.agent.conftest import hand_off, outbox, total_j

MakeAgent = Callable[..., Agent]

# Ticks (1 s each) with the disk full: more than one 60 s interval's worth of samples
# would be absurd for a unit test; 25 cross an interval's end (at 120 s).
FULL_TICKS = 25


def disk_full(key: str, value: float) -> None:
    del key, value
    raise sqlite3.OperationalError("database or disk is full")


def test_a_full_disk_loses_no_energy_and_is_logged_once(
    make_agent: MakeAgent,
    dirs: tuple[Path, Path],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spool, _ = dirs
    backend = FakeGpuBackend.with_gpus(1)
    gpu = backend.gpu_by_minor(0)
    gpu.set_power_mw(200_000)
    agent = make_agent(gpu_backend=backend)
    hand_off(spool, 7, "start", 100.0, gpus="0")
    agent.tick(100.0)
    start_mj = gpu.energy_mj()
    t = 100.0
    for _ in range(10):
        backend.advance(1.0)
        t += 1.0
        agent.tick(t)
    monkeypatch.setattr(agent.spool, "set_meta", disk_full)
    with caplog.at_level(logging.INFO, logger="slurm_carbon.agent.daemon"):
        for _ in range(FULL_TICKS):
            gpu.set_power_mw(300_000)
            backend.advance(1.0)
            t += 1.0
            agent.tick(t)  # never raises
        full = [r for r in caplog.records if "agent.db" in r.getMessage()]
        assert [r.levelno for r in full] == [logging.WARNING], full
        assert "disk is full" in full[0].getMessage()
        monkeypatch.undo()
        for _ in range(10):
            backend.advance(1.0)
            t += 1.0
            agent.tick(t)
        back = [r for r in caplog.records if "agent.db" in r.getMessage()][1:]
        assert [r.levelno for r in back] == [logging.INFO], back
    end_mj = gpu.energy_mj()
    hand_off(spool, 7, "stop", t)
    agent.tick(t + 0.5)

    rows = outbox(agent)
    # 10 s at 200 W, then 35 s at 300 W (25 of them with the disk full): 12.5 kJ.
    assert (end_mj - start_mj) / 1000 == pytest.approx(12_500.0)
    assert total_j(rows, job_id=7) == pytest.approx((end_mj - start_mj) / 1000, rel=1e-12)
