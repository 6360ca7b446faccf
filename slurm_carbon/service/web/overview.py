"""The overview page's figures, each from the query the read API answers with.

Sums are :func:`~slurm_carbon.store.reports.totals` in the read API's
``group_json`` form (``GET /api/v1/totals``), jobs are ``job_json`` items
(``GET /api/v1/jobs``), both over the jobs the viewer may see
(:func:`~slurm_carbon.service.api.access.restrict_query`). Cluster-wide panels
(caps in force and the limit each running job's GPU last reported, budget
actions, nodes that stopped reporting or hold dead letters, with their agents'
latest spool health) are the store queries ``/metrics`` reads, shown to admins
only: they are not any one user's, as is what caps saved against the static-cap
hull (:func:`~slurm_carbon.control.hull_saving.hull_saving`, an estimate) over
the finished capped jobs of the days shown, each at its own stored profile and
the stored carbon intensity of its region over its run. Grid
intensity is everyone's: the latest actual, the next 24 h as
:func:`~slurm_carbon.service.ci_forecast.ci_ahead` knows it, and the cleanest
hour in it as submit-time advice finds it (:mod:`slurm_carbon.forecast.advice`).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from slurm_carbon.accounting import EnergySpan, align
from slurm_carbon.control import SavingSpan, hull_saving, workload_key
from slurm_carbon.forecast.advice import ADVICE_CARRIED_SOURCE, advice_series, cleanest_start
from slurm_carbon.sensors.profiles import PowerProfile
from slurm_carbon.service.api.access import Viewer, restrict_query
from slurm_carbon.service.api.documents import group_json, job_json
from slurm_carbon.service.api.grid import health_json
from slurm_carbon.service.ci_forecast import ci_ahead
from slurm_carbon.service.detail import DetailContext, job_caps, running_forecast
from slurm_carbon.store import Session, stored_profile
from slurm_carbon.store.hull_savings import CappedRun, capped_runs
from slurm_carbon.store.intensity import ci_points
from slurm_carbon.store.metrics import (
    budget_action_counts,
    capped_gpus,
    ci_regions,
    gpu_limits,
    latest_actual_ci,
    node_last_reports,
)
from slurm_carbon.store.reports import GroupBy, ReportQuery, iter_jobs, totals
from slurm_carbon.vocabulary import DeviceKind

__all__ = [
    "CI_LOOKBACK",
    "DAYS_SHOWN",
    "EMITTERS_SHOWN",
    "GROUPS_CHARTED",
    "HULL_JOBS_MAX",
    "NODE_SILENT_S",
    "RUNNING_SHOWN",
    "day_series",
    "overview",
]

# Two weeks of daily sums: a fortnight's pattern, one aggregate query a day.
DAYS_SHOWN = 14
# A chart over time draws the five biggest groups by CO2e over the days shown and
# sums the rest as "other": six lines, one per colour of the dashboard's palette,
# so that 500 users do not make 500 series.
GROUPS_CHARTED = 5
# The ten biggest jobs: a page's table, enough to see who dominates.
EMITTERS_SHOWN = 10
# A page lists at most 50 running jobs (each has its forecast computed); the
# count shown is of all of them.
RUNNING_SHOWN = 50
# The agent ships every minute and retries for minutes: a node silent for 15
# minutes has stopped reporting, not lagged.
NODE_SILENT_S = 15 * 60
# What caps saved is computed when the page loads, a few queries per job: the 200
# latest finished capped jobs of the days shown keep that to a fraction of a second.
HULL_JOBS_MAX = 200
# Stored series are hourly or finer: the point in force at a job's start is at most
# an hour before it.
CI_LOOKBACK = timedelta(hours=1)
# The grid-intensity horizon shown and searched for the cleanest hour.
_AHEAD = timedelta(hours=24)
_HOUR_S = 3600
_GROUPS: tuple[GroupBy, ...] = ("partition", "account", "user")


def overview(
    session: Session, viewer: Viewer, context: DetailContext, now: datetime
) -> dict[str, Any]:
    """Every panel's data for ``viewer`` at ``now``; a panel without data is None or empty."""
    query = restrict_query(session, ReportQuery(), viewer)
    emitters = sorted(totals(session, query, "job"), key=lambda g: g.co2e_g, reverse=True)
    running_rows = list(iter_jobs(session, replace(query, states=("RUNNING",))))
    return {
        "viewer": {"name": viewer.name, "admin": viewer.admin},
        "totals": group_json(totals(session, query)[0]),
        "groups": {by: [group_json(g) for g in totals(session, query, by)] for by in _GROUPS},
        "over_time": _over_time(session, query, now),
        "running": {
            "count": len(running_rows),
            "jobs": [
                job_json(row, running_forecast(session, row, context), job_caps(session, row))
                for row in running_rows[:RUNNING_SHOWN]
            ],
        },
        "emitters": [group_json(g) for g in emitters[:EMITTERS_SHOWN]],
        "intensity": [_region(session, region, now) for region in ci_regions(session)],
        "cluster": _cluster(session, now) if viewer.admin else None,
    }


