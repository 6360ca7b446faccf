"""CapDecider profiling a job online when no profile is stored (both databases).

Each test plays the agent: a minute of the job at the limit last decided (its energy at
that limit's true power, its progress at that limit's true speed), then a sweep.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from slurm_carbon.config.policies import CappingConfig
from slurm_carbon.sensors.profiles import PowerProfile, ProfilePoint
from slurm_carbon.service.capping import CapDecider
from slurm_carbon.service.profiling import PROFILING_LEASE
from slurm_carbon.service.site import StaticSite
from slurm_carbon.slurm import SlurmJob
from slurm_carbon.store import Job, SessionFactory
from slurm_carbon.store.caps import (
    CapDecisionRecord,
    cap_timeline,
    gpu_min_limit_w,
    interval_busy_clocks,
)
from slurm_carbon.store.ingest import ReportedDevice, ReportedInterval, ingest_batch
from slurm_carbon.store.profiles import stored_profile
from slurm_carbon.store.progress import ProgressPoint, add_progress
from slurm_carbon.vocabulary import (
    PROFILE_LEARNED_BUSY_CLOCK,
    DeviceKind,
    EnergyMethod,
    Sharing,
)
from tests.builders import JOB_START, slurm_job

MODEL = "Simulated V100"
KEY = "resnet-learned"
GPU = ReportedDevice("GPU-prof0", DeviceKind.GPU, model=MODEL, minor=0)
# The same GPU as a newer agent reports it: with NVML's limit range.
GPU_200_TO_300 = replace(GPU, min_limit_w=200.0, max_limit_w=300.0)
# The simulated GPU's SM clock at the highest limit: its busy clock falls with the speed.
SM_CLOCK_MHZ = 1530.0
MINUTE = timedelta(minutes=1)
# The job's true power and speed: within the 2.5 % budget, 250 W uses the least energy per
# unit of work (245 / 0.98 = 250, against 280 at 300 W); 225 W is 5.3 % slower.
TRUTH = PowerProfile(
    "truth",
    MODEL,
    tuple(
        ProfilePoint(limit_w, power_w, speed)
        for limit_w, power_w, speed in [
            (150.0, 150.0, 0.76),
            (175.0, 174.0, 0.84),
            (200.0, 198.0, 0.9),
            (225.0, 222.0, 0.95),
            (250.0, 245.0, 0.98),
            (275.0, 265.0, 0.995),
            (300.0, 280.0, 1.0),
        ]
    ),
    0.0,
    "test",
)
TOTAL_WORK_S = 4 * 3600.0  # the job's work: 4 h at the highest limit


def running(raw: int, **fields: object) -> SlurmJob:
    return slurm_job(
        raw,
        state="RUNNING",
        end_time=None,
        comment=f"carbon_profile={KEY}",
        node_list="vm",
        **fields,
    )


def decider(factory: SessionFactory) -> CapDecider:
    return CapDecider(
        factory, CappingConfig.model_validate({"policy": "static"}), StaticSite("SE", 1.2)
    )


def job_id(session: Session, raw: int) -> int:
    return session.execute(select(Job.id).where(Job.slurm_job_id == raw)).scalar_one()


def run_minute(
    session: Session,
    raw: int,
    minute: int,
    limit_w: float,
    done: float,
    *,
    progress: bool,
    settling_from_w: float,
    busy: bool = False,
    gpu: ReportedDevice = GPU,
) -> float:
    """Minute ``minute`` of job ``raw`` at ``limit_w``; its progress after it (from ``done``).

    The GPU settles slowly here: in the minute after a change it still draws and runs
    as under ``settling_from_w`` (the limit before). With ``busy`` the interval carries
    the busy clock of a GPU always busy whose clock falls with its speed.
    """
    start = JOB_START + minute * MINUTE
    truth = TRUTH.at(settling_from_w)
    interval = ReportedInterval(
        raw,
        gpu,
        start,
        start + MINUTE,
        truth.power_w * 60,
        EnergyMethod.COUNTER,
        Sharing.EXCLUSIVE,
        cap_w=limit_w,
        busy_clock_mhz=SM_CLOCK_MHZ * truth.throughput if busy else None,
    )
    ingest_batch(session, "sclocal", "vm", [interval])
    done += truth.throughput * 60 / TOTAL_WORK_S
    if progress:
        add_progress(session, [(job_id(session, raw), ProgressPoint(start + MINUTE, done))])
    session.commit()
    return done


def play(
    session: Session,
    caps: CapDecider,
    raw: int,
    minutes: int,
    *,
    reports_for: int | None = None,
    sweep_min: int = 1,
    ends: bool = False,
    busy: bool = False,
    gpu: ReportedDevice = GPU,
) -> list[CapDecisionRecord]:
    """``minutes`` minutes of the job, a sweep every ``sweep_min``; the decisions recorded.

    The job reports its progress for its first ``reports_for`` minutes (None: all).
    With ``ends``, the last sweep sees the job ended at its time.
    """
    limit_w, before_w, done, records = 300.0, 300.0, 0.0, []
    for minute in range(minutes):
        reports = reports_for is None or minute < reports_for
        done = run_minute(
            session,
            raw,
            minute,
            limit_w,
            done,
            progress=reports,
            settling_from_w=before_w,
            busy=busy,
            gpu=gpu,
        )
        before_w = limit_w
        now = at(minute + 1)
        if (minute + 1) % sweep_min:
            continue
        job = running(raw)
        if ends and minute + 1 == minutes:
            job = slurm_job(raw, comment=job.comment, node_list="vm", end_time=now)
        record = caps.decide(job, now)
        if record is not None:
            records.append(record)
            limit_w = record.power_limit_w
    return records


def at(minute: int) -> datetime:
    return JOB_START + minute * MINUTE


def test_a_job_is_profiled_limit_by_limit_then_capped_by_the_site_policy(
    session: Session, factory: SessionFactory
) -> None:
    records = play(session, decider(factory), 301, 31)

    # Warm-up until 3 min; each limit then: 1 min to settle (the interval after the
    # change starts within SETTLE_S), 2 min measured (WINDOW_S).
    assert [(r.period_start, r.power_limit_w, r.policy, r.reason) for r in records] == [
        (at(1), 300.0, "profiling", "profiling: 300 W (warming up)"),
        (at(5), 275.0, "profiling", "profiling: 275 W (limit 2 of 7)"),
        (at(8), 250.0, "profiling", "profiling: 250 W (limit 3 of 7)"),
        (at(11), 225.0, "profiling", "profiling: 225 W (limit 4 of 7)"),
        (at(14), 200.0, "profiling", "profiling: 200 W (limit 5 of 7)"),
        (at(17), 175.0, "profiling", "profiling: 175 W (limit 6 of 7)"),
        (at(20), 150.0, "profiling", "profiling: 150 W (limit 7 of 7)"),
        # Settled: the static limit from now (after the profiling lease in force), then
        # once a period.
        (
            at(23),
            250.0,
            "static",
            "static: 250 W, least energy per unit of work within 2.5% slowdown (resnet-learned)",
        ),
        (at(30), 250.0, "static", records[-1].reason),
    ]
    assert records[0].period_end == at(1) + PROFILING_LEASE
    assert records[-2].period_end == at(30)  # the site's period
    learned = stored_profile(session, MODEL, KEY)
    assert learned is not None
    assert learned.source == "learned"
    assert [(p.limit_w, p.power_w, round(p.throughput, 9)) for p in learned.points] == [
        (p.limit_w, p.power_w, p.throughput) for p in TRUTH.points
    ]


def test_the_next_job_of_the_same_key_skips_profiling(
    session: Session, factory: SessionFactory
) -> None:
    caps = decider(factory)
    play(session, caps, 302, 23)

    records = play(session, caps, 303, 2)

    assert [(r.period_start, r.power_limit_w, r.policy) for r in records] == [
        (JOB_START, 250.0, "static")
    ]


def test_with_the_default_sweep_each_limit_is_held_until_the_sweep_after_its_window(
    session: Session, factory: SessionFactory
) -> None:
    records = play(session, decider(factory), 306, 35, sweep_min=5)

    # The interval after each change is not measured (the limit settling), the next two
    # are (WINDOW_S); the two after them still run at the old limit and are not counted.
    assert [(r.period_start, r.power_limit_w, r.policy) for r in records] == [
        (at(5), 275.0, "profiling"),
        (at(10), 250.0, "profiling"),
        (at(15), 225.0, "profiling"),
        (at(20), 200.0, "profiling"),
        (at(25), 175.0, "profiling"),
        (at(30), 150.0, "profiling"),
        (at(35), 250.0, "static"),
    ]
    learned = stored_profile(session, MODEL, KEY)
    assert learned is not None
    assert [(p.power_w, round(p.throughput, 9)) for p in learned.points] == [
        (p.power_w, p.throughput) for p in TRUTH.points
    ]


def test_a_limit_held_longer_is_renewed_before_its_lease_ends(
    session: Session, factory: SessionFactory
) -> None:
    # Progress stops at 6 min, during the window at 275 W: the limit is held, renewed when
    # half of its 10-minute lease is left.
    records = play(session, decider(factory), 307, 16, reports_for=6)

    assert [(r.period_start, r.period_end, r.power_limit_w) for r in records] == [
        (at(1), at(11), 300.0),
        (at(5), at(15), 275.0),
        (at(10), at(20), 275.0),
        (at(15), at(25), 275.0),
    ]


def test_a_job_without_progress_is_profiled_by_its_busy_clock_as_an_estimate(
    session: Session, factory: SessionFactory
) -> None:
    records = play(session, decider(factory), 311, 23, reports_for=0, busy=True)

    assert [(r.power_limit_w, r.policy) for r in records] == [
        (300.0, "profiling"),
        *((limit_w, "profiling") for limit_w in (275.0, 250.0, 225.0, 200.0, 175.0, 150.0)),
        (250.0, "static"),
    ]
    learned = stored_profile(session, MODEL, KEY)
    assert learned is not None
    assert learned.source == PROFILE_LEARNED_BUSY_CLOCK == "learned:busy-clock-estimate"
    assert [(p.limit_w, p.power_w, round(p.throughput, 9)) for p in learned.points] == [
        (p.limit_w, p.power_w, p.throughput) for p in TRUTH.points
    ]


def test_progress_is_preferred_to_the_busy_clock(session: Session, factory: SessionFactory) -> None:
    play(session, decider(factory), 312, 23, busy=True)

    learned = stored_profile(session, MODEL, KEY)
    assert learned is not None
    assert learned.source == "learned"


def test_profiling_stops_at_the_lowest_limit_the_gpu_reported(
    session: Session, factory: SessionFactory
) -> None:
    records = play(session, decider(factory), 313, 18, gpu=GPU_200_TO_300)

    assert [r.reason for r in records[:3]] == [
        "profiling: 300 W (warming up)",
        "profiling: 275 W (limit 2 of 5)",
        "profiling: 250 W (limit 3 of 5)",
    ]
    assert [r.power_limit_w for r in records] == [300.0, 275.0, 250.0, 225.0, 200.0, 250.0]
    learned = stored_profile(session, MODEL, KEY)
    assert learned is not None
    assert [p.limit_w for p in learned.points] == [200.0, 225.0, 250.0, 275.0, 300.0]


def test_a_job_without_progress_nor_busy_clock_is_not_profiled(
    session: Session, factory: SessionFactory, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO"):
        records = play(session, decider(factory), 304, 25, reports_for=0)

    assert records == []
    assert cap_timeline(session, job_id(session, 304)) == []
    assert stored_profile(session, MODEL, KEY) is None
    notes = [r.getMessage() for r in caplog.records if "no cap" in r.getMessage()]
    assert notes == [
        f"no cap for job=304: no power profile for GPU model {MODEL!r}, workload key {KEY!r};"
        " not profiled: the job reports no progress and its GPUs no busy clock"
    ]


def test_a_job_that_ends_mid_profiling_saves_nothing(
    session: Session, factory: SessionFactory
) -> None:
    # Running to 14 min, it would be asked for 200 W (as above); ended, nothing is decided.
    records = play(session, decider(factory), 305, 14, ends=True)

    assert [r.power_limit_w for r in records] == [300.0, 275.0, 250.0, 225.0]
    assert len(cap_timeline(session, job_id(session, 305))) == 4
    assert stored_profile(session, MODEL, KEY) is None


def test_the_lowest_limit_and_busy_clock_count_only_when_every_gpu_reports_them(
    session: Session,
) -> None:
    other = ReportedDevice("GPU-prof1", DeviceKind.GPU, model=MODEL, minor=1)
    start = JOB_START

    def report(raw: int, devices: list[tuple[ReportedDevice, float | None]]) -> int:
        ingest_batch(
            session,
            "sclocal",
            "vm",
            [
                ReportedInterval(
                    raw,
                    device,
                    start,
                    start + MINUTE,
                    6000.0,
                    EnergyMethod.COUNTER,
                    Sharing.EXCLUSIVE,
                    cap_w=300.0,
                    busy_clock_mhz=busy,
                )
                for device, busy in devices
            ],
        )
        session.commit()
        return job_id(session, raw)

    both = report(
        321,
        [(GPU_200_TO_300, 1400.0), (replace(other, min_limit_w=150.0, max_limit_w=300.0), 1000.0)],
    )
    assert gpu_min_limit_w(session, both) == 200.0  # the limit both GPUs allow
    assert interval_busy_clocks(session, both) == {start: 1200.0}

    one_old = report(322, [(GPU_200_TO_300, 1400.0), (replace(other, uuid="GPU-old"), None)])
    assert gpu_min_limit_w(session, one_old) is None
    assert interval_busy_clocks(session, one_old) == {}
