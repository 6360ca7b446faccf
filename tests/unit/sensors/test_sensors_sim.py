import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from slurm_carbon.errors import DeviceLost, SensorError, SensorUnsupported
from slurm_carbon.sensors.base import GpuBusy
from slurm_carbon.sensors.profiles import load_zeus_profile, synthetic_profile
from slurm_carbon.sensors.sim import (
    SIM_MAX_SM_CLOCK_MHZ,
    SimBackend,
    init_devices,
    sim_uuid,
    state_path,
)
from slurm_carbon.sensors.workload import Progress, run_workload
from tests.builders import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim_dir(tmp_path: Path, clock: FakeClock) -> Path:
    init_devices(tmp_path / "sim", 2, clock=clock)
    return tmp_path / "sim"


def test_devices_are_deterministic_and_idle(sim_dir: Path, clock: FakeClock) -> None:
    gpus = SimBackend(sim_dir, clock).gpus()
    assert [(g.info.minor, g.info.uuid) for g in gpus] == [(0, sim_uuid(0)), (1, sim_uuid(1))]
    assert sim_uuid(3) == "GPU-sim-00000000-0003"
    assert gpus[0].info.model == "Simulated GPU (synthetic profile)"
    assert gpus[0].power_mw() == 30_000  # 10 % of 300 W
    assert gpus[0].power_limit_mw() == 300_000


def test_energy_is_exact_without_polling(sim_dir: Path, clock: FakeClock) -> None:
    gpu = SimBackend(sim_dir, clock).gpus()[0]
    clock.now += 10.0
    assert gpu.energy_mj() == 300_000  # 30 W x 10 s


def test_limit_change_folds_energy_first(sim_dir: Path, clock: FakeClock) -> None:
    backend = SimBackend(sim_dir, clock)
    gpu = backend.gpus()[0]
    clock.now += 10.0
    gpu.set_power_limit_mw(100_000)
    clock.now += 5.0
    assert gpu.energy_mj() == 450_000  # idle power does not depend on the limit
    state = json.loads(state_path(sim_dir, 0).read_text())
    assert state["energy_mj"] == pytest.approx(300_000)
    assert state["t"] == pytest.approx(clock.now - 5.0)


def test_empty_directory_is_unsupported(tmp_path: Path) -> None:
    with pytest.raises(SensorUnsupported, match="sim init"):
        SimBackend(tmp_path)


def test_deleted_state_is_a_lost_gpu(sim_dir: Path, clock: FakeClock) -> None:
    backend = SimBackend(sim_dir, clock)
    gpu = backend.gpus()[1]
    state_path(sim_dir, 1).unlink()
    assert [g.info.minor for g in backend.gpus()] == [0]
    with pytest.raises(DeviceLost):
        gpu.energy_mj()
    with pytest.raises(DeviceLost):
        gpu.set_power_limit_mw(200_000)


def test_workload_draws_profile_power_and_records_ground_truth(
    sim_dir: Path, clock: FakeClock
) -> None:
    seen: list[Progress] = []
    result = run_workload(
        sim_dir,
        [0, 1],
        10,
        tick_s=1.0,
        clock=clock,
        sleep=clock.sleep,
        progress=seen.append,
        run_id="42",
    )
    # synthetic at 300 W: 270 W, 1 unit/s
    assert result.completed
    assert result.duration_s == pytest.approx(10.0)
    assert [g.energy_j for g in result.gpus] == [pytest.approx(2700.0)] * 2
    assert result.gpus[0].mean_power_w == pytest.approx(270.0)
    assert result.path == sim_dir / "runs" / "42.json"
    written = json.loads(result.path.read_text())
    assert written["gpus"][1]["energy_j"] == pytest.approx(2700.0)
    assert written["gpus"][1]["uuid"] == sim_uuid(1)
    assert len(seen) == 9
    assert seen[3].units_done == pytest.approx(4.0)
    assert seen[3].limits_w == {0: 300.0, 1: 300.0}
    gpu = SimBackend(sim_dir, clock).gpus()[0]
    assert gpu.power_mw() == 30_000  # back to idle


def test_cap_set_by_another_party_slows_the_job_within_a_tick(
    sim_dir: Path, clock: FakeClock
) -> None:
    agent_view = SimBackend(sim_dir, clock).gpus()[0]

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        if clock.now - start >= 4.0 and agent_view.power_limit_mw() == 300_000:
            agent_view.set_power_limit_mw(100_000)

    start = clock.now
    result = run_workload(sim_dir, [0], 10, tick_s=1.0, clock=clock, sleep=sleep)
    slow = synthetic_profile().at(100)
    # 4 units at 1/s, then 6 units at the 100 W pace
    assert result.duration_s == pytest.approx(4.0 + 6.0 / slow.throughput)
    assert result.gpus[0].energy_j == pytest.approx(4.0 * 270 + (6.0 / slow.throughput) * 100)
    assert result.gpus[0].limits_w == [[0.0, 300.0], [4.0, 100.0]]


