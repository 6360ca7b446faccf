"""The human-readable ``slurm-carbon report``: the jobs or groups table and its footer.

A rich table with figures in engineering units (:mod:`slurm_carbon.units`), the
carbon-intensity sources used (a synthetic one said loudly), the yearly-mean
fallback notes, and a footer with the window, the totals, the waste and the
everyday equivalents with their sources. ``-j`` naming exactly one job shows its
detail (:mod:`slurm_carbon.cli.report_detail`) instead of the table.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable

from rich.console import Console
from rich.table import Table

from slurm_carbon.accounting import equivalents
from slurm_carbon.cli.report_detail import show_job
from slurm_carbon.cli.report_format import JOB_COLUMNS, group_fields, job_fields, plain
from slurm_carbon.cli.report_source import ReportSource
from slurm_carbon.slurm.states import WASTE_STATES
from slurm_carbon.store.deferrals import DeferralTotals
from slurm_carbon.store.reports import GroupBy, GroupTotals, JobRow, ReportQuery
from slurm_carbon.units import format_co2e, format_energy, format_number
from slurm_carbon.vocabulary import BudgetOutcome

__all__ = ["budget_text", "show_table"]


def show_table(
    source: ReportSource,
    query: ReportQuery,
    by: GroupBy | None,
    *,
    rows: Iterable[JobRow] = (),
    groups: list[GroupTotals] | None = None,
) -> None:
    """Print the jobs (or, with ``by``, the groups) as a table, then the footer.

    One job asked for by ``-j`` and found is shown in detail instead, without footer.
    """
    console = Console(width=None if sys.stdout.isatty() else 240, highlight=False)
    if by is not None and groups is not None:
        _groups_table(console, by, groups)
        if by in {"user", "account"}:
            _deferral_groups(console, by, source.deferral_groups(query, by))
    else:
        listed = list(rows)
        if len(query.jobs) == 1 and len(listed) == 1:
            show_job(console, source.detail(listed[0]))
            _annual_fallbacks(console, source, listed)
            return
        _jobs_table(console, listed)
        _annual_fallbacks(console, source, listed)
    _footer(console, query, source.totals(query)[0])
    _deferrals(console, source.deferrals(query))


def _annual_fallbacks(console: Console, source: ReportSource, rows: list[JobRow]) -> None:
    """Loudly, like SYNTHETIC: jobs given the yearly mean although hourly figures are stored."""
    for note in source.annual_fallbacks(rows):
        console.print(plain(note))


def _jobs_table(console: Console, rows: list[JobRow]) -> None:
    table = Table(show_edge=False, pad_edge=False)
    for name in JOB_COLUMNS[:7]:
        table.add_column(name)
    numeric = ("GPU", "CPU", "DRAM", "Other", "Total", "CO2e", "CI g/kWh")
    for name in (*numeric, "PUE"):
        table.add_column(name, justify="right")
    table.add_column("Quality")
    table.add_column("Budget")
    table.add_column("JobName", overflow="fold")
    for row in rows:
        fields = job_fields(row)
        figures = row.figures
        if figures is None:
            numbers = ["-"] * 5 + ["[yellow]pending[/]", "-", "-"]
        else:
            mark = "~" if figures.estimated else ""
            ci = figures.ci_mean_g_per_kwh
            numbers = [
                format_energy(figures.gpu_energy_j),
                format_energy(figures.cpu_energy_j),
                format_energy(figures.dram_energy_j),
                f"~{format_energy(figures.other_energy_j)}" if figures.other_energy_j else "-",
                f"{mark}{format_energy(figures.facility_energy_j)}",
                f"{mark}{format_co2e(figures.co2e_g)}",
                "" if ci is None else f"{ci:.0f}",
                f"{figures.pue:.2f}",
            ]
        table.add_row(
            *(plain(f) for f in fields[:7]),
            *numbers,
            fields[-2],
            budget_text(row),
            plain(fields[-1]),
        )
    console.print(table)
    _sources(console, rows)


def budget_text(row: JobRow) -> str:
    """The job's budgets and the action taken: ``5,000 g cancel``, ``2,000 Wh notify``, ``5,000 g``.

    ``-`` without a budget; a failed action says so (``5,000 g cancel failed``).
    """
    budgets = [
        show(value)
        for value, show in ((row.budget_co2e_g, format_co2e), (row.budget_energy_j, format_energy))
        if value is not None
    ]
    action = row.budget_action
    if action is not None:
        failed = " failed" if action.outcome is BudgetOutcome.FAILED else ""
        budgets.append(f"{action.action}{failed}")
    return " ".join(budgets) or "-"


def _sources(console: Console, rows: list[JobRow]) -> None:
    """Which carbon-intensity series the listed figures used; a synthetic one said loudly."""
    used: dict[str, int] = {}
    for row in rows:
        if row.figures is not None and row.figures.ci_source is not None:
            label = f"{row.figures.ci_source} ({row.figures.ci_region or '?'})"
            used[label] = used.get(label, 0) + 1
    if not used:
        return
    listed = "; ".join(f"{label}: {count} job(s)" for label, count in sorted(used.items()))
    console.print(plain(f"Carbon intensity from {listed}."))
    if any(row.figures is not None and row.figures.ci_synthetic for row in rows):
        console.print("SYNTHETIC carbon intensity: an illustration, not data.")


def _groups_table(console: Console, by: GroupBy, groups: list[GroupTotals]) -> None:
    table = Table(show_edge=False, pad_edge=False)
    table.add_column(by.capitalize())
    for name in ("Jobs", "Pending", "Estimated", "GPU", "CPU", "DRAM", "Other", "Total"):
        table.add_column(name, justify="right")
    table.add_column("CO2e", justify="right")
    table.add_column("Waste CO2e", justify="right")
    for group in groups:
        energies_j = (
            group.gpu_energy_j,
            group.cpu_energy_j,
            group.dram_energy_j,
            group.other_energy_j,
            group.facility_energy_j,
        )
        table.add_row(
            plain(group.key or ""),
            *group_fields(group)[1:4],
            *(format_energy(energy_j) for energy_j in energies_j),
            format_co2e(group.co2e_g),
            format_co2e(group.waste_co2e_g),
        )
    console.print(table)


def _deferral_groups(console: Console, by: str, groups: dict[str, DeferralTotals]) -> None:
    """Each group's deferred jobs: their CO2e as they ran and from submit time.

    Nothing without such jobs.
    """
    if not groups:
        return
    console.print(f"Deferred jobs (carbon_defer) by {by}: an estimate")
    table = Table(show_edge=False, pad_edge=False)
    table.add_column(by.capitalize())
    for name in ("Deferred", "Measured", "CO2e at start", "CO2e at submit", "Saved"):
        table.add_column(name, justify="right")
    for key, found in groups.items():
        table.add_row(
            plain(key),
            str(found.jobs),
            str(found.measured_jobs),
            format_co2e(found.co2e_at_start_g),
            format_co2e(found.co2e_at_submit_g),
            format_co2e(found.measured_saving_g),
        )
    console.print(table)


def _deferrals(console: Console, found: DeferralTotals) -> None:
    """The carbon_defer jobs' measured savings summed; nothing without such jobs."""
    if found.jobs:
        console.print(
            f"Deferred: {found.jobs} jobs with carbon_defer ({found.measured_jobs} measured),"
            f" {format_co2e(found.measured_saving_g)} CO2e less than starting at submission"
            " (an estimate)."
        )


