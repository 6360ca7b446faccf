"""The service's ASGI application, built by :func:`create_app` (nothing at import time)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import partial

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from slurm_carbon.errors import StoreError
from slurm_carbon.service.api import ReadAccess, read_routes
from slurm_carbon.service.caps_api import CapsEndpoint
from slurm_carbon.service.ingest import MAX_BODY_BYTES, ApiError, IngestEndpoint
from slurm_carbon.service.metrics import MetricsEndpoint, PipelineMetrics
from slurm_carbon.service.poller import IntensityPoller
from slurm_carbon.service.web import web_routes
from slurm_carbon.store import SessionFactory, ingest_engine, ping, session_factory
from slurm_carbon.text import escape_control

__all__ = ["create_app"]

logger = logging.getLogger(__name__)


def create_app(  # noqa: PLR0913 - keyword-only: what the app is wired to, injectable
    store: str | SessionFactory,
    *,
    max_body_bytes: int = MAX_BODY_BYTES,
    intensity_poller: IntensityPoller | None = None,
    clock: Callable[[], datetime] | None = None,
    read_access: ReadAccess | None = None,
    web_secret: bytes | None = None,
) -> Starlette:
    """The ingest service over ``store``: a database URL, or a session factory.

    Given a URL, the app owns its engine and disposes of it at shutdown; a
    factory stays the caller's. Nothing connects before the first request.

    Routes: ``POST /api/v1/intervals`` (see :mod:`slurm_carbon.service.ingest`),
    ``GET /api/v1/caps`` (:mod:`slurm_carbon.service.caps_api`), ``GET /metrics``
    (:mod:`slurm_carbon.service.metrics`) and ``GET
    /healthz`` (200 when the database answers, 503 otherwise). An
    ``intensity_poller`` (built over the same store) runs while the app does.
    ``clock`` (default: the system's, in UTC) is what reported times are judged by.
    The read API (:mod:`slurm_carbon.service.api`: ``GET /api/v1/jobs``) judges
    callers by ``read_access`` (default: MUNGE through the system's munged, root
    the only admin). The dashboard (:mod:`slurm_carbon.service.web`) signs its
    sessions with ``web_secret`` (None: a secret drawn now, this process's own).

    Raises:
        StoreError: ``store`` is a URL that cannot be parsed or has no driver.
    """
    if isinstance(store, str):
        engine = ingest_engine(store)
        factory, on_shutdown = session_factory(engine), engine.dispose
    else:
        factory, on_shutdown = store, None
    now = clock or partial(datetime.now, UTC)
    pipeline = PipelineMetrics()
    ingest = IngestEndpoint(factory, now, max_body_bytes, pipeline)
    endpoints = (
        ingest,
        CapsEndpoint(factory, now, ingest.tokens),
        MetricsEndpoint(factory, now, pipeline, intensity_poller),
    )
    access = read_access or ReadAccess()
    reads = [*read_routes(factory, access, now), *web_routes(factory, access, now, web_secret)]
    return _build(factory, endpoints, reads, on_shutdown, intensity_poller)


def _build(
    factory: SessionFactory,
    endpoints: tuple[IngestEndpoint, CapsEndpoint, MetricsEndpoint],
    reads: list[BaseRoute],
    on_shutdown: Callable[[], None] | None,
    poller: IntensityPoller | None,
) -> Starlette:
    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if poller is not None:
            poller.start()
        yield
        if poller is not None:
            await run_in_threadpool(poller.stop)
        if on_shutdown is not None:
            on_shutdown()

    async def healthz(_request: Request) -> Response:
        try:
            await run_in_threadpool(ping, factory)
        except StoreError as err:
            logger.warning("health check failed: %s", err)
            return JSONResponse({"status": "unavailable", "error": "database unavailable"}, 503)
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/api/v1/intervals", endpoints[0].handle, methods=["POST"]),
            Route("/api/v1/caps", endpoints[1].handle, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", endpoints[2].handle, methods=["GET"]),
            *reads,
        ],
        exception_handlers={
            ApiError: _api_error,
            StoreError: _store_error,
            Exception: _internal_error,
        },
        lifespan=lifespan,
    )


async def _api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)  # noqa: S101 (Starlette's handler signature)
    challenge = getattr(exc, "challenge", "Bearer")  # the read API's: MUNGE
    headers = {"WWW-Authenticate": challenge} if exc.status_code == 401 else None
    return JSONResponse({"error": exc.message}, exc.status_code, headers=headers)


async def _store_error(request: Request, exc: Exception) -> Response:
    # The agent keeps the batch in its spool and sends it again later.
    logger.warning(
        "database unavailable on %s %s: %s",
        request.method,
        escape_control(request.url.path),
        escape_control(str(exc)),
    )
    return JSONResponse({"error": "database unavailable, retry later"}, 503)


async def _internal_error(_request: Request, _exc: Exception) -> Response:
    # Starlette re-raises the exception after this answer, and the server logs it.
    return JSONResponse({"error": "internal error"}, 500)
