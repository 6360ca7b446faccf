"""The profiling state machine: warm-up, a descent over windows, settling, ending, the cache."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from slurm_carbon.control.profiling import (
    SETTLE_S,
    STOP_SLOWDOWN,
    WARMUP_S,
    WINDOW_S,
    Observation,
    Profiler,
    workload_key,
)
from slurm_carbon.errors import ConfigError
from slurm_carbon.sensors.profiles import ProfilePoint
from slurm_carbon.vocabulary import ProfilingPhase

STEP_S = 60.0
"""The agent's interval: each observation is one."""

# Work per second (fraction of the job) and draw at each limit of a 200-300 W device.
RATE = {300.0: 1e-3, 275.0: 0.98e-3, 250.0: 0.95e-3, 225.0: 0.9e-3, 200.0: 0.8e-3}


def power_w(limit_w: float) -> float:
    return 0.9 * limit_w


def by_progress(limit_w: float, start_s: float) -> Observation:
    return Observation(
        start_s, start_s + STEP_S, limit_w, power_w(limit_w) * STEP_S, RATE[limit_w] * STEP_S
    )


Make = Callable[[float, float], Observation]


def run(profiler: Profiler, until_s: float, make: Make = by_progress) -> list[tuple[float, str]]:
    """Feed STEP_S observations at the limit the profiler asks for; (end, phase:limit) each."""
    said: list[tuple[float, str]] = []
    held = profiler.limit_w
    start_s = 0.0
    while start_s < until_s and held is not None:
        held = profiler.observe(make(held, start_s))
        start_s += STEP_S
        said.append((start_s, f"{profiler.phase}:{held}"))
    return said


def test_the_constants_give_the_documented_timeline() -> None:
    # 180 s warm-up, then 15 s to settle after each change and 2 minutes per limit.
    assert (WARMUP_S, SETTLE_S, WINDOW_S, STOP_SLOWDOWN) == (180.0, 15.0, 120.0, 0.5)


def test_warm_up_then_every_limit_from_the_top_down_then_settled() -> None:
    profiler = Profiler(200.0, 300.0, started_s=0.0)
    assert (profiler.phase, profiler.limit_w) == (ProfilingPhase.WARMING_UP, 300.0)

    said = run(profiler, 2000.0)

    # Warm-up ends at 180 s; 300 W is measured over 180-300 s. After each change
    # the first interval (it starts before the 15 s settle time ends) is dropped.
    assert said == [
        (60.0, "warming_up:300.0"),
        (120.0, "warming_up:300.0"),
        (180.0, "profiling:300.0"),
        (240.0, "profiling:300.0"),
        (300.0, "profiling:275.0"),
        (360.0, "profiling:275.0"),
        (420.0, "profiling:275.0"),
        (480.0, "profiling:250.0"),
        (540.0, "profiling:250.0"),
        (600.0, "profiling:250.0"),
        (660.0, "profiling:225.0"),
        (720.0, "profiling:225.0"),
        (780.0, "profiling:225.0"),
        (840.0, "profiling:200.0"),
        (900.0, "profiling:200.0"),
        (960.0, "profiling:200.0"),
        (1020.0, "settled:None"),
    ]
    assert profiler.cacheable
    assert not profiler.estimated  # measured by progress
    limits = (200.0, 225.0, 250.0, 275.0, 300.0)
    assert [(p.limit_w, p.power_w) for p in profiler.points] == [(x, power_w(x)) for x in limits]
    assert [p.throughput for p in profiler.points] == pytest.approx([0.8, 0.9, 0.95, 0.98, 1.0])


def test_a_limit_too_slow_stops_the_descent_with_it_measured() -> None:
    rate = {300.0: 1e-3, 275.0: 0.8e-3, 250.0: 0.6e-3}  # 250 W: 67 % slower

    def slowing(limit_w: float, start_s: float) -> Observation:
        return Observation(
            start_s, start_s + STEP_S, limit_w, 100.0 * STEP_S, rate[limit_w] * STEP_S
        )

    profiler = Profiler(100.0, 300.0, started_s=0.0)
    said = run(profiler, 5000.0, slowing)

    assert said[-1] == (660.0, "settled:None")
    assert [(p.limit_w, p.throughput) for p in profiler.points] == [
        (250.0, pytest.approx(0.6)),
        (275.0, pytest.approx(0.8)),
        (300.0, 1.0),
    ]
    assert profiler.cacheable


