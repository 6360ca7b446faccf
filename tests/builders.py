"""Builders of test data and the one fake clock, shared by the tests."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from slurm_carbon.slurm import SlurmJob
from slurm_carbon.store.figures import JobFigures
from slurm_carbon.vocabulary import EnergyMethod, Sharing

__all__ = ["FakeClock", "job_figures", "slurm_job"]

#: When :func:`slurm_job`'s job starts unless told otherwise.
JOB_START = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)

_JOB = SlurmJob(
    cluster="sclocal",
    job_id="0",
    job_id_raw=0,
    array_job_id=None,
    array_task_id=None,
    name="train|resnet",
    user="alice",
    uid=1000,
    account="carbon",
    partition="debug",
    state="COMPLETED",
    exit_code="0:0",
    submit_time=JOB_START - timedelta(minutes=1),
    start_time=JOB_START,
    end_time=JOB_START + timedelta(hours=2),
    elapsed_s=7200,
    alloc_cpus=1,
    req_tres="billing=1,cpu=1,gres/gpu=1,mem=256M,node=1",
    alloc_tres="billing=1,cpu=1,gres/gpu=1,mem=256M,node=1",
    req_gpus=1,
    alloc_gpus=1,
    node_list="vm",
    time_limit_s=3 * 3600.0,
    comment="carbon_budget=5kg",
    admin_comment="",
)


def slurm_job(raw: int, **fields: Any) -> SlurmJob:
    """A finished one-GPU job of 2 h from :data:`JOB_START`, with id ``raw``, ``fields`` changed."""
    return dataclasses.replace(_JOB, **{"job_id": str(raw), "job_id_raw": raw, **fields})


def job_figures(computed_at: datetime, **fields: Any) -> JobFigures:
    """A measured job's figures: 0.3 kWh of GPU, 30 g at 100 g/kWh (SE); ``fields`` changed."""
    figures = JobFigures(
        gpu_energy_j=1.08e6,
        cpu_energy_j=0.0,
        dram_energy_j=0.0,
        co2e_g=30.0,
        ci_mean_g_per_kwh=100.0,
        ci_region="SE",
        ci_source="flat",
        pue=1.0,
        quality=EnergyMethod.COUNTER,
        sharing=Sharing.EXCLUSIVE,
        computed_at=computed_at,
    )
    return dataclasses.replace(figures, **fields)


class FakeClock:
    """Time that moves only when a test moves it.

    Calling it gives epoch seconds (the clock of sensors and workloads);
    :meth:`utc` gives the same instant as an aware datetime (the writer's clock).

    Attributes:
        now: The current time. Units: seconds since the epoch.
    """

    def __init__(self, start: float | datetime = 1_000_000.0) -> None:
        self.now = start.timestamp() if isinstance(start, datetime) else start

    def __call__(self) -> float:
        return self.now

    def utc(self) -> datetime:
        return datetime.fromtimestamp(self.now, tz=UTC)

    def advance(self, seconds: float) -> None:
        self.now += seconds

    sleep = advance
