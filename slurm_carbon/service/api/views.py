"""``GET /api/v1/jobs/{job_id}`` (one job in detail) and ``GET /api/v1/totals`` (sums by group).

The detail is what ``slurm-carbon report -j ID`` shows
(:func:`~slurm_carbon.service.api.documents.detail_json`); totals are the
report's ``--by`` sums over the same filters as ``GET /api/v1/jobs``, limited
to the jobs the caller may see.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, get_args

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from slurm_carbon.errors import ConfigError
from slurm_carbon.service.api.access import ReadAccess, Viewer, restrict_query
from slurm_carbon.service.api.documents import (
    deferral_totals_json,
    detail_json,
    equivalents_json,
    group_json,
)
from slurm_carbon.service.api.jobs import detail_context, parse_report_query
from slurm_carbon.service.detail import job_detail
from slurm_carbon.service.ingest import ApiError
from slurm_carbon.store import SessionFactory, transaction
from slurm_carbon.store.deferrals import deferral_totals
from slurm_carbon.store.reports import GroupBy, ReportQuery, iter_jobs, totals
from slurm_carbon.store.reports.filters import parse_jobs

__all__ = ["GROUPS", "JobEndpoint", "TotalsEndpoint"]

GROUPS: tuple[GroupBy, ...] = get_args(GroupBy)
"""What ``group`` may name: as ``report --by``."""


def _one_job(text: str) -> ReportQuery:
    try:
        selectors = parse_jobs(text)
    except ConfigError as err:
        raise ApiError(422, f"job_id: {err}") from None
    if len(selectors) != 1:
        raise ApiError(422, "job_id: one job id, e.g. 12 or 12_3")
    return ReportQuery(jobs=selectors)


@dataclass(frozen=True)
class JobEndpoint:
    """One job in detail; 404 when the store has no such job, 403 when it is not the caller's."""

    factory: SessionFactory
    access: ReadAccess
    clock: Callable[[], datetime]

    async def handle(self, request: Request) -> Response:
        """Handle one GET."""
        viewer = await self.access.viewer(request)
        if request.query_params:
            raise ApiError(422, f"{next(iter(request.query_params))}: unknown query parameter")
        query = _one_job(request.path_params["job_id"])
        return JSONResponse(await run_in_threadpool(self._detail, viewer, query))

    def _detail(self, viewer: Viewer, query: ReportQuery) -> dict[str, Any]:
        context = detail_context(self.access, self.factory, self.clock())
        with transaction(self.factory) as session:
            restrict_query(session, query, viewer)
            rows = list(iter_jobs(session, query))
            if not rows:
                raise ApiError(404, f"no job {query.jobs[0]} in the store")
            if len(rows) > 1:
                tasks = ", ".join(row.job_id_text for row in rows[:3])
                raise ApiError(422, f"job_id: names {len(rows)} jobs ({tasks} ...): ask for one")
            return detail_json(job_detail(session, rows[0], context))


@dataclass(frozen=True)
class TotalsEndpoint:
    """Sums by ``group`` (``user``, ``account``, ``partition`` or ``job``) and overall."""

    factory: SessionFactory
    access: ReadAccess

    async def handle(self, request: Request) -> Response:
        """Handle one GET."""
        params = dict(request.query_params)
        viewer = await self.access.viewer(request)
        query = parse_report_query(params, ("group",))
        group = params.get("group")
        if group is not None and group not in GROUPS:
            raise ApiError(422, f"group: one of {', '.join(GROUPS)}")
        return JSONResponse(await run_in_threadpool(self._totals, viewer, query, group))

    def _totals(self, viewer: Viewer, query: ReportQuery, group: Any) -> dict[str, Any]:
        with transaction(self.factory) as session:
            query = restrict_query(session, query, viewer)
            overall = totals(session, query)[0]
            groups = totals(session, query, group) if group is not None else []
            deferred = deferral_totals(session, query)
        return {
            "group": group,
            "groups": [group_json(found) for found in groups],
            "totals": group_json(overall),
            "equivalents": equivalents_json(overall.co2e_g),
            "deferrals": deferral_totals_json(deferred),
        }
