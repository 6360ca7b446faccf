"""``GET /api/v1/jobs``: the jobs the caller may see, with their figures, a page at a time.

Query parameters, as ``slurm-carbon report``'s options: ``jobs`` (``12,13_2``),
``users``, ``accounts``, ``partitions``, ``states`` (comma-separated, at most
10,000 items), ``start`` and ``end`` (ISO 8601 with a UTC offset: jobs that ended
in the window), ``limit`` (1 to :data:`MAX_PAGE_LIMIT`, default
:data:`DEFAULT_PAGE_LIMIT`) and ``cursor`` (the previous page's ``next_cursor``).
Items are the report's ``--json`` items, from the same queries, in the
report's order (Slurm job id). ``annual_fallbacks`` gives, for the page's
regions whose jobs fell back to the yearly mean although hourly figures are
stored, the report's loud sentence. A bad parameter is 422 naming it.
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
from slurm_carbon.service.detail import DetailContext, job_caps, job_nodes, running_forecast
from slurm_carbon.service.fallback import annual_fallback
from slurm_carbon.service.ingest import ApiError
from slurm_carbon.slurm.states import parse_states
from slurm_carbon.store import SessionFactory, transaction
from slurm_carbon.store.deferrals import job_deferral
from slurm_carbon.store.intensity import stored_actuals
from slurm_carbon.store.reports import JobRow, ReportQuery, iter_jobs
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
# A cursor is "k:<slurm job id>:<row id>" in base64, the last row of its page: the next
# page starts after it (keyset paging, no offset to skip). Job ids are uint32 (10
# digits) and 12 digits count more rows than any store holds.
_CURSOR_PREFIX = "k:"
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


def _page(params: Mapping[str, str]) -> tuple[tuple[int, int] | None, int]:
    """``(after, limit)`` from ``cursor`` and ``limit``, or 422."""
    text = params.get("limit", str(DEFAULT_PAGE_LIMIT))
    if not text.isdigit() or not 1 <= int(text) <= MAX_PAGE_LIMIT:
        raise ApiError(422, f"limit: must be a whole number from 1 to {MAX_PAGE_LIMIT}")
    after = None
    if "cursor" in params:
        after = _decode_cursor(params["cursor"])
    return after, int(text)


def _encode_cursor(row: JobRow) -> str:
    plain = f"{_CURSOR_PREFIX}{row.slurm_job_id}:{row.row_id}"
    return base64.urlsafe_b64encode(plain.encode()).decode("ascii")


def _decode_cursor(text: str) -> tuple[int, int]:
    try:
        plain = base64.urlsafe_b64decode(text.encode("ascii")).decode("ascii")
    except (binascii.Error, UnicodeError, ValueError):
        plain = ""
    numbers = plain.removeprefix(_CURSOR_PREFIX).split(":")
    if (
        not plain.startswith(_CURSOR_PREFIX)
        or len(numbers) != 2  # slurm_job_id and row id
        or not all(n.isdigit() and len(n) <= _CURSOR_DIGITS for n in numbers)
    ):
        raise ApiError(422, "cursor: not a cursor this service gave")
    return int(numbers[0]), int(numbers[1])


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
        after, limit = _page(params)
        body = await run_in_threadpool(self._page, viewer, query, after, limit)
        return JSONResponse(body)

    def _page(
        self, viewer: Viewer, query: ReportQuery, after: tuple[int, int] | None, limit: int
    ) -> dict[str, Any]:
        detail = detail_context(self.access, self.factory, self.clock())
        with transaction(self.factory) as session:
            query = restrict_query(session, query, viewer)
            rows = list(itertools.islice(iter_jobs(session, query, after=after), limit + 1))
            items = [
                job_json(
                    row,
                    running_forecast(session, row, detail),
                    job_caps(session, row),
                    job_deferral(session, row.row_id),
                    job_nodes(session, row),
                )
                for row in rows[:limit]
            ]
            notes = {
                region: annual_fallback(session, region, annual=True)
                for region in {
                    row.figures.ci_region
                    for row in rows[:limit]
                    if row.figures is not None and row.figures.ci_annual and row.figures.ci_region
                }
            }
        return {
            "jobs": items,
            "next_cursor": _encode_cursor(rows[limit - 1]) if len(rows) > limit else None,
            "annual_fallbacks": {region: note for region, note in notes.items() if note},
        }