def test_a_job_ending_mid_profiling_leaves_a_partial_result_not_cached() -> None:
    profiler = Profiler(200.0, 300.0, started_s=0.0)
    run(profiler, 540.0)
    assert (profiler.phase, profiler.limit_w) == (ProfilingPhase.PROFILING, 250.0)

    profiler.end()

    assert (profiler.phase, profiler.limit_w) == (ProfilingPhase.ENDED, None)
    assert [p.limit_w for p in profiler.points] == [275.0, 300.0]
    assert not profiler.cacheable
    # Nothing changes after the end.
    assert profiler.observe(by_progress(250.0, 600.0)) is None
    assert [p.limit_w for p in profiler.points] == [275.0, 300.0]


def test_a_cached_profile_is_reused_and_nothing_is_profiled() -> None:
    cached = (ProfilePoint(200.0, 180.0, 0.8), ProfilePoint(300.0, 270.0, 1.0))
    profiler = Profiler(200.0, 300.0, started_s=0.0, cached=cached)

    assert (profiler.phase, profiler.limit_w) == (ProfilingPhase.SETTLED, None)
    assert profiler.observe(by_progress(300.0, 600.0)) is None
    assert profiler.points == cached
    assert not profiler.cacheable  # it is cached already


def test_an_observation_at_another_limit_is_not_counted() -> None:
    profiler = Profiler(200.0, 300.0, started_s=0.0)
    run(profiler, 300.0)
    assert profiler.limit_w == 275.0
    # The agent has not applied 275 W: the GPU still runs at 300 W for 10 minutes.
    for start_s in range(300, 900, 60):
        assert profiler.observe(by_progress(300.0, float(start_s))) == 275.0
    assert [p.limit_w for p in profiler.points] == [300.0]


def test_the_busy_clock_stands_in_for_progress_when_none_is_reported() -> None:
    busy = {300.0: 0.99, 275.0: 0.97, 250.0: 0.5}  # 250 W: 98 % slower
    sm_clock_mhz = 1400.0

    def utilization(limit_w: float, start_s: float) -> Observation:
        return Observation(
            start_s,
            start_s + STEP_S,
            limit_w,
            200.0 * STEP_S,
            busy_clock_mhz=busy[limit_w] * sm_clock_mhz,
        )

    profiler = Profiler(100.0, 300.0, started_s=0.0)
    run(profiler, 5000.0, utilization)

    assert profiler.phase is ProfilingPhase.SETTLED
    assert profiler.estimated
    assert [(p.limit_w, p.power_w, p.throughput) for p in profiler.points] == [
        (250.0, 200.0, pytest.approx(0.5 / 0.99)),
        (275.0, 200.0, pytest.approx(0.97 / 0.99)),
        (300.0, 200.0, 1.0),
    ]


def test_observations_without_work_or_energy_are_not_counted() -> None:
    profiler = Profiler(200.0, 300.0, started_s=0.0)
    for start_s, progress, energy_j in [
        (180.0, 0.0, 100.0),
        (240.0, None, 100.0),
        (300.0, float("nan"), 100.0),
        (360.0, 0.1, -1.0),
    ]:
        profiler.observe(Observation(start_s, start_s + 60.0, 300.0, energy_j, progress))
    assert (profiler.limit_w, profiler.points) == (300.0, ())


def test_bad_device_limits_are_refused() -> None:
    with pytest.raises(ConfigError, match="need 0 < min <= max"):
        Profiler(300.0, 200.0, started_s=0.0)
    with pytest.raises(ConfigError, match="finite"):
        Profiler(100.0, float("inf"), started_s=0.0)


@pytest.mark.parametrize(
    ("name", "comment", "key"),
    [
        ("train_resnet", None, "train_resnet"),
        ("train_resnet", "carbon_profile=resnet50 carbon_cap=off", "resnet50"),
        (None, "carbon_profile=resnet50", "resnet50"),
        ("sbatch", None, None),
        ("wrap", "owner=ana", None),
        ("", None, None),
        (None, None, None),
        ("x" * 256, None, None),
        ("x" * 255, None, "x" * 255),
        ("train_resnet", "carbon_profile=a/b", "train_resnet"),
    ],
)
def test_the_workload_key(name: str | None, comment: str | None, key: str | None) -> None:
    assert workload_key(name, comment) == key


def test_a_300_w_gpu_down_to_100_w_settles_29_minutes_after_the_start() -> None:
    def steady(limit_w: float, start_s: float) -> Observation:
        return Observation(start_s, start_s + STEP_S, limit_w, limit_w * STEP_S, STEP_S * 1e-4)

    profiler = Profiler(100.0, 300.0, started_s=0.0)
    said = run(profiler, 10_000.0, steady)

    assert said[-1] == (29 * 60.0, "settled:None")
    assert len(profiler.points) == 9
