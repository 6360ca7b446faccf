"""Finished capped jobs, with what their saving against the static-cap hull is computed from.

A job counts when its stored result has a slowdown (it was capped and its
profile was known when the writer settled it, see
:func:`~slurm_carbon.service.capping.job_slowdown`). Two statements: the jobs,
then the GPU intervals of all of them with their limits (``cap_w``).

Units: joules, watts; times are aware UTC datetimes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from slurm_carbon.store.models import Device, EnergyInterval, Job, JobResult
from slurm_carbon.vocabulary import DeviceKind

__all__ = ["CappedInterval", "CappedRun", "capped_runs"]


@dataclass(frozen=True, slots=True)
class CappedInterval:
    """One GPU's stored interval: its energy and the limit in force (None: not known)."""

    start: datetime
    end: datetime
    energy_j: float
    cap_w: float | None


@dataclass(frozen=True, slots=True)
class CappedRun:
    """A finished job whose result has a slowdown, and its GPU intervals, oldest first.

    Attributes:
        job_id: ``jobs.id``.
        start: When it started.
        end: When it ended.
        name: Its name (part of its workload key).
        comment: Its comment (may name its profile).
        ci_region: The region its result was accounted in (None: not known).
        pue: The PUE of its result (facility over device energy).
        gpu_model: Its GPUs' model (None: not reported).
        intervals: Its GPU intervals.
    """

    job_id: int
    start: datetime
    end: datetime
    name: str | None
    comment: str | None
    ci_region: str | None
    pue: float
    gpu_model: str | None = None
    intervals: list[CappedInterval] = field(default_factory=list)


def capped_runs(session: Session, since: datetime, until: datetime, limit: int) -> list[CappedRun]:
    """The ``limit`` latest jobs that ended in ``[since, until)`` with a slowdown, latest first."""
    jobs = session.execute(
        select(
            Job.id,
            Job.start_time,
            Job.end_time,
            Job.name,
            Job.comment,
            JobResult.ci_region,
            JobResult.pue,
        )
        .join(JobResult, JobResult.job_id == Job.id)
        .where(
            JobResult.slowdown.is_not(None),
            Job.start_time.is_not(None),
            Job.end_time >= since,
            Job.end_time < until,
        )
        .order_by(Job.end_time.desc(), Job.id)
        .limit(limit)
    ).all()
    runs = {
        job_id: CappedRun(job_id, start, end, name, comment, region, pue)
        for job_id, start, end, name, comment, region, pue in jobs
        if start is not None and end is not None
    }
    models: dict[int, str | None] = defaultdict(lambda: None)
    query = (
        select(
            EnergyInterval.job_id,
            EnergyInterval.interval_start,
            EnergyInterval.interval_end,
            EnergyInterval.energy_j,
            EnergyInterval.cap_w,
            Device.model,
        )
        .join(Device, Device.id == EnergyInterval.device_id)
        .where(EnergyInterval.job_id.in_(runs), Device.kind == DeviceKind.GPU)
        .order_by(EnergyInterval.interval_start, Device.uuid)
    )
    for job_id, start, end, energy_j, cap_w, model in session.execute(query):
        runs[job_id].intervals.append(CappedInterval(start, end, energy_j, cap_w))
        models[job_id] = models[job_id] or model
    return [replace(run, gpu_model=models[run.job_id]) for run in runs.values()]
