"""Where ``slurm-carbon report`` reads its data: the store, or the service's read API.

The report's formatting (:mod:`~slurm_carbon.cli.report`,
:mod:`~slurm_carbon.cli.report_table`) reads one interface,
:class:`ReportSource`: the jobs as rows, their ``--json`` items, totals by
group, the deferrals' sums, the yearly-mean notes, one job in detail.
:class:`StoreSource` answers from a database session (admins on the database
host); :class:`~slurm_carbon.cli.report_service.ServiceSource` from the read
API (``--service-url``), so that both print the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from slurm_carbon.service.api.documents import job_json
from slurm_carbon.service.detail import (
    DetailContext,
    JobDetail,
    job_caps,
    job_detail,
    job_nodes,
    running_forecast,
)
from slurm_carbon.service.fallback import annual_fallbacks
from slurm_carbon.store import Session
from slurm_carbon.store.deferrals import (
    DeferralGroupBy,
    DeferralTotals,
    deferral_groups,
    deferral_totals,
    job_deferral,
)
from slurm_carbon.store.reports import GroupBy, GroupTotals, JobRow, ReportQuery, iter_jobs, totals

__all__ = ["ReportSource", "StoreSource"]


class ReportSource(Protocol):
    """What the report's formatting reads, whatever holds the data."""

    def jobs(self, query: ReportQuery) -> Iterator[JobRow]:
        """The selected jobs in the report's order (Slurm job id), streamed."""
        ...

    def items(self, query: ReportQuery) -> Iterator[dict[str, Any]]:
        """The selected jobs as ``--json`` items (with forecast, caps, deferral)."""
        ...

    def totals(self, query: ReportQuery, by: GroupBy | None = None) -> list[GroupTotals]:
        """Sums by ``by`` (None: one overall total)."""
        ...

    def deferrals(self, query: ReportQuery) -> DeferralTotals:
        """The carbon_defer jobs among the selected and their measured savings."""
        ...

    def deferral_groups(self, query: ReportQuery, by: DeferralGroupBy) -> dict[str, DeferralTotals]:
        """:meth:`deferrals` by user or account, the groups with a deferral only."""
        ...

    def annual_fallbacks(self, rows: list[JobRow]) -> list[str]:
        """The loud yearly-mean sentences for ``rows`` (listed before by :meth:`jobs`)."""
        ...

    def detail(self, row: JobRow) -> JobDetail:
        """One job in detail (``-j ID``)."""
        ...


@dataclass(frozen=True)
class StoreSource:
    """The report's data from the store, in ``session``; figures recomputed with ``context``."""

    session: Session
    context: DetailContext

    def jobs(self, query: ReportQuery) -> Iterator[JobRow]:
        """See :class:`ReportSource`."""
        return iter_jobs(self.session, query)

    def items(self, query: ReportQuery) -> Iterator[dict[str, Any]]:
        """See :class:`ReportSource`."""
        for row in self.jobs(query):
            yield job_json(
                row,
                running_forecast(self.session, row, self.context),
                job_caps(self.session, row),
                job_deferral(self.session, row.row_id),
                job_nodes(self.session, row),
            )

    def totals(self, query: ReportQuery, by: GroupBy | None = None) -> list[GroupTotals]:
        """See :class:`ReportSource`."""
        return totals(self.session, query, by)

    def deferrals(self, query: ReportQuery) -> DeferralTotals:
        """See :class:`ReportSource`."""
        return deferral_totals(self.session, query)

    def deferral_groups(self, query: ReportQuery, by: DeferralGroupBy) -> dict[str, DeferralTotals]:
        """See :class:`ReportSource`."""
        return deferral_groups(self.session, query, by)

    def annual_fallbacks(self, rows: list[JobRow]) -> list[str]:
        """See :class:`ReportSource`."""
        return annual_fallbacks(self.session, rows)

    def detail(self, row: JobRow) -> JobDetail:
        """See :class:`ReportSource`."""
        return job_detail(self.session, row, self.context)
