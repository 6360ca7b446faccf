"""Helpers for the agent's tests: hand-off files as the shims write them, agents over tmp dirs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from slurm_carbon.agent import Agent, AgentConfig
from slurm_carbon.agent.handoff import write_key_values
from slurm_carbon.agent.spool import OutboxRow


def hand_off(  # noqa: PLR0917 - the fields of a hand-off file
    spool: Path,
    job_id: int,
    event: str,
    t_s: float,
    gpus: str = "",
    uid: int = 1000,
    *,
    comment: str = "",
) -> None:
    """Write ``jobs/<id>.<event>`` the way the Prolog/Epilog shims do."""
    write_key_values(
        spool / "jobs",
        f"{job_id}.{event}",
        {
            "JOB_ID": job_id,
            "SLURM_JOB_GPUS": gpus,
            "CUDA_VISIBLE_DEVICES": gpus,
            "SLURM_JOB_UID": uid,
            "COMMENT_HEX": comment.encode().hex(),
            "TIME": f"{t_s:.9f}",
        },
    )


def outbox(agent: Agent) -> list[OutboxRow]:
    return agent.spool.outbox(100_000)


def total_j(rows: list[OutboxRow], job_id: int | None = None, device: str | None = None) -> float:
    return sum(
        r.energy_j
        for r in rows
        if (job_id is None or r.job_id == job_id) and (device is None or r.device.uuid == device)
    )


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "spool", tmp_path / "state"


@pytest.fixture
def make_agent(dirs: tuple[Path, Path]) -> Callable[..., Agent]:
    spool, state = dirs

    def make(**kwargs: Any) -> Agent:
        config = AgentConfig(
            node="n1",
            spool_dir=spool,
            state_dir=state,
            interval_s=kwargs.pop("interval_s", 60.0),
            sweep_s=kwargs.pop("sweep_s", 30.0),
            shared_gpus=kwargs.pop("shared_gpus", False),
            cap_socket=kwargs.pop("cap_socket", None),
            progress_dir=kwargs.pop("progress_dir", spool.parent / "progress"),
        )
        return Agent(config, clock=lambda: pytest.fail("tests pass now_s"), **kwargs)

    return make
