"""``GET /api/v1/intensity`` (the grid now and ahead) and ``GET /api/v1/nodes`` (admins).

``intensity``: for every region with a stored carbon intensity, its newest
actual value and the intensity expected over the next ``hours`` (1 to
:data:`MAX_AHEAD_H`, default :data:`DEFAULT_AHEAD_H`) as
:func:`~slurm_carbon.service.ci_forecast.ci_ahead` knows it now: forecasts where
there are some, else the last actual value carried. Any authenticated user may
read it.

``nodes`` (admins only, 403 otherwise): when each node's latest interval ended
and how long ago, the agent's spool backlog (rows waiting besides the batch
that reported it) and dead letters as its latest batch reported them, and when
(``health_at``; all three null for an agent too old to report them), and the
writer's AdminComment backlog.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from slurm_carbon.service.api.access import ReadAccess
from slurm_carbon.service.ci_forecast import ci_ahead
from slurm_carbon.service.ingest import ApiError
from slurm_carbon.store import CommentWriteState, SessionFactory, transaction
from slurm_carbon.store.metrics import (
    ci_regions,
    comment_write_counts,
    latest_actual_ci,
    node_last_reports,
)
from slurm_carbon.store.nodes import NodeHealth

__all__ = [
    "DEFAULT_AHEAD_H",
    "MAX_AHEAD_H",
    "IntensityEndpoint",
    "NodesEndpoint",
    "health_json",
]

# The day ahead: what a user planning today's jobs looks at.
DEFAULT_AHEAD_H = 24
# The service stores forecasts 48 h ahead (as the advice files read them); beyond
# that only the last actual value would be carried.
MAX_AHEAD_H = 48


def _hours(params: dict[str, str]) -> int:
    unknown = sorted(set(params) - {"hours"})
    if unknown:
        raise ApiError(422, f"{unknown[0]}: unknown query parameter")
    text = params.get("hours", str(DEFAULT_AHEAD_H))
    if not text.isdigit() or not 1 <= int(text) <= MAX_AHEAD_H:
        raise ApiError(422, f"hours: must be a whole number from 1 to {MAX_AHEAD_H}")
    return int(text)


@dataclass(frozen=True)
class IntensityEndpoint:
    """Current and expected carbon intensity per region, as known at ``clock()``."""

    factory: SessionFactory
    access: ReadAccess
    clock: Callable[[], datetime]

    async def handle(self, request: Request) -> Response:
        """Handle one GET."""
        await self.access.viewer(request)
        hours = _hours(dict(request.query_params))
        return JSONResponse(await run_in_threadpool(self._regions, hours))

    def _regions(self, hours: int) -> dict[str, Any]:
        now = self.clock()
        end = now + timedelta(hours=hours)
        regions = []
        with transaction(self.factory) as session:
            for region in ci_regions(session):
                points = ci_ahead(session, region, now, end, now)
                regions.append(
                    {
                        "region": region,
                        "current_g_per_kwh": latest_actual_ci(session, region, now),
                        "ahead": [
                            {
                                "time": point.time.isoformat(),
                                "step_s": point.step_s,
                                "ci_g_per_kwh": point.ci_g_per_kwh,
                                "kind": point.kind.value,
                                "source": point.source,
                                "issued_at": point.issued_at.isoformat(),
                            }
                            for point in points
                        ],
                    }
                )
        return {"now": now.isoformat(), "hours": hours, "regions": regions}


def health_json(health: NodeHealth | None) -> dict[str, Any]:
    """A node's latest health as the API shows it (every field null when none was reported)."""
    if health is None:
        return {"spool_backlog": None, "dead_letters": None, "health_at": None}
    return {
        "spool_backlog": health.spool_backlog,
        "dead_letters": health.dead_letters,
        "health_at": health.at.isoformat(),
    }


@dataclass(frozen=True)
class NodesEndpoint:
    """Each node's latest report, for admins."""

    factory: SessionFactory
    access: ReadAccess
    clock: Callable[[], datetime]

    async def handle(self, request: Request) -> Response:
        """Handle one GET."""
        viewer = await self.access.viewer(request)
        if not viewer.admin:
            raise ApiError(403, f"{viewer.name} is not an admin: node health is for admins")
        if request.query_params:
            raise ApiError(422, f"{next(iter(request.query_params))}: unknown query parameter")
        return JSONResponse(await run_in_threadpool(self._nodes))

    def _nodes(self) -> dict[str, Any]:
        now = self.clock()
        with transaction(self.factory) as session:
            reports = node_last_reports(session)
            writes = comment_write_counts(session)
        return {
            "now": now.isoformat(),
            "nodes": [
                {
                    "cluster": report.cluster,
                    "node": report.node,
                    "last_report": report.last_end.isoformat(),
                    "seconds_since": (now - report.last_end).total_seconds(),
                    **health_json(report.health),
                }
                for report in reports
            ],
            "writer": {
                "pending": writes.get(CommentWriteState.PENDING, 0),
                "failed": writes.get(CommentWriteState.FAILED, 0),
            },
        }
