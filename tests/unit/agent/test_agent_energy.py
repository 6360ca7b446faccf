"""Energy per job, device and interval: from fake counters through agent.db's outbox."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from slurm_carbon.agent import Agent
from slurm_carbon.agent.shipper import interval_json
from slurm_carbon.errors import DeviceLost, SensorUnsupported
from slurm_carbon.sensors.base import DomainKind, GpuBusy, PowerLimits
from slurm_carbon.sensors.fake import FakeCpuEnergy, FakeGpu, FakeGpuBackend
from tests.unit.agent.conftest import hand_off, outbox, total_j

MakeAgent = Callable[..., Agent]


def test_interval_energies_sum_to_exactly_the_counter_delta(
    make_agent: MakeAgent, dirs: tuple[Path, Path]
) -> None:
    spool, _ = dirs
    # enumeration order differs from minors: the job's GPU "1" is the second listed
    backend = FakeGpuBackend([FakeGpu(3), FakeGpu(1, energy_mj=5_000_000)])
    gpu = backend.gpu_by_minor(1)
    agent = make_agent(gpu_backend=backend)
    rng = random.Random(4)  # noqa: S311 - a reproducible power profile
    hand_off(spool, 7, "start", 100.0, gpus="1")
    agent.tick(100.0)
    before_mj = gpu.energy_mj()
    for t in range(101, 191):
        gpu.set_power_mw(rng.randrange(60_000, 300_000))
        backend.advance(1.0)
        agent.tick(float(t))
    after_mj = gpu.energy_mj()
    hand_off(spool, 7, "stop", 190.0)
    backend.advance(1.0)
    agent.tick(191.0)

    rows = outbox(agent)
    assert {r.device.uuid for r in rows} == {gpu.info.uuid}
    assert [(r.start_s, r.end_s) for r in rows] == [(100.0, 120.0), (120.0, 180.0), (180.0, 190.0)]
    assert total_j(rows) == pytest.approx((after_mj - before_mj) / 1000, rel=1e-12)
    assert {(r.method, r.sharing, r.device.minor, r.device.kind) for r in rows} == {
        ("counter", "exclusive", 1, "gpu")
    }
    assert agent.spool.open_intervals() == []
    assert not (spool / "jobs" / "7.start").exists()


def test_first_and_last_intervals_are_clipped_to_start_and_stop(
    make_agent: MakeAgent, dirs: tuple[Path, Path]
) -> None:
    spool, _ = dirs
    backend = FakeGpuBackend.with_gpus(1, power_mw=250_000)
    agent = make_agent(gpu_backend=backend)
    hand_off(spool, 8, "start", 100.5, gpus="0")
    agent.tick(100.0)
    for t in range(101, 188):
        backend.advance(1.0)
        agent.tick(float(t))
        if t == 185:
            hand_off(spool, 8, "stop", 185.25)

    rows = outbox(agent)
    assert [(r.start_s, r.end_s) for r in rows] == [(100.5, 120.0), (120.0, 180.0), (180.0, 185.25)]
    assert [r.energy_j for r in rows] == pytest.approx([19.5 * 250, 60 * 250, 5.25 * 250])


def test_an_interval_closes_when_the_wall_clock_passes_its_end(
    make_agent: MakeAgent, dirs: tuple[Path, Path]
) -> None:
    spool, _ = dirs
    backend = FakeGpuBackend.with_gpus(1, power_mw=100_000)
    agent = make_agent(gpu_backend=backend)
    hand_off(spool, 9, "start", 50.0, gpus="0")
    agent.tick(50.0)
    backend.advance(10.0)
    agent.tick(60.0)
    backend.advance(0.5)
    agent.tick(60.5)

    rows = outbox(agent)
    assert [(r.start_s, r.end_s, r.energy_j) for r in rows] == [(50.0, 60.0, 1000.0)]
    assert [i.energy_j for i in agent.spool.open_intervals()] == [50.0]


def test_a_counter_reset_falls_back_to_integrated_power(
    make_agent: MakeAgent, dirs: tuple[Path, Path]
) -> None:
    spool, _ = dirs
    backend = FakeGpuBackend.with_gpus(1, power_mw=200_000, energy_mj=9_000_000)
    gpu = backend.gpu_by_minor(0)
    agent = make_agent(gpu_backend=backend, interval_s=10.0)
    hand_off(spool, 5, "start", 0.0, gpus="0")
    agent.tick(0.0)
    for t in range(1, 31):
        backend.advance(1.0)
        if t == 15:
            gpu.set_energy_mj(1_000)  # driver reload
        agent.tick(float(t))
    hand_off(spool, 5, "stop", 30.0)
    agent.tick(30.0)

    rows = outbox(agent)
    assert [(r.start_s, r.method) for r in rows] == [
        (0.0, "counter"),
        (10.0, "integrated"),
        (20.0, "counter"),
    ]
    assert total_j(rows) == pytest.approx(30 * 200)


def test_a_gpu_without_energy_counter_is_integrated(
    make_agent: MakeAgent, dirs: tuple[Path, Path]
) -> None:
    spool, _ = dirs
    backend = FakeGpuBackend.with_gpus(1, power_mw=100_000, has_energy_counter=False)
    gpu = backend.gpu_by_minor(0)
    agent = make_agent(gpu_backend=backend)
    hand_off(spool, 5, "start", 0.0, gpus="0")
    agent.tick(0.0)
    gpu.set_power_mw(300_000)
    agent.tick(10.0)  # trapezoid: (100 + 300) / 2 W for 10 s
    hand_off(spool, 5, "stop", 10.0)
    agent.tick(11.0)

    rows = outbox(agent)
    assert [(r.energy_j, r.method) for r in rows] == [(2000.0, "integrated")]


def test_a_gpu_that_disappears_loses_only_its_own_energy(
    make_agent: MakeAgent, dirs: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    spool, _ = dirs
    backend = FakeGpuBackend.with_gpus(2, power_mw=100_000)
    gpu0, gpu1 = backend.gpu_by_minor(0), backend.gpu_by_minor(1)
    agent = make_agent(gpu_backend=backend)
    hand_off(spool, 3, "start", 0.0, gpus="0,1")
    agent.tick(0.0)
    for t in range(1, 21):
        backend.advance(1.0)
        if t == 8:
            gpu1.fail_next(DeviceLost("fell off the bus"))  # one failed read: counted later
        if t == 12:
            gpu1.lose()
        with caplog.at_level(logging.WARNING):
            agent.tick(float(t))
    hand_off(spool, 3, "stop", 20.0)
    agent.tick(20.0)

    rows = outbox(agent)
    assert total_j(rows, device=gpu0.info.uuid) == pytest.approx(20 * 100)
    assert total_j(rows, device=gpu1.info.uuid) == pytest.approx(11 * 100)
    assert len([r for r in caplog.records if "fell off the bus" in r.getMessage()]) == 1


def test_a_gpu_shared_by_configuration_is_split_between_its_jobs(
    make_agent: MakeAgent, dirs: tuple[Path, Path]
) -> None:
    spool, _ = dirs
    backend = FakeGpuBackend.with_gpus(1, power_mw=100_000)
    agent = make_agent(gpu_backend=backend, shared_gpus=True)
    hand_off(spool, 1, "start", 0.0, gpus="0")
    hand_off(spool, 2, "start", 5.0, gpus="0")
    agent.tick(0.0)
    backend.advance(10.0)
    agent.tick(10.0)
    hand_off(spool, 1, "stop", 10.0)
    hand_off(spool, 2, "stop", 10.0)
    agent.tick(10.0)

    rows = outbox(agent)
    assert total_j(rows, job_id=1) == pytest.approx(500 + 250)
    assert total_j(rows, job_id=2) == pytest.approx(250)
    assert {r.job_id: r.sharing for r in rows} == {1: "shared", 2: "shared"}


def test_a_second_start_on_a_held_gpu_takes_it_from_then_on_and_says_so(
    make_agent: MakeAgent, dirs: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    spool, _ = dirs
    backend = FakeGpuBackend.with_gpus(1, power_mw=100_000)
    agent = make_agent(gpu_backend=backend)
    hand_off(spool, 1, "start", 0.0, gpus="0")
    hand_off(spool, 2, "start", 5.0, gpus="0")
    agent.tick(0.0)
    backend.advance(10.0)
    agent.tick(10.0)
    agent.tick(10.0)
    hand_off(spool, 1, "stop", 10.0)
    hand_off(spool, 2, "stop", 10.0)
    agent.tick(10.0)

    rows = outbox(agent)
    assert total_j(rows, job_id=1) == pytest.approx(500)  # 0..5 s, not half of 5..10 s
    assert total_j(rows, job_id=2) == pytest.approx(500)  # 5..10 s whole
    assert {r.job_id: r.sharing for r in rows} == {1: "exclusive", 2: "exclusive"}
    warnings = [r.getMessage() for r in caplog.records if "still held it" in r.getMessage()]
    assert len(warnings) == 1
    assert "job 2 started on it while job 1 still held it" in warnings[0]


def test_restart_after_sigkill_loses_no_joule_and_counts_none_twice(
    make_agent: MakeAgent, dirs: tuple[Path, Path]
) -> None:
    spool, _ = dirs
    backend = FakeGpuBackend.with_gpus(1)
    gpu = backend.gpu_by_minor(0)
    rng = random.Random(7)  # noqa: S311 - a reproducible power profile
    hand_off(spool, 11, "start", 100.0, gpus="0")
    first = make_agent(gpu_backend=backend)
    first.tick(100.0)
    start_mj = gpu.energy_mj()
    for t in range(101, 131):
        gpu.set_power_mw(rng.randrange(50_000, 300_000))
        backend.advance(1.0)
        first.tick(float(t))
    # SIGKILL: no shutdown. The node keeps working for 40 s while the agent is down.
    del first
    for _ in range(40):
        gpu.set_power_mw(rng.randrange(50_000, 300_000))
        backend.advance(1.0)
    second = make_agent(gpu_backend=backend)
    for t in range(170, 201):
        if t > 170:
            gpu.set_power_mw(rng.randrange(50_000, 300_000))
            backend.advance(1.0)
        second.tick(float(t))
    end_mj = gpu.energy_mj()
    hand_off(spool, 11, "stop", 200.0)
    second.tick(200.5)

    rows = outbox(second)
    keys = [(r.device.uuid, r.job_id, r.start_s) for r in rows]
    assert len(keys) == len(set(keys))
    assert [(r.start_s, r.end_s) for r in rows] == [(100.0, 120.0), (120.0, 180.0), (180.0, 200.0)]
    assert total_j(rows) == pytest.approx((end_mj - start_mj) / 1000, rel=1e-12)


def test_restart_puts_the_gap_into_open_intervals_only(
    make_agent: MakeAgent, dirs: tuple[Path, Path]
) -> None:
    spool, _ = dirs
    backend = FakeGpuBackend.with_gpus(1, power_mw=100_000)
    hand_off(spool, 12, "start", 0.0, gpus="0")
    first = make_agent(gpu_backend=backend)
    first.tick(0.0)
    backend.advance(61.0)
    first.tick(61.0)  # closes [0, 60)
    del first
    backend.advance(59.0)
    second = make_agent(gpu_backend=backend)
    second.tick(120.0)
    hand_off(spool, 12, "stop", 120.0)
    second.tick(120.0)

    rows = outbox(second)
    assert [(r.start_s, r.end_s, r.energy_j) for r in rows] == [
        (0.0, 60.0, pytest.approx(6000)),
        (60.0, 120.0, pytest.approx(6000)),
    ]


def test_a_job_that_stops_while_the_agent_is_down_keeps_what_was_read_and_no_guess(
    make_agent: MakeAgent, dirs: tuple[Path, Path]
) -> None:
    """Busy at 300 W until its stop at 40 s, then idle at 30 W until the agent is back at
    100 s: how much of that span's 4800 J was the job's cannot be known from the counter
    (a split by time would say 1600 J, not 3000): the job keeps the 30 s read before."""
    spool, _ = dirs
    backend = FakeGpuBackend.with_gpus(1, power_mw=300_000)
    hand_off(spool, 13, "start", 0.0, gpus="0")
    first = make_agent(gpu_backend=backend, interval_s=10.0)
    first.tick(0.0)
    backend.advance(30.0)
    first.tick(30.0)
    del first  # SIGKILL
    backend.advance(10.0)
    hand_off(spool, 13, "stop", 40.0)
    backend.gpu_by_minor(0).set_power_mw(30_000)
    backend.advance(60.0)
    second = make_agent(gpu_backend=backend, interval_s=10.0)
    second.tick(100.0)

    rows = outbox(second)
    assert [(r.start_s, r.end_s, r.energy_j) for r in rows] == [
        (0.0, 10.0, pytest.approx(3000)),
        (10.0, 20.0, pytest.approx(3000)),
        (20.0, 30.0, pytest.approx(3000)),
    ]


def test_a_second_epilog_after_accounting_is_harmless(
    make_agent: MakeAgent, dirs: tuple[Path, Path]
) -> None:
    spool, _ = dirs
    backend = FakeGpuBackend.with_gpus(1, power_mw=100_000)
    agent = make_agent(gpu_backend=backend)
    hand_off(spool, 4, "start", 0.0, gpus="0")
    agent.tick(0.0)
    backend.advance(10.0)
    hand_off(spool, 4, "stop", 10.0)
    agent.tick(10.0)
    rows_before = outbox(agent)
    hand_off(spool, 4, "stop", 12.0)  # Epilog again
    backend.advance(5.0)
    agent.tick(15.0)

    assert outbox(agent) == rows_before
    assert list((spool / "jobs").iterdir()) == []


def test_rapl_wraparound_is_counted_and_split_by_cpu_time(
    make_agent: MakeAgent, dirs: tuple[Path, Path]
) -> None:
    spool, _ = dirs
    cpu = FakeCpuEnergy(1, max_energy_uj=10_000_000)
    cpu.set_energy_uj("package-0", 9_000_000)

    class CpuTimes:
        def __init__(self) -> None:
            self.seen = {1: 0.0, 2: 0.0}

        def cpu_time_s(self, job_id: int) -> float | None:
            return self.seen[job_id]

    times = CpuTimes()
    agent = make_agent(cpu_backend=cpu, cpu_time=times)
    hand_off(spool, 1, "start", 0.0)
    hand_off(spool, 2, "start", 0.0)
    agent.tick(0.0)
    for t in range(1, 11):
        cpu.add_energy_uj("package-0", 2_000_000)  # 2 J/s: wraps every 5 s
        cpu.add_energy_uj("package-0/dram", 500_000)
        times.seen = {1: times.seen[1] + 1.5, 2: times.seen[2] + 0.5}
        agent.tick(float(t))
    hand_off(spool, 1, "stop", 10.0)
    hand_off(spool, 2, "stop", 10.0)
    agent.tick(10.0)

    rows = outbox(agent)
    assert total_j(rows, device="cpu-package-0") == pytest.approx(20.0)
    assert total_j(rows, device="dram-package-0") == pytest.approx(5.0)
    assert total_j(rows, job_id=1, device="cpu-package-0") == pytest.approx(20 * 0.75)
    assert {(r.method, r.sharing, r.device.kind) for r in rows if r.job_id == 1} == {
        ("counter", "shared", "cpu"),
        ("counter", "shared", "dram"),
    }


def test_without_rapl_the_estimate_is_used_and_labelled(
    make_agent: MakeAgent, dirs: tuple[Path, Path]
) -> None:
    spool, _ = dirs

    class TenWatts:
        def energy_j(self, job_id: int, kind: DomainKind, start_s: float, end_s: float) -> float:
            return (10.0 if kind is DomainKind.CPU else 2.0) * (end_s - start_s)

    agent = make_agent(cpu_estimate=TenWatts())
    hand_off(spool, 6, "start", 30.0)
    agent.tick(0.0)
    agent.tick(70.0)
    hand_off(spool, 6, "stop", 90.0)
    agent.tick(95.0)

    rows = outbox(agent)
    assert sorted((r.device.uuid, r.start_s, r.end_s, r.energy_j) for r in rows) == [
        ("cpu-estimate", 30.0, 60.0, pytest.approx(300.0)),
        ("cpu-estimate", 60.0, 90.0, pytest.approx(300.0)),
        ("dram-estimate", 30.0, 60.0, pytest.approx(60.0)),
        ("dram-estimate", 60.0, 90.0, pytest.approx(60.0)),
    ]
    assert {(r.method, r.sharing) for r in rows} == {("estimated", "exclusive")}


def test_each_gpu_interval_carries_its_mean_busy_clock_and_the_gpu_limit_range(
    make_agent: MakeAgent, dirs: tuple[Path, Path]
) -> None:
    spool, _ = dirs
    backend = FakeGpuBackend([FakeGpu(0), FakeGpu(1)])  # 100-300 W; GPU 1 cannot tell busy
    busy_gpu = backend.gpu_by_minor(0)
    agent = make_agent(gpu_backend=backend)
    hand_off(spool, 7, "start", 120.0, gpus="0,1")
    agent.tick(120.0)
    for t in range(121, 182):
        # each reading holds since the one before: 30 s at 1400 MHz, 30 s at half busy
        busy_gpu.set_busy(GpuBusy(100, 1400) if t <= 150 else GpuBusy(50, 1400))
        backend.advance(1.0)
        agent.tick(float(t))

    rows = {r.device.minor: r for r in outbox(agent)}
    assert rows[0].busy_clock_mhz == pytest.approx(1050.0)  # (1400 x 30 + 700 x 30) / 60
    assert rows[1].busy_clock_mhz is None
    wire = interval_json(rows[0])
    assert wire["busy_clock_mhz"] == pytest.approx(1050.0)
    assert wire["device"] == {
        "uuid": busy_gpu.info.uuid,
        "kind": "gpu",
        "model": "Fake GPU",
        "minor": 0,
        "min_limit_w": 100.0,
        "max_limit_w": 300.0,
    }
    assert "busy_clock_mhz" not in interval_json(rows[1])


class _NoLimitsGpu(FakeGpu):
    def power_limits(self) -> PowerLimits:
        raise SensorUnsupported("no power management on this GPU")


def test_a_gpu_whose_limits_cannot_be_read_ships_none_and_loses_no_energy(
    make_agent: MakeAgent, dirs: tuple[Path, Path]
) -> None:
    spool, _ = dirs
    backend = FakeGpuBackend([_NoLimitsGpu(0, power_mw=50_000)])
    agent = make_agent(gpu_backend=backend)
    hand_off(spool, 7, "start", 120.0, gpus="0")
    agent.tick(120.0)
    for t in range(121, 182):
        backend.advance(1.0)
        agent.tick(float(t))
    [row] = outbox(agent)
    assert row.energy_j == pytest.approx(60 * 50.0)
    assert (row.device.min_limit_w, row.device.max_limit_w) == (None, None)
    assert row.device.as_wire() == {
        "uuid": "GPU-fake-000000000000",
        "kind": "gpu",
        "model": "Fake GPU",
        "minor": 0,
    }
