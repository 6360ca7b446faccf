"""The AdminComment payloads of the demo's kinds of job, for fixed inputs, as recorded.

Recorded on 2026-12-01 before the vocabulary refactoring (issue 9; since then only
the imports have followed the names to their new home): the
demo's jobs (two GPUs measured by counters with an estimated CPU and DRAM, a
CPU-only job, array tasks sharing a node), on the demo's synthetic day around
SE's annual mean and on a replayed trace, through the writer's path from
stored intervals to payload. A change here is a change of behaviour.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.intensity.chain import BestSeries
from slurm_carbon.intensity.replay import synthetic_daily
from slurm_carbon.service.results import compute_result
from slurm_carbon.service.site import StaticSite
from slurm_carbon.slurm import SlurmJob
from slurm_carbon.store.results import StoredInterval
from slurm_carbon.vocabulary import CiKind, CiSignal, DeviceKind, EnergyMethod, Sharing
from tests.builders import slurm_job

T0 = datetime(2026, 11, 30, 22, 0, tzinfo=UTC)
SE_ANNUAL = 41.0
BASE = slurm_job(
    364,
    name="train",
    start_time=T0,
    end_time=T0 + timedelta(minutes=5),
    req_gpus=2,
    alloc_gpus=2,
    node_list="localhost",
)


def _rows(
    kind: DeviceKind, uuid: str, watts: float, method: EnergyMethod, sharing: Sharing
) -> list[StoredInterval]:
    return [
        StoredInterval(
            "localhost",
            uuid,
            kind,
            T0 + timedelta(minutes=m),
            T0 + timedelta(minutes=m + 1),
            watts * 60,
            method,
            sharing,
            "Simulated A40" if kind is DeviceKind.GPU else None,
        )
        for m in range(5)
    ]


GPU_JOB = (
    _rows(DeviceKind.GPU, "GPU-0", 212.5, EnergyMethod.COUNTER, Sharing.EXCLUSIVE)
    + _rows(DeviceKind.GPU, "GPU-1", 198.25, EnergyMethod.COUNTER, Sharing.EXCLUSIVE)
    + _rows(DeviceKind.CPU, "cpu", 37.5, EnergyMethod.ESTIMATED, Sharing.EXCLUSIVE)
    + _rows(DeviceKind.DRAM, "dram", 2.98, EnergyMethod.ESTIMATED, Sharing.EXCLUSIVE)
)
CPU_JOB = _rows(DeviceKind.CPU, "cpu", 50.0, EnergyMethod.ESTIMATED, Sharing.EXCLUSIVE)
ARRAY_TASK = _rows(
    DeviceKind.GPU, "GPU-2", 150.0, EnergyMethod.INTEGRATED, Sharing.EXCLUSIVE
) + _rows(DeviceKind.CPU, "cpu", 20.0, EnergyMethod.ESTIMATED, Sharing.SHARED)


def _trace() -> list[CiPoint]:
    return [
        CiPoint(
            "SE",
            T0 + timedelta(minutes=30 * i),
            1800,
            30.0 + 7.5 * (i % 4),
            "SE_direct_2020.csv (replayed)",
            CiKind.ACTUAL,
            CiSignal.AVERAGE,
            T0,
        )
        for i in range(-4, 8)
    ]


def _synthetic() -> list[CiPoint]:
    return synthetic_daily("SE", SE_ANNUAL, T0 - timedelta(hours=2), hours=24)


@pytest.mark.parametrize(
    ("job", "rows", "series", "pue", "payload"),
    [
        pytest.param(
            BASE,
            GPU_JOB,
            _synthetic,
            1.2,
            "sc1:co2e_g=2.242;kwh=0.0451;ci=49.7;pue=1.2;q=est;ci_src=synthetic",
            id="gpu-synthetic",
        ),
        pytest.param(
            replace(BASE, job_id="365", job_id_raw=365, req_gpus=0, alloc_gpus=0),
            CPU_JOB,
            _synthetic,
            1.2,
            "sc1:co2e_g=0.2485;kwh=0.005;ci=49.7;pue=1.2;q=est;ci_src=synthetic",
            id="cpu-synthetic",
        ),
        pytest.param(
            replace(BASE, job_id="366_1", job_id_raw=367, array_job_id=366, array_task_id=1),
            ARRAY_TASK,
            _trace,
            1.35,
            "sc1:co2e_g=0.5737;kwh=0.0191;ci=30;pue=1.35;q=est",
            id="array-task-trace",
        ),
        pytest.param(
            BASE,
            GPU_JOB,
            list,
            1.0,
            "sc1:co2e_g=1.53;kwh=0.0376;ci=40.7;pue=1;q=est",
            id="gpu-annual-fallback",
        ),
    ],
)
def test_payload_is_the_recorded_one(
    job: SlurmJob,
    rows: list[StoredInterval],
    series: Callable[[], list[CiPoint]],
    pue: float,
    payload: str,
) -> None:
    points = series()

    def stored(region: str, start: datetime, end: datetime) -> list[CiPoint]:
        return [p for p in points if p.region == region]

    computed = compute_result(
        job, rows, StaticSite("SE", pue), BestSeries(stored), T0 + timedelta(hours=1)
    )

    assert computed.payload == payload
