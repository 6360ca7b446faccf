"""The read API under ``/api/v1/``: users and admins read figures, authenticated by MUNGE.

:func:`read_routes` gives the routes :func:`~slurm_carbon.service.create_app`
adds; :class:`ReadAccess` says how callers are identified (:mod:`.munge_auth`)
and what they may see (:mod:`.access`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from slurm_carbon.service.api.access import ReadAccess, Viewer
from slurm_carbon.service.api.grid import IntensityEndpoint, NodesEndpoint
from slurm_carbon.service.api.jobs import DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT, JobsEndpoint
from slurm_carbon.service.api.munge_auth import (
    MAX_CREDENTIAL_BYTES,
    UNMUNGE_TIMEOUT_S,
    MungeDecoder,
    MungeIdentity,
)
from slurm_carbon.service.api.openapi import openapi_document
from slurm_carbon.service.api.views import JobEndpoint, TotalsEndpoint
from slurm_carbon.store import SessionFactory

__all__ = [
    "DEFAULT_PAGE_LIMIT",
    "MAX_CREDENTIAL_BYTES",
    "MAX_PAGE_LIMIT",
    "UNMUNGE_TIMEOUT_S",
    "MungeDecoder",
    "MungeIdentity",
    "ReadAccess",
    "Viewer",
    "read_routes",
]


def read_routes(
    factory: SessionFactory,
    access: ReadAccess,
    clock: Callable[[], datetime],
) -> list[Route]:
    """The read API's routes over ``factory``, callers judged by ``access``."""
    jobs = JobsEndpoint(factory, access, clock)
    job = JobEndpoint(factory, access, clock)
    sums = TotalsEndpoint(factory, access)
    grid = IntensityEndpoint(factory, access, clock)
    nodes = NodesEndpoint(factory, access, clock)
    return [
        Route("/api/v1/jobs", jobs.handle, methods=["GET"]),
        Route("/api/v1/jobs/{job_id}", job.handle, methods=["GET"]),
        Route("/api/v1/totals", sums.handle, methods=["GET"]),
        Route("/api/v1/intensity", grid.handle, methods=["GET"]),
        Route("/api/v1/nodes", nodes.handle, methods=["GET"]),
        Route("/api/v1/openapi.json", _openapi, methods=["GET"]),
    ]


async def _openapi(_request: Request) -> Response:
    return JSONResponse(openapi_document())
