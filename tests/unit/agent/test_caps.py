"""The cap keeper: original saved before the set, clamped, exclusive only, always restored."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from slurm_carbon.agent import Agent
from slurm_carbon.agent.capsock import PendingCap
from slurm_carbon.agent.handoff import CapRequest
from slurm_carbon.agent.spool import Spool
from slurm_carbon.errors import SensorError
from slurm_carbon.sensors.fake import FakeGpu, FakeGpuBackend
from tests.unit.agent.conftest import hand_off

MakeAgent = Callable[..., Agent]


class SpyGpu(FakeGpu):
    """Checks that the original limit is durably saved before any set."""

    def __init__(self, minor: int, db: Path, **kwargs: object) -> None:
        super().__init__(minor, **kwargs)  # type: ignore[arg-type]
        self.db = db
        self.saved_at_set: list[list[tuple[str, int]]] = []

    def set_power_limit_mw(self, limit_mw: int) -> None:
        spool = Spool(self.db)  # another connection: sees only committed rows
        self.saved_at_set.append([(c.uuid, c.original_mw) for c in spool.saved_caps()])
        spool.close()
        super().set_power_limit_mw(limit_mw)


def request(agent: Agent, job_id: int, gpu: str, watts: float, uid: int = 0) -> PendingCap:
    """Ask as ``uid`` (root by default), as the socket would; decided at the next tick."""
    return agent.cap_requests.submit(CapRequest(job_id, gpu, watts), uid)


def test_cap_saves_the_original_first_clamps_and_restores_at_job_stop(
    make_agent: MakeAgent, dirs: tuple[Path, Path]
) -> None:
    spool, state = dirs
    gpu = SpyGpu(0, state / "agent.db", limit_mw=280_000)
    agent = make_agent(gpu_backend=FakeGpuBackend([gpu]))
    hand_off(spool, 1, "start", 0.0, gpus="0")
    agent.tick(0.0)
    request(agent, 1, gpu.info.uuid, 50)  # below the 100 W minimum
    agent.tick(1.0)
    request(agent, 1, "0", 150)  # by minor; the saved original stays 280 W
    agent.tick(2.0)

    assert gpu.set_power_limit_calls == [100_000, 150_000]
    assert gpu.saved_at_set == [[(gpu.info.uuid, 280_000)], [(gpu.info.uuid, 280_000)]]

    hand_off(spool, 1, "stop", 3.0)
    agent.tick(3.0)
    assert gpu.power_limit_mw() == 280_000
    assert agent.spool.saved_caps() == []


def test_a_shared_gpu_is_never_capped(make_agent: MakeAgent, dirs: tuple[Path, Path]) -> None:
    spool, _ = dirs
    backend = FakeGpuBackend.with_gpus(2)
    agent = make_agent(gpu_backend=backend)
    hand_off(spool, 1, "start", 0.0, gpus="0,1")
    hand_off(spool, 2, "start", 0.0, gpus="1")
    agent.tick(0.0)
    request(agent, 1, "1", 150)
    request(agent, 3, "0", 150)  # not a job of this node
    agent.tick(1.0)

    assert backend.gpu_by_minor(1).set_power_limit_calls == []
    assert backend.gpu_by_minor(0).set_power_limit_calls == []
    assert agent.spool.saved_caps() == []


def test_a_gpu_that_becomes_shared_is_restored(
    make_agent: MakeAgent, dirs: tuple[Path, Path]
) -> None:
    spool, _ = dirs
    backend = FakeGpuBackend.with_gpus(1)
    gpu = backend.gpu_by_minor(0)
    agent = make_agent(gpu_backend=backend)
    hand_off(spool, 1, "start", 0.0, gpus="0")
    agent.tick(0.0)
    request(agent, 1, "0", 150)
    agent.tick(1.0)
    assert gpu.power_limit_mw() == 150_000
    hand_off(spool, 2, "start", 2.0, gpus="0")
    agent.tick(2.0)
    assert gpu.power_limit_mw() == 300_000


def test_a_restarted_agent_restores_what_a_killed_one_saved(
    make_agent: MakeAgent, dirs: tuple[Path, Path]
) -> None:
    spool, _ = dirs
    backend = FakeGpuBackend.with_gpus(1, limit_mw=250_000)
    gpu = backend.gpu_by_minor(0)
    first = make_agent(gpu_backend=backend)
    hand_off(spool, 1, "start", 0.0, gpus="0")
    first.tick(0.0)
    request(first, 1, "0", 120)
    first.tick(1.0)
    assert gpu.power_limit_mw() == 120_000
    del first  # SIGKILL

    second = make_agent(gpu_backend=backend)
    second.tick(2.0)
    assert gpu.power_limit_mw() == 250_000
    assert second.spool.saved_caps() == []


def test_shutdown_restores_and_a_failed_restore_is_retried_by_the_sweep(
    make_agent: MakeAgent, dirs: tuple[Path, Path]
) -> None:
    spool, _ = dirs
    backend = FakeGpuBackend.with_gpus(1)
    gpu = backend.gpu_by_minor(0)
    agent = make_agent(gpu_backend=backend, sweep_s=30.0)
    hand_off(spool, 1, "start", 0.0, gpus="0")
    agent.tick(0.0)
    request(agent, 1, "0", 150)
    agent.tick(1.0)
    hand_off(spool, 1, "stop", 2.0)
    gpu.fail_next(SensorError("NVML busy"), times=2)  # the sample, then the restore
    agent.tick(2.0)  # restore fails: kept, logged, no crash
    assert gpu.power_limit_mw() == 150_000
    assert len(agent.spool.saved_caps()) == 1
    agent.tick(3.0)  # not a sweep: not retried yet
    assert gpu.power_limit_mw() == 150_000
    agent.tick(31.0)  # the sweep
    assert gpu.power_limit_mw() == 300_000
    assert agent.spool.saved_caps() == []

    hand_off(spool, 2, "start", 40.0, gpus="0")
    agent.tick(40.0)
    request(agent, 2, "0", 200)
    agent.tick(41.0)
    assert gpu.power_limit_mw() == 200_000
    agent.shutdown(42.0)
    assert gpu.power_limit_mw() == 300_000
    assert backend.closed


def test_the_sweep_restores_a_cap_on_a_gpu_no_job_holds(
    make_agent: MakeAgent, dirs: tuple[Path, Path]
) -> None:
    _, state = dirs
    backend = FakeGpuBackend.with_gpus(1)
    gpu = backend.gpu_by_minor(0)
    agent = make_agent(gpu_backend=backend)
    agent.tick(0.0)
    # a cap left by someone else's crash: saved, but no job holds the GPU
    agent.spool.save_cap(gpu.info.uuid, 300_000, 99, 0.0)
    gpu.set_power_limit_mw(120_000)
    agent.tick(31.0)
    assert gpu.power_limit_mw() == 300_000
    assert Spool(state / "agent.db").saved_caps() == []


def test_epilog_twice_restores_once_and_keeps_working(
    make_agent: MakeAgent, dirs: tuple[Path, Path]
) -> None:
    spool, _ = dirs
    backend = FakeGpuBackend.with_gpus(1)
    gpu = backend.gpu_by_minor(0)
    agent = make_agent(gpu_backend=backend)
    hand_off(spool, 1, "start", 0.0, gpus="0")
    agent.tick(0.0)
    request(agent, 1, "0", 150)
    agent.tick(1.0)
    hand_off(spool, 1, "stop", 2.0)
    agent.tick(2.0)
    hand_off(spool, 1, "stop", 2.5)
    agent.tick(3.0)
    assert gpu.set_power_limit_calls == [150_000, 300_000]


def test_only_root_and_the_jobs_owner_may_cap_and_only_the_jobs_own_gpu(
    make_agent: MakeAgent, dirs: tuple[Path, Path]
) -> None:
    spool, _ = dirs
    backend = FakeGpuBackend.with_gpus(2, limit_mw=250_000)
    agent = make_agent(gpu_backend=backend)
    hand_off(spool, 1, "start", 0.0, gpus="0", uid=1000)
    hand_off(spool, 2, "start", 0.0, gpus="1", uid=2000)
    agent.tick(0.0)
    stranger = request(agent, 1, "0", 150, uid=2000)
    other_gpu = request(agent, 2, "0", 150, uid=2000)
    owner = request(agent, 2, "1", 150, uid=2000)
    root = request(agent, 1, "0", 120, uid=0)
    agent.tick(1.0)

    assert stranger.answer == "refused: uid 2000 may not cap job 1: only root and its owner may"
    assert other_gpu.answer is not None
    assert other_gpu.answer.startswith("refused: GPU GPU-fake-000000000000 is not job 2's alone")
    assert owner.answer == "ok: GPU GPU-fake-000000000001 capped at 150 W"
    assert root.answer == "ok: GPU GPU-fake-000000000000 capped at 120 W"
    assert [backend.gpu_by_minor(m).power_limit_mw() for m in (0, 1)] == [120_000, 150_000]
