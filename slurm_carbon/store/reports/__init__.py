"""Read-side queries behind ``slurm-carbon report``: jobs with their figures, and totals.

By concept: :mod:`.query` (which jobs), :mod:`.jobs` (the jobs, streamed),
:mod:`.totals` (sums by group), :mod:`.timeline` (a job over time, CI series).

Each function runs one statement (jobs joined to their results, filtered and
aggregated in SQL) and returns plain dataclasses, never ORM objects::

    query = ReportQuery(users=("alice",), start=month_start, end=month_end)
    for row in iter_jobs(session, query):        # streamed, batch_size rows at a time
        ...
    groups = totals(session, query, by="account")

A job is in a time window when it *ended* in it (``start <= end_time <= end``):
its carbon is settled when it ends, so each job is counted in exactly one
window. That is what the ``jobs(user_name, end_time)`` and ``jobs(end_time)``
indexes serve. A job selected by id (:class:`JobSelector`) is found whatever
its times.

Units: energy in joules at the devices (``*_energy_j``, before PUE) except
``facility_energy_j`` (after PUE); emissions in grams CO2e (after PUE); carbon
intensity in gCO2e/kWh; times are aware UTC datetimes.
"""

from __future__ import annotations

from slurm_carbon.store.reports.jobs import JobRow, foreign_jobs, iter_jobs
from slurm_carbon.store.reports.query import GroupBy, JobSelector, ReportQuery
from slurm_carbon.store.reports.timeline import TimelinePoint, job_timeline
from slurm_carbon.store.reports.totals import GroupTotals, totals

__all__ = [
    "GroupBy",
    "GroupTotals",
    "JobRow",
    "JobSelector",
    "ReportQuery",
    "TimelinePoint",
    "foreign_jobs",
    "iter_jobs",
    "job_timeline",
    "totals",
]