def _over_time(session: Session, query: ReportQuery, now: datetime) -> dict[str, Any]:
    """CO2e and energy of the jobs that ended each UTC day, by partition, account and user.

    A day's figures of a group are ``GET /api/v1/totals?group=BY&start=DAY&end=NEXT_DAY``'s.
    """
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    starts = [midnight - timedelta(days=back) for back in range(DAYS_SHOWN - 1, -1, -1)]
    windows = [replace(query, start=start, end=start + timedelta(days=1)) for start in starts]
    return {
        "days": [start.date().isoformat() for start in starts],
        "by": {
            by: day_series([[group_json(g) for g in totals(session, w, by)] for w in windows])
            for by in _GROUPS
        },
    }


def day_series(days: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Each day's ``group_json`` items as one series per group, CO2e and kWh a value a day.

    The :data:`GROUPS_CHARTED` biggest groups by CO2e over all the days (ties by
    name), then, when there are more, one series "other" (key None) summing the rest.
    """
    by_key = [{g["key"]: g for g in day} for day in days]
    emitted: dict[str | None, float] = {}
    for day in days:
        for g in day:
            emitted[g["key"]] = emitted.get(g["key"], 0.0) + g["co2e_g"]
    ranked = sorted(emitted, key=lambda key: (-emitted[key], key or ""))
    shown, rest = ranked[:GROUPS_CHARTED], ranked[GROUPS_CHARTED:]

    def summed(keys: list[str | None], label: str, key: str | None) -> dict[str, Any]:
        return {
            "key": key,
            "label": label,
            **{
                measure: [sum(day[k][measure] for k in keys if k in day) for day in by_key]
                for measure in ("co2e_g", "facility_kwh")
            },
        }

    series = [summed([key], "(none)" if key is None else key, key) for key in shown]
    if rest:
        series.append(summed(rest, f"other ({len(rest)} more)", None))
    return series


def _cluster(session: Session, now: datetime) -> dict[str, Any]:
    silent = [
        {
            "cluster": r.cluster,
            "node": r.node,
            "last_end": r.last_end.isoformat(),
            **health_json(r.health),
        }
        for r in node_last_reports(session)
        if (now - r.last_end).total_seconds() > NODE_SILENT_S
        or (r.health is not None and r.health.dead_letters > 0)
    ]
    return {
        "capped_gpus": capped_gpus(session, now),
        "gpu_limits": [
            {"cluster": g.cluster, "node": g.node, "gpu": g.gpu, "limit_w": g.limit_w}
            for g in gpu_limits(session, now)
        ],
        "budget_actions": [
            {"action": action, "outcome": outcome, "count": count}
            for (action, outcome), count in sorted(budget_action_counts(session).items())
        ],
        "silent_nodes": silent,
        "hull_saving": _hull_saving(session, now),
    }


def _hull_saving(session: Session, now: datetime) -> dict[str, Any]:
    """What caps saved against the static-cap hull, summed over the jobs that have a figure."""
    since = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=DAYS_SHOWN - 1)
    runs = capped_runs(session, since, now, HULL_JOBS_MAX)
    saved = [s for s in (_run_saving(session, run) for run in runs) if s is not None]
    return {
        "saved_co2e_g": sum(saved) if saved else None,
        "jobs": len(saved),
        "capped_jobs": len(runs),
        "days": DAYS_SHOWN,
        "estimate": True,
    }


def _run_saving(session: Session, run: CappedRun) -> float | None:
    """One job's saving (grams CO2e); None without a profile, a region, CI points or a figure."""
    key = workload_key(run.name, run.comment)
    found = (
        None
        if run.gpu_model is None or key is None
        else stored_profile(session, run.gpu_model, key)
    )
    if found is None or run.ci_region is None:
        return None
    points = ci_points(session, run.ci_region, run.start - CI_LOOKBACK, run.end)
    if not points or not run.intervals:
        return None
    spans = [EnergySpan(DeviceKind.GPU, i.start, i.end, i.energy_j) for i in run.intervals]
    cap_of = {id(span): i.cap_w for span, i in zip(spans, run.intervals, strict=True)}
    profile = PowerProfile(key or "", found.gpu_model, found.points, 0.0, found.source)
    saving = hull_saving(
        [
            SavingSpan(p.start, p.end, cap_of[id(p.span)], p.energy_j, p.point.ci_g_per_kwh)
            for p in align(spans, points)
        ],
        profile,
        run.pue,
    )
    return None if saving is None else saving.saved_co2e_g


def _region(session: Session, region: str, now: datetime) -> dict[str, Any]:
    """A region's latest actual CI, the next 24 h as known now, and the cleanest hour in it."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    points = ci_ahead(session, region, hour, now + _AHEAD, now)
    series = advice_series(points, int(now.timestamp()))
    # A series of the last actual carried forward has no cleaner hour to tell of.
    best = (
        None
        if series is None or series.source == ADVICE_CARRIED_SOURCE
        else cleanest_start(
            series.steps, int(now.timestamp()), _HOUR_S, int(_AHEAD.total_seconds())
        )
    )
    return {
        "region": region,
        "now_g_per_kwh": latest_actual_ci(session, region, now),
        "ahead": [
            {"time": p.time.isoformat(), "ci_g_per_kwh": p.ci_g_per_kwh, "kind": p.kind}
            for p in points
        ],
        "cleanest": None
        if best is None
        else {
            "start": datetime.fromtimestamp(best.start, now.tzinfo).isoformat(),
            "mean_g_per_kwh": best.mean_best,
            "saving_pct": best.saving_pct,
        },
    }
