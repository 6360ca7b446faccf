"""``GET /api/v1/jobs``: the jobs the caller may see, with their figures, a page at a time.

Query parameters, as ``slurm-carbon report``'s options: ``jobs`` (``12,13_2``),
``users``, ``accounts``, ``partitions``, ``states`` (comma-separated, at most
10,000 items), ``start`` and ``end`` (ISO 8601 with a UTC offset: jobs that ended
in the window), ``limit`` (1 to :data:`MAX_PAGE_LIMIT`, default
:data:`DEFAULT_PAGE_LIMIT`) and ``cursor`` (the previous page's ``next_cursor``).
Items are the report's ``--json`` items, from the same queries. A bad parameter
is 422 naming it.
"""

from __future__ import annotations

import base64
import binascii
import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from slurm_carbon.config import CounterfactualConfig
from slurm_carbon.errors import ConfigError
from slurm_carbon.intensity.chain import BestSeries
from slurm_carbon.service.api.access import ReadAccess, Viewer, restrict_query
from slurm_carbon.service.api.documents import job_json
from slurm_carbon.service.detail import DetailContext, job_caps, running_forecast
from slurm_carbon.service.ingest import ApiError
from slurm_carbon.slurm.states import parse_states
from slurm_carbon.store import SessionFactory, transaction
from slurm_carbon.store.deferrals import job_deferral
from slurm_carbon.store.intensity import stored_actuals
from slurm_carbon.store.reports import ReportQuery, iter_jobs
from slurm_carbon.store.reports.filters import parse_jobs, parse_names
from slurm_carbon.text import quote_input

__all__ = [
    "DEFAULT_PAGE_LIMIT",
    "MAX_PAGE_LIMIT",
    "JobsEndpoint",
    "detail_context",
    "parse_report_query",
]

# A page of 100 jobs is about 150 KB of JSON: quick to send, few round trips.
DEFAULT_PAGE_LIMIT = 100
# 1,000 jobs (~1.5 MB, each with its forecast and caps looked up) bound one
# request's time and memory; more is more pages.
MAX_PAGE_LIMIT = 1000
# Query parameters naming lists, and the word each list's errors use.
_LISTS = {"users": "user", "accounts": "account", "partitions": "partition"}
_FILTERS = frozenset({"jobs", "states", "start", "end", *_LISTS})
# A cursor is "o:<offset>" in base64; 12 digits count more jobs than any store holds.
_CURSOR_PREFIX = "o:"
_CURSOR_DIGITS = 12


def _time(name: str, text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ApiError(422, f"{name}: not an ISO 8601 time: {quote_input(text)}") from None
    if when.tzinfo is None:
        raise ApiError(422, f"{name}: the time needs a UTC offset: {quote_input(text)}")
    return when


def parse_report_query(params: Mapping[str, str], others: Iterable[str] = ()) -> ReportQuery:
    """The report query of ``params``' filters, or 422 naming the parameter.

    ``others`` names the endpoint's other parameters; any parameter else is 422.
    """
    unknown = sorted(set(params) - _FILTERS - set(others))
    if unknown:
        raise ApiError(422, f"{unknown[0]}: unknown query parameter")
    parsers: dict[str, Callable[[str], tuple[Any, ...]]] = {
        "jobs": parse_jobs,
        "states": parse_states,
        **{name: partial(parse_names, what=what) for name, what in _LISTS.items()},
    }
    fields: dict[str, Any] = {}
    for name, parse in parsers.items():
        if name in params:
            try:
                fields[name] = parse(params[name])
            except ConfigError as err:
                raise ApiError(422, f"{name}: {err}") from None
    for name in ("start", "end"):
        if name in params:
            fields[name] = _time(name, params[name])
    query = ReportQuery(**fields)
    if query.start is not None and query.end is not None and query.start > query.end:
        raise ApiError(422, "start: after end")
    return query


def _page(params: Mapping[str, str]) -> tuple[int, int]:
    """``(offset, limit)`` from ``cursor`` and ``limit``, or 422."""
    text = params.get("limit", str(DEFAULT_PAGE_LIMIT))
    if not text.isdigit() or not 1 <= int(text) <= MAX_PAGE_LIMIT:
        raise ApiError(422, f"limit: must be a whole number from 1 to {MAX_PAGE_LIMIT}")
    offset = 0
    if "cursor" in params:
        offset = _decode_cursor(params["cursor"])
    return offset, int(text)


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{offset}".encode()).decode("ascii")


def _decode_cursor(text: str) -> int:
    try:
        plain = base64.urlsafe_b64decode(text.encode("ascii")).decode("ascii")
    except (binascii.Error, UnicodeError, ValueError):
        plain = ""
    number = plain.removeprefix(_CURSOR_PREFIX)
    if not plain.startswith(_CURSOR_PREFIX) or not number.isdigit() or len(number) > _CURSOR_DIGITS:
        raise ApiError(422, "cursor: not a cursor this service gave")
    return int(number)


def detail_context(access: ReadAccess, factory: SessionFactory, now: datetime) -> DetailContext:
    """What figures are recomputed and forecast with, as ``slurm-carbon report`` does."""
    site = access.site
    return DetailContext(
        counterfactual=site.counterfactual if site else CounterfactualConfig(),
        intensity=BestSeries(stored_actuals(factory)),
        site=site,
        now=now,
    )


@dataclass(frozen=True)
class JobsEndpoint:
    """The endpoint over the store, callers judged by ``access``, forecasts made at ``clock()``."""

    factory: SessionFactory
    access: ReadAccess
    clock: Callable[[], datetime]

    async def handle(self, request: Request) -> Response:
        """Handle one GET."""
        params = dict(request.query_params)
        viewer = await self.access.viewer(request)
        query = parse_report_query(params, ("limit", "cursor"))
        offset, limit = _page(params)
        body = await run_in_threadpool(self._page, viewer, query, offset, limit)
        return JSONResponse(body)

    def _page(self, viewer: Viewer, query: ReportQuery, offset: int, limit: int) -> dict[str, Any]:
        detail = detail_context(self.access, self.factory, self.clock())
        with transaction(self.factory) as session:
            query = restrict_query(session, query, viewer)
            rows = list(itertools.islice(iter_jobs(session, query), offset, offset + limit + 1))
            items = [
                job_json(
                    row,
                    running_forecast(session, row, detail),
                    job_caps(session, row),
                    job_deferral(session, row.row_id),
                )
                for row in rows[:limit]
            ]
        more = len(rows) > limit
        return {"jobs": items, "next_cursor": _encode_cursor(offset + limit) if more else None}
