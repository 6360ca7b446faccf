"""The admin and user dashboard: HTML pages over the read API's data, logged in through MUNGE.

Routes (:func:`web_routes`):

- ``POST /web/token``: a MUNGE-authenticated caller (as the read API's)
  gets a single-use login token and the path that redeems it (``slurm-carbon web``);
- ``GET /web/login?token=...``: redeems it, sets the session cookie, goes to the overview;
- or, where the site trusts a reverse proxy (``[web] trusted_proxies``), a page
  requested through it with its user header opens a session as that user
  (:mod:`slurm_carbon.service.web.proxy`);
- ``GET /web/``: the overview of the jobs the session's user may see;
- ``GET /web/jobs/{job_id}``: one job's page (403 for another user's job); an id
  naming several (an array's tasks, a het job's components) lists them, each linked;
- ``GET /web/static/...``: the stylesheet, script and the vendored uPlot (MIT).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from slurm_carbon.config.site import WebConfig
from slurm_carbon.errors import ConfigError
from slurm_carbon.service.api import ReadAccess, Viewer
from slurm_carbon.service.api.access import restrict_query
from slurm_carbon.service.api.documents import detail_json, job_json
from slurm_carbon.service.api.jobs import detail_context
from slurm_carbon.service.detail import job_detail
from slurm_carbon.service.ingest import ApiError
from slurm_carbon.service.web.job_page import job_page, jobs_page
from slurm_carbon.service.web.overview import overview
from slurm_carbon.service.web.pages import error_page, overview_page
from slurm_carbon.service.web.proxy import proxy_user
from slurm_carbon.service.web.session import (
    LOGIN_TOKEN_TTL_S,
    SESSION_COOKIE,
    SESSION_TTL_S,
    WebSessions,
)
from slurm_carbon.store import SessionFactory, transaction
from slurm_carbon.store.reports import ReportQuery, iter_jobs
from slurm_carbon.store.reports.filters import parse_jobs

__all__ = ["LOGIN_TOKEN_TTL_S", "SESSION_TTL_S", "WebSessions", "web_routes"]

_STATIC = Path(__file__).parent / "static"
# Scripts, styles and images only from the service itself; no inline script runs.
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
_LOGIN_HINT = "not logged in: run `slurm-carbon web` and open the link it prints"


def _html(text: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(text, status, headers=_HEADERS)


@dataclass(frozen=True)
class _Dashboard:
    factory: SessionFactory
    access: ReadAccess
    clock: Callable[[], datetime]
    sessions: WebSessions
    web: WebConfig

    async def web_token(self, request: Request) -> Response:
        viewer = await self.access.viewer(request)
        token = self.sessions.login_token(viewer)
        return JSONResponse(
            {
                "token": token,
                "login_path": f"/web/login?token={token}",
                "expires_in_s": LOGIN_TOKEN_TTL_S,
            }
        )

    async def login(self, request: Request) -> Response:
        try:
            viewer = self.sessions.redeem(request.query_params.get("token", ""))
        except ApiError as err:
            return _html(error_page(err.status_code, err.message), err.status_code)
        response = RedirectResponse("/web/", 303, headers=_HEADERS)
        self._open_session(request, response, viewer)
        return response

    def _open_session(self, request: Request, response: Response, viewer: Viewer) -> None:
        response.set_cookie(
            SESSION_COOKIE,
            self.sessions.session_cookie(viewer),
            max_age=SESSION_TTL_S,
            path="/web",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )

    async def overview(self, request: Request) -> Response:
        return await self._page(request, self._overview)

    async def job(self, request: Request) -> Response:
        return await self._page(request, self._job, request.path_params["job_id"])

    async def _page(self, request: Request, render: Callable[..., str], *args: Any) -> Response:
        viewer = self.sessions.viewer(request.cookies.get(SESSION_COOKIE))
        try:
            proxied = proxy_user(request, self.web)
            opened = proxied is not None and (viewer is None or viewer.name != proxied)
            if proxied is not None and opened:
                viewer = await self.access.viewer_named(proxied)
            if viewer is None:
                return _html(error_page(401, _LOGIN_HINT), 401)
            response = _html(await run_in_threadpool(render, viewer, *args))
        except ApiError as err:
            return _html(error_page(err.status_code, err.message), err.status_code)
        if opened:
            self._open_session(request, response, viewer)
        return response

    def _overview(self, viewer: Viewer) -> str:
        now = self.clock()
        context = detail_context(self.access, self.factory, now)
        with transaction(self.factory) as session:
            data = overview(session, viewer, context, now)
        return overview_page(data)

    def _job(self, viewer: Viewer, job_id: str) -> str:
        try:
            query = ReportQuery(jobs=parse_jobs(job_id))
        except ConfigError as err:
            raise ApiError(404, str(err)) from None
        context = detail_context(self.access, self.factory, self.clock())
        with transaction(self.factory) as session:
            restrict_query(session, query, viewer)
            rows = list(iter_jobs(session, query))
            if not rows:
                raise ApiError(404, f"no job {job_id} in the store")
            who = {"name": viewer.name, "admin": viewer.admin}
            if len(rows) > 1:  # an array's tasks or a het job's components
                return jobs_page(job_id, [job_json(row) for row in rows], who)
            detail = detail_json(job_detail(session, rows[0], context))
        return job_page(detail, who)


def web_routes(
    factory: SessionFactory,
    access: ReadAccess,
    clock: Callable[[], datetime],
    secret: bytes | None = None,
) -> list[BaseRoute]:
    """The dashboard's routes; sessions signed with ``secret`` (None: one drawn now)."""
    sessions = WebSessions(clock) if secret is None else WebSessions(clock, secret)
    web = access.site.web if access.site is not None else WebConfig()
    board = _Dashboard(factory, access, clock, sessions, web)
    return [
        Route("/web/token", board.web_token, methods=["POST"]),
        Route("/web/login", board.login, methods=["GET"]),
        Route("/web/", board.overview, methods=["GET"]),
        Route("/web/jobs/{job_id}", board.job, methods=["GET"]),
        Mount("/web/static", StaticFiles(directory=_STATIC), name="web-static"),
    ]
