"""A job's energy over time with the carbon intensity then in force.

Units: energy in joules at the devices; carbon intensity in gCO2e/kWh; times
are aware UTC datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from slurm_carbon.store.models import CarbonIntensityPoint, Device, EnergyInterval
from slurm_carbon.store.reports.jobs import JobRow
from slurm_carbon.vocabulary import CiKind

__all__ = ["TimelinePoint", "job_timeline"]


@dataclass(frozen=True, slots=True)
class TimelinePoint:
    """A job's energy over one interval, by device kind, with the CI in force then.

    ``ci_g_per_kwh`` is the latest stored actual intensity of the job's CI region
    and source at the interval's start, None when none is stored.
    """

    start: datetime
    end: datetime
    gpu_energy_j: float
    cpu_energy_j: float
    dram_energy_j: float
    ci_g_per_kwh: float | None


def job_timeline(session: Session, row: JobRow) -> list[TimelinePoint]:
    """The job's energy per interval start, by device kind, with the CI then in force.

    Intervals of several devices that start together are summed. The CI is read
    from the stored points of the job's result's region and source (actual
    values), the latest at or before each interval's start; None without a
    result or without such points.
    """
    statement = (
        select(
            EnergyInterval.interval_start,
            func.max(EnergyInterval.interval_end),
            Device.kind,
            func.sum(EnergyInterval.energy_j),
        )
        .join(Device, Device.id == EnergyInterval.device_id)
        .where(EnergyInterval.job_id == row.row_id)
        .group_by(EnergyInterval.interval_start, Device.kind)
        .order_by(EnergyInterval.interval_start)
    )
    by_start: dict[datetime, dict[str, Any]] = {}
    for start, end, kind, energy_j in session.execute(statement):
        point = by_start.setdefault(start, {"end": end, "gpu": 0.0, "cpu": 0.0, "dram": 0.0})
        point["end"] = max(point["end"], end)
        point[str(getattr(kind, "value", kind))] += float(energy_j)
    ci_points = _ci_points(session, row, list(by_start))
    timeline = []
    for start, point in by_start.items():
        ci = None
        for time, value in ci_points:
            if time > start:
                break
            ci = value
        timeline.append(
            TimelinePoint(start, point["end"], point["gpu"], point["cpu"], point["dram"], ci)
        )
    return timeline


def _ci_points(
    session: Session, row: JobRow, starts: list[datetime]
) -> list[tuple[datetime, float]]:
    figures = row.figures
    if figures is None or figures.ci_region is None or figures.ci_source is None or not starts:
        return []
    # The latest point at or before the first start, then every point up to the last.
    first = session.execute(
        select(func.max(CarbonIntensityPoint.time)).where(
            CarbonIntensityPoint.region == figures.ci_region,
            CarbonIntensityPoint.source == figures.ci_source,
            CarbonIntensityPoint.kind == CiKind.ACTUAL,
            CarbonIntensityPoint.time <= min(starts),
        )
    ).scalar_one_or_none()
    statement = (
        select(CarbonIntensityPoint.time, CarbonIntensityPoint.ci_g_per_kwh)
        .where(
            CarbonIntensityPoint.region == figures.ci_region,
            CarbonIntensityPoint.source == figures.ci_source,
            CarbonIntensityPoint.kind == CiKind.ACTUAL,
            CarbonIntensityPoint.time >= (first or min(starts)),
            CarbonIntensityPoint.time <= max(starts),
        )
        .order_by(CarbonIntensityPoint.time, CarbonIntensityPoint.issued_at)
    )
    return [(time, float(value)) for time, value in session.execute(statement)]


def _value(member: Any) -> str:
    return str(getattr(member, "value", member))