def _footer(console: Console, query: ReportQuery, overall: GroupTotals) -> None:
    if query.start is not None and query.end is not None:
        start = query.start.astimezone().strftime("%Y-%m-%dT%H:%M:%S")
        end = query.end.astimezone().strftime("%Y-%m-%dT%H:%M:%S")
        console.print(f"Jobs that ended from {start} to {end} (local time).")
    share = overall.waste_co2e_g / overall.co2e_g * 100 if overall.co2e_g else 0.0
    console.print(
        f"Total: {overall.jobs} jobs ({overall.pending_jobs} pending,"
        f" {overall.estimated_jobs} estimated): {format_co2e(overall.co2e_g)} CO2e,"
        f" {format_energy(overall.facility_energy_j)} at the facility"
        f" ({format_energy(overall.device_energy_j)} at the devices: GPU"
        f" {format_energy(overall.gpu_energy_j)}, CPU {format_energy(overall.cpu_energy_j)},"
        f" DRAM {format_energy(overall.dram_energy_j)}, unmeasured parts"
        f" {format_energy(overall.other_energy_j)})."
    )
    console.print(
        f"Waste: {format_co2e(overall.waste_co2e_g)} CO2e ({share:.1f} %) from jobs that ended"
        f" {', '.join(WASTE_STATES)}."
    )
    if math.isfinite(overall.co2e_g) and overall.co2e_g > 0:
        found = equivalents(overall.co2e_g)
        console.print(
            "About as much as "
            + " or ".join(
                f"{format_number(eq.quantity)} {eq.description}[{i}]"
                for i, eq in enumerate(found, 1)
            )
            + " (approximations)."
        )
        for i, eq in enumerate(found, 1):
            console.print(f"  \\[{i}] {eq.factor_g:g} gCO2e each: {eq.source}")
    if overall.pending_jobs:
        console.print("pending: no result computed yet; not counted in the sums.")
    if overall.estimated_jobs:
        console.print(
            "~ estimate: energy estimated (no counter) or a yearly-mean carbon intensity"
            " (annual-ci) instead of the hour's."
        )
