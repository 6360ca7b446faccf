"""A node whose clock is off: its intervals still go to the right job.

The agent attributes energy by the job ids the node's own Prolog and Epilog hand
over (``jobs/<id>.start`` / ``.stop``), with their GPUs; the start and stop times in
those files come from the same node clock as the agent's samples. A node 90 s off
therefore moves its intervals' times by 90 s, never their job or their energy.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from slurm_carbon.agent import Agent
from slurm_carbon.agent.spool import OutboxRow
from slurm_carbon.sensors.fake import FakeGpuBackend
from tests.unit.agent.conftest import hand_off, outbox, total_j

MakeAgent = Callable[..., Agent]

# The node's clock error the fault matrix names (issue 14): 90 s ahead or behind.
NODE_CLOCK_OFF_S = 90.0
# Two jobs one after the other on the same GPU, 30 s each at different power, so
# energy given to the wrong job would show. Units: seconds, milliwatts.
JOBS = ((7, 100.0, 130.0, 250_000), (8, 130.0, 160.0, 80_000))


def run_jobs(agent: Agent, backend: FakeGpuBackend, spool: Path, off_s: float) -> list[OutboxRow]:
    """The two jobs on a node whose clock reads ``off_s`` more than the true time."""
    gpu = backend.gpu_by_minor(0)
    for job_id, start_s, stop_s, power_mw in JOBS:
        hand_off(spool, job_id, "start", start_s + off_s, gpus="0")
        gpu.set_power_mw(power_mw)
        t = start_s
        agent.tick(t + off_s)
        while t < stop_s:
            backend.advance(1.0)
            t += 1.0
            agent.tick(t + off_s)
        hand_off(spool, job_id, "stop", stop_s + off_s)
    agent.tick(JOBS[-1][2] + off_s + 0.5)
    return outbox(agent)


@pytest.mark.parametrize("off_s", [0.0, NODE_CLOCK_OFF_S, -NODE_CLOCK_OFF_S])
def test_a_node_clock_off_moves_intervals_in_time_not_to_another_job(
    make_agent: MakeAgent, dirs: tuple[Path, Path], off_s: float
) -> None:
    spool, _ = dirs
    backend = FakeGpuBackend.with_gpus(1)
    rows = run_jobs(make_agent(gpu_backend=backend), backend, spool, off_s)
    assert {r.job_id for r in rows} == {job_id for job_id, *_ in JOBS}
    for job_id, start_s, stop_s, power_mw in JOBS:
        mine = [r for r in rows if r.job_id == job_id]
        # 30 s at the job's own power: 7.5 kJ for job 7, 2.4 kJ for job 8.
        assert total_j(mine) == pytest.approx(power_mw / 1000 * (stop_s - start_s), rel=1e-9)
        assert min(r.start_s for r in mine) == start_s + off_s
        assert max(r.end_s for r in mine) == stop_s + off_s