def test_lower_limit_saves_energy_on_the_v100_profile(
    sim_dir: Path, clock: FakeClock, shared_data: Callable[[str], Path]
) -> None:
    path = shared_data("gpu_power_profiles/zeus_nsdi23/summary_power_v100.csv")
    profile = load_zeus_profile(path, "imagenet/resnet50/256")
    init_devices(sim_dir, 1, profile, clock=clock)
    gpu = SimBackend(sim_dir, clock).gpus()[0]
    figures = {}
    for limit_w in (250, 150):
        gpu.set_power_limit_mw(limit_w * 1000)
        run = run_workload(sim_dir, [0], 0.01, tick_s=5.0, clock=clock, sleep=clock.sleep)
        figures[limit_w] = (run.duration_s, run.gpus[0].energy_j)
    # Zeus row: 250 W -> 3514.99 s/epoch at 220.25 W; 150 W -> 4148.66 s at 144.59 W
    assert figures[250][0] == pytest.approx(35.1498666, rel=1e-6)
    assert figures[250][1] == pytest.approx(35.1498666 * 220.25029530245453, rel=1e-6)
    assert figures[150][0] == pytest.approx(41.4866, rel=1e-6)
    assert figures[150][1] == pytest.approx(41.4866 * 144.59474877795884, rel=1e-6)


def test_gpu_busy_with_another_live_process_is_refused(sim_dir: Path, clock: FakeClock) -> None:
    path = state_path(sim_dir, 1)
    state = json.loads(path.read_text())
    state["busy_pid"] = os.getppid()
    path.write_text(json.dumps(state))
    with pytest.raises(SensorError, match="busy with pid"):
        run_workload(sim_dir, [0, 1], 1, clock=clock, sleep=clock.sleep)
    assert json.loads(state_path(sim_dir, 0).read_text())["busy_pid"] is None


def test_dead_workload_leaves_the_gpu_idle(sim_dir: Path, clock: FakeClock) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    path = state_path(sim_dir, 0)
    state = json.loads(path.read_text())
    state.update(busy_pid=int(dead.stdout), power_mw=270_000.0)
    path.write_text(json.dumps(state))
    gpu = SimBackend(sim_dir, clock).gpus()[0]
    clock.now += 10.0
    assert gpu.power_mw() == 30_000
    assert gpu.energy_mj() == 300_000


@pytest.mark.parametrize(("units", "minors"), [(0, [0]), (1, [])])
def test_bad_workload_arguments(sim_dir: Path, units: float, minors: list[int]) -> None:
    with pytest.raises(ValueError, match="need units"):
        run_workload(sim_dir, minors, units)


_HAMMER = """
import sys
from pathlib import Path
from slurm_carbon.sensors.sim import SimBackend
gpu = SimBackend(Path(sys.argv[1])).gpus()[0]
for i in range(150):
    gpu.set_power_limit_mw(100_000 if i % 2 else 300_000)
"""


def test_concurrent_writers_keep_energy_exact_and_monotone(tmp_path: Path) -> None:
    init_devices(tmp_path, 1)
    writers = [subprocess.Popen([sys.executable, "-c", _HAMMER, str(tmp_path)]) for _ in range(2)]
    gpu = SimBackend(tmp_path).gpus()[0]
    readings = []
    try:
        result = run_workload(
            tmp_path, [0], 0.5, tick_s=0.01, progress=lambda _: readings.append(gpu.energy_mj())
        )
        while any(w.poll() is None for w in writers):
            readings.append(gpu.energy_mj())
    finally:
        for writer in writers:
            writer.wait(timeout=60)
    assert [w.returncode for w in writers] == [0, 0]
    assert len(readings) > 10
    assert readings == sorted(readings)
    # whatever the interleaving, the GPU drew between 100 W and 270 W while busy
    assert 100 * result.duration_s <= result.gpus[0].energy_j <= 270 * result.duration_s
    assert json.loads((tmp_path / "gpu0.json").read_text())["busy_pid"] is None


def test_busy_clock_falls_with_the_limit_as_the_profile_throughput(
    sim_dir: Path, clock: FakeClock
) -> None:
    agent_view = SimBackend(sim_dir, clock).gpus()[0]
    seen: list[GpuBusy | None] = []

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        seen.append(agent_view.busy())
        if len(seen) == 2:
            agent_view.set_power_limit_mw(100_000)
            seen.append(agent_view.busy())

    run_workload(sim_dir, [0], 5, tick_s=1.0, clock=clock, sleep=sleep)
    profile = synthetic_profile()
    ratio = profile.at(100).throughput / profile.at(300).throughput  # sqrt(100/270)
    assert seen[0] == GpuBusy(100.0, SIM_MAX_SM_CLOCK_MHZ)
    assert seen[2] is not None
    assert seen[2].utilization_pct == 100.0
    assert seen[2].sm_clock_mhz == pytest.approx(SIM_MAX_SM_CLOCK_MHZ * ratio)
    assert seen[2].busy_clock_mhz == pytest.approx(SIM_MAX_SM_CLOCK_MHZ * 0.6086, rel=1e-3)
    idle = agent_view.busy()
    assert idle is not None
    assert idle.utilization_pct == 0.0
    assert idle.busy_clock_mhz == 0.0
