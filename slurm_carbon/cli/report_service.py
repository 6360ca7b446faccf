"""``slurm-carbon report --service-url``: the report's data from the service's read API.

Each request carries a fresh MUNGE credential from the local munged
(:func:`~slurm_carbon.cli.web.munge_now`; one credential per request, since the
service refuses a replay), so the service knows the caller as Slurm does and
decides what they see. The answers are turned back into the report's rows
(:mod:`slurm_carbon.service.api.rows`; one job in detail, ``-j ID``, from
``GET /api/v1/jobs/{id}``) and formatted by the same code as the database's.
Errors are one line: the service unreachable or not answering in
:data:`SERVICE_TIMEOUT_S`, its refusal (401, 403, 404, 422: its own sentence),
its failure (5xx).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from slurm_carbon.errors import ConfigError, StoreError
from slurm_carbon.service.api.rows import deferral_totals, group_totals, job_detail_of, job_row
from slurm_carbon.service.detail import JobDetail
from slurm_carbon.service.fallback import fallback_lines
from slurm_carbon.store.deferrals import DeferralGroupBy, DeferralTotals
from slurm_carbon.store.reports import GroupBy, GroupTotals, JobRow, ReportQuery
from slurm_carbon.text import escape_control

__all__ = ["SERVICE_TIMEOUT_S", "HttpGet", "ServiceSource"]

# One page is at most MAX_PAGE_LIMIT jobs, each with its forecast looked up,
# and the service may take UNMUNGE_TIMEOUT_S (5 s) to check the credential:
# 60 s covers a slow page; longer means the service is stuck.
SERVICE_TIMEOUT_S = 60.0
# Jobs per request: the read API's largest page (fewer round trips, fewer credentials).
PAGE_LIMIT = 1000
# The service's sentence shown to the user is cut here (one line).
_MESSAGE_CHARS = 300


class HttpGet(Protocol):
    """``requests.Session.get`` (or a test client's): what the source needs of HTTP."""

    def __call__(
        self, url: str, *, params: Mapping[str, str], headers: Mapping[str, str], timeout: float
    ) -> Any:
        """The response: ``status_code``, ``json()``."""
        ...


def _params(query: ReportQuery) -> dict[str, str]:
    """``query`` as the read API's filter parameters."""
    params = {
        name: ",".join(str(item) for item in values)
        for name, values in (
            ("jobs", query.jobs),
            ("users", query.users),
            ("accounts", query.accounts),
            ("partitions", query.partitions),
            ("states", query.states),
        )
        if values
    }
    for name, when in (("start", query.start), ("end", query.end)):
        if when is not None:
            params[name] = when.isoformat()
    return params


@dataclass
class ServiceSource:
    """The report's data from the read API at ``url``, each request with ``credential()``."""

    url: str
    credential: Callable[[], str]
    get: HttpGet
    _notes: dict[str, str] = field(default_factory=dict)
    _totals: dict[tuple[ReportQuery, GroupBy | None], dict[str, Any]] = field(default_factory=dict)

    def _ask(self, path: str, params: Mapping[str, str]) -> dict[str, Any]:
        headers = {"Authorization": f"MUNGE {self.credential()}"}
        try:
            answer = self.get(
                f"{self.url}{path}", params=params, headers=headers, timeout=SERVICE_TIMEOUT_S
            )
        except OSError as err:  # requests' errors are OSErrors
            raise StoreError(
                f"cannot reach the service at {escape_control(self.url)}: {type(err).__name__}"
            ) from None
        try:
            body = answer.json()
        except ValueError:
            body = None
        status = answer.status_code
        if status == 200 and isinstance(body, dict):
            return body
        said = body.get("error") if isinstance(body, dict) else None
        said = escape_control(str(said or "no explanation"))[:_MESSAGE_CHARS]
        error = StoreError if status >= 500 else ConfigError
        raise error(f"the service refused ({status}): {said}")

    def items(self, query: ReportQuery) -> Iterator[dict[str, Any]]:
        """See :class:`~slurm_carbon.cli.report_source.ReportSource`; page by page."""
        params = {**_params(query), "limit": str(PAGE_LIMIT)}
        while True:
            page = self._ask("/api/v1/jobs", params)
            self._notes.update(page.get("annual_fallbacks") or {})
            yield from page["jobs"]
            if page["next_cursor"] is None:
                return
            params["cursor"] = page["next_cursor"]

    def jobs(self, query: ReportQuery) -> Iterator[JobRow]:
        """See :class:`~slurm_carbon.cli.report_source.ReportSource`."""
        return (job_row(item) for item in self.items(query))

    def _sums(self, query: ReportQuery, by: GroupBy | None) -> dict[str, Any]:
        key = (query, by)
        if key not in self._totals:
            params = _params(query) | ({} if by is None else {"group": by})
            self._totals[key] = self._ask("/api/v1/totals", params)
        return self._totals[key]

    def totals(self, query: ReportQuery, by: GroupBy | None = None) -> list[GroupTotals]:
        """See :class:`~slurm_carbon.cli.report_source.ReportSource`."""
        body = self._sums(query, by)
        if by is None:
            return [group_totals(body["totals"])]
        return [group_totals(item) for item in body["groups"]]

    def deferrals(self, query: ReportQuery) -> DeferralTotals:
        """See :class:`~slurm_carbon.cli.report_source.ReportSource`."""
        return deferral_totals(self._sums(query, None)["deferrals"])

    def deferral_groups(self, query: ReportQuery, by: DeferralGroupBy) -> dict[str, DeferralTotals]:
        """See :class:`~slurm_carbon.cli.report_source.ReportSource`.

        The deferrals of each group the totals list, asked with the selection narrowed
        to it (one request each).
        """
        found: dict[str, DeferralTotals] = {}
        for group in self.totals(query, by):
            if group.key is None:
                continue
            narrowed = (
                replace(query, users=(group.key,))
                if by == "user"
                else replace(query, accounts=(group.key,))
            )
            deferred = self.deferrals(narrowed)
            if deferred.jobs:
                found[group.key] = deferred
        return found

    def annual_fallbacks(self, rows: list[JobRow]) -> list[str]:
        """See :class:`~slurm_carbon.cli.report_source.ReportSource`."""
        return fallback_lines(rows, self._notes.get)

    def detail(self, row: JobRow) -> JobDetail:
        """See :class:`~slurm_carbon.cli.report_source.ReportSource`: ``GET /api/v1/jobs/{id}``."""
        return job_detail_of(self._ask(f"/api/v1/jobs/{row.job_id_text}", {}))
