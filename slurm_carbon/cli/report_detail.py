"""The detail view of ``slurm-carbon report -j ID``: one job's split, time course and what-ifs.

It prints a :class:`~slurm_carbon.service.detail.JobDetail`: the job's figures,
the GPU/CPU/DRAM split, energy and carbon intensity over time, the cleanest
start in the following hours and other regions, and the publication energy card;
for a running job, its forecast (so far, remaining, total with its 90 %
interval, its end) and the share of its budgets it is forecast to use; for any
job, its budgets and the action taken on them, with the reason, and the power
caps decided for its GPUs (period, limit, policy, reason), with an ended capped
job's slowdown against its own profile (an estimate); for a job on several nodes, its
measured energy node by node; for a ``carbon_defer`` job,
how long it was deferred, the saving expected (from the forecast held when the service
first saw the job, or recomputed from the
forecast stored then) and the saving measured against starting at submission (an
estimate).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from rich.console import Console
from rich.table import Table

from slurm_carbon.cli.report_format import plain, quality_text
from slurm_carbon.service.detail import (
    Counterfactuals,
    JobDetail,
    NodeEnergy,
    Recomputed,
    RunningForecast,
)
from slurm_carbon.service.detail_words import (
    MAX_CAP_ROWS,
    coverage_text,
    deferral_text,
    slowdown_text,
)
from slurm_carbon.service.job_forecast import JobForecast
from slurm_carbon.slurm.times import format_elapsed
from slurm_carbon.store.caps import CapDecisionRecord
from slurm_carbon.store.reports import JobRow, TimelinePoint
from slurm_carbon.units import format_co2e, format_energy, format_number
from slurm_carbon.vocabulary import DeviceKind

__all__ = ["MAX_CAP_ROWS", "coverage_text", "deferral_text", "show_job"]

_LABELS = {
    DeviceKind.GPU: "GPU",
    DeviceKind.CPU: "CPU",
    DeviceKind.DRAM: "DRAM",
    DeviceKind.OTHER: "other",
}


def show_job(console: Console, detail: JobDetail) -> None:
    """Print one job in detail."""
    _facts(console, detail)
    _nodes(console, detail.nodes)
    if detail.running is not None:
        _forecast(console, detail.running)
    _caps(console, detail.caps)
    _slowdown(console, detail.job)
    if detail.deferral is not None:
        console.print(plain(deferral_text(detail.deferral)))
    if detail.timeline:
        _timeline(console, detail.timeline)
    else:
        console.print("No energy intervals stored for this job.")
    if detail.not_recomputed is not None:
        console.print(plain(f"No counterfactual or energy card: {detail.not_recomputed}."))
    elif detail.recomputed is not None:
        _what_if(console, detail.recomputed)


def _budget_facts(facts: Table, row: JobRow) -> None:
    """The budgets the job's comment gave, and the action taken on them with its reason."""
    given = [
        f"{show(value)} {what}"
        for value, show, what in (
            (row.budget_co2e_g, format_co2e, "CO2e"),
            (row.budget_energy_j, format_energy, "energy"),
        )
        if value
    ]
    if given:
        facts.add_row("Budget", ", ".join(given))
    action = row.budget_action
    if action is None:
        return
    when = action.at.astimezone().strftime("%Y-%m-%d %H:%M")
    progress = "" if action.progress is None else f" at {action.progress:.0%} of its work"
    facts.add_row("Action", plain(f"{action.action} ({action.outcome}) {when}{progress}"))
    facts.add_row("", plain(action.reason))
    if action.outcome_message:
        facts.add_row("", plain(action.outcome_message))


def _facts(console: Console, detail: JobDetail) -> None:
    row, figures = detail.job, detail.job.figures
    title = f"Job {row.job_id_text}" + (f" ({plain(row.name)})" if row.name else "")
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    start = "" if row.start_time is None else row.start_time.astimezone().isoformat()
    end = "" if row.end_time is None else row.end_time.astimezone().isoformat()
    for label, value in (
        ("User", row.user_name or ""),
        ("Account", row.account or ""),
        ("Partition", row.partition or ""),
        ("State", row.state or ""),
        ("Start", start),
        ("End", end),
        ("Elapsed", format_elapsed(row.elapsed)),
        ("GPUs", str(row.requested_gpus)),
    ):
        facts.add_row(label, plain(value))
    _budget_facts(facts, row)
    if figures is None:
        facts.add_row("Result", "[yellow]pending[/]: no result computed yet")
    else:
        for share in detail.split:
            facts.add_row(
                f"Energy {_LABELS[share.kind]}",
                f"{format_energy(share.energy_j)} ({share.share_pct:.0f} %)",
            )
        if any(share.kind is DeviceKind.OTHER for share in detail.split):
            facts.add_row("", "~ other: the node's unmeasured parts (a configured fixed power)")
        mark = "~" if figures.estimated else ""
        facts.add_row("PUE", f"{figures.pue:.2f}")
        facts.add_row("Facility", f"{mark}{format_energy(figures.facility_energy_j)}")
        facts.add_row("CO2e", f"{mark}{format_co2e(figures.co2e_g)}")
        ci = figures.ci_mean_g_per_kwh
        facts.add_row(
            "Intensity",
            ("" if ci is None else f"{ci:.0f} gCO2e/kWh (energy-weighted mean) ")
            + plain(f"[{figures.ci_region or '?'}, {figures.ci_source or '?'}]"),
        )
        facts.add_row("Quality", quality_text(figures) + f", {figures.sharing}")
        coverage = coverage_text(figures)
        if coverage is not None:
            facts.add_row("Coverage", plain(coverage))
        if figures.estimated:
            facts.add_row("", "~ an estimate (estimated energy or a yearly-mean intensity)")
    console.print(f"[bold]{title}[/]")
    console.print(facts)


def _forecast(console: Console, running: RunningForecast) -> None:
    """So far, remaining and total with their 90 % intervals (or a bound), and budget shares."""
    found = running.forecast
    if found is None:
        console.print(plain(f"No forecast: {running.not_forecast or '?'}."))
        return
    if found.bound:
        console.print(
            f"[bold]Bound[/] (no progress reported; method {found.method}: at most its"
            " highest power so far until its time limit):"
        )
    else:
        progress = "not reported" if found.progress is None else f"{found.progress * 100:.0f} %"
        console.print(
            f"[bold]Forecast[/] (an estimate; method {found.method}, progress {progress}):"
        )
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row(
        "So far",
        f"{format_energy(found.energy_so_far_j)}, {format_co2e(found.co2e_so_far_g)} CO2e",
    )
    rows = (_bound_rows if found.bound else _forecast_rows)(running, found)
    for label, text in rows:
        facts.add_row(label, text)
    facts.add_row("CI ahead", plain(found.ci_source))
    console.print(facts)


def _forecast_rows(running: RunningForecast, found: JobForecast) -> list[tuple[str, str]]:
    """Totals with their 90 % intervals, remaining, the end, and the budgets forecast to be used."""
    ends = "" if found.end_time is None else f", ends ~{_when(found.end_time, found.at)}"
    co2e = (found.total_co2e_g, found.total_co2e_low_g, found.total_co2e_high_g)
    energy = (found.total_energy_j, found.total_energy_low_j, found.total_energy_high_j)
    rows = [
        (
            "CO2e",
            f"{_total(format_co2e, *co2e)}, remaining {format_co2e(found.remaining_co2e_g)}{ends}",
        ),
        (
            "Energy",
            f"{_total(format_energy, *energy)},"
            f" remaining {format_energy(found.remaining_energy_j)}",
        ),
    ]
    return rows + [
        ("Budget", f"forecast to use {pct:.0f} % of its {budget} budget")
        for pct, budget in _budget_shares(running)
    ]


def _bound_rows(running: RunningForecast, found: JobForecast) -> list[tuple[str, str]]:
    """At most by the time limit, at the mean power so far, and the budgets' share at that power."""
    rows = [
        (
            label,
            f"at most {show(high)} by its time limit ({show(mean)} at its mean power"
            f" so far), remaining at most {show(remaining)}",
        )
        for label, show, high, mean, remaining in (
            (
                "CO2e",
                format_co2e,
                found.total_co2e_high_g,
                found.total_co2e_g,
                found.remaining_co2e_high_g,
            ),
            (
                "Energy",
                format_energy,
                found.total_energy_high_j,
                found.total_energy_j,
                found.remaining_energy_high_j,
            ),
        )
    ]
    return rows + [
        ("Budget", f"{pct:.0f} % of its {budget} budget at its mean power until its time limit")
        for pct, budget in _budget_shares(running)
    ]


def _budget_shares(running: RunningForecast) -> list[tuple[float, str]]:
    """Each budget given, as (forecast share in percent, the budget as shown)."""
    shares = []
    if running.budget_co2e_g and running.co2e_budget_pct is not None:
        shares.append((running.co2e_budget_pct, f"{format_co2e(running.budget_co2e_g)} CO2e"))
    if running.budget_energy_j and running.energy_budget_pct is not None:
        shares.append(
            (running.energy_budget_pct, f"{format_energy(running.budget_energy_j)} energy")
        )
    return shares


def _total(show: Callable[[float], str], total: float, low: float, high: float) -> str:
    return f"forecast total {show(total)} (90 %: {show(low)} to {show(high)})"


def _when(end: datetime, now: datetime) -> str:
    """The local time of ``end``; with its date when not ``now``'s day."""
    local = end.astimezone()
    same_day = local.date() == now.astimezone().date()
    return local.strftime("%H:%M" if same_day else "%Y-%m-%d %H:%M")


def _nodes(console: Console, nodes: tuple[NodeEnergy, ...]) -> None:
    """A multi-node job's measured energy node by node (the job's is their sum); one node: none."""
    if len(nodes) < 2:
        return
    table = Table(title="Energy by node", show_edge=False, pad_edge=False)
    table.add_column("Node")
    table.add_column("Energy", justify="right")
    table.add_column("GPU", justify="right")
    table.add_column("Share", justify="right")
    for node in nodes:
        table.add_row(
            plain(node.node),
            format_energy(node.energy_j),
            format_energy(node.gpu_energy_j),
            f"{node.share_pct:.0f} %",
        )
    console.print(table)


def _caps(console: Console, caps: tuple[CapDecisionRecord, ...]) -> None:
    """The power caps decided for the job's GPUs, one row a run of periods at one limit."""
    if not caps:
        console.print("No power cap was decided for this job (the GPUs kept their limits).")
        return
    table = Table(title="Power caps", show_edge=False, pad_edge=False)
    table.add_column("From")
    table.add_column("To")
    table.add_column("Limit W", justify="right")
    table.add_column("Policy")
    table.add_column("Reason")
    if len(caps) > MAX_CAP_ROWS:
        console.print(f"({len(caps) - MAX_CAP_ROWS} earlier runs of power caps not shown)")
    for cap in caps[-MAX_CAP_ROWS:]:
        table.add_row(
            cap.period_start.astimezone().strftime("%m-%d %H:%M"),
            cap.period_end.astimezone().strftime("%m-%d %H:%M"),
            f"{cap.power_limit_w:g}",
            plain(cap.policy),
            plain(cap.reason if cap.device is None else f"{cap.device}: {cap.reason}"),
        )
    console.print(table)


def _slowdown(console: Console, row: JobRow) -> None:
    """A capped job's slowdown against its own profile, stored with its result; else nothing."""
    text = slowdown_text(row.figures)
    if text is not None:
        console.print(plain(text))


def _timeline(console: Console, timeline: list[TimelinePoint]) -> None:
    with_ci = any(point.ci_g_per_kwh is not None for point in timeline)
    table = Table(title="Energy over time (at the devices)", show_edge=False, pad_edge=False)
    table.add_column("From")
    table.add_column("To")
    for name in ("GPU", "CPU", "DRAM", "mean W"):
        table.add_column(name, justify="right")
    if with_ci:
        table.add_column("CI g/kWh", justify="right")
    for point in timeline:
        energy_j = point.gpu_energy_j + point.cpu_energy_j + point.dram_energy_j
        seconds = (point.end - point.start).total_seconds()
        cells = [
            point.start.astimezone().strftime("%m-%d %H:%M:%S"),
            point.end.astimezone().strftime("%m-%d %H:%M:%S"),
            format_energy(point.gpu_energy_j),
            format_energy(point.cpu_energy_j),
            format_energy(point.dram_energy_j),
            format_number(energy_j / seconds) if seconds > 0 else "",
        ]
        if with_ci:
            cells.append("" if point.ci_g_per_kwh is None else f"{point.ci_g_per_kwh:.0f}")
        table.add_row(*cells)
    console.print(table)
    if not with_ci:
        console.print("The carbon intensity per interval is not stored: energy over time only.")


def _what_if(console: Console, recomputed: Recomputed) -> None:
    """The cleanest start, other regions, and the energy card, as the result is computed."""
    if recomputed.differs:
        console.print(
            f"[yellow]Recomputed now: {format_co2e(recomputed.co2e_g)} CO2e, the stored result"
            f" {format_co2e(recomputed.stored_co2e_g)}[/] (the site configuration or the stored"
            " carbon intensity changed since it was computed; the card shows the recomputed"
            " figures)."
        )
    _counterfactuals(console, recomputed.counterfactuals)
    console.print()
    console.print("Energy card (from the stored intervals, as the job's result is computed):")
    console.print(recomputed.card.to_markdown(), markup=False, highlight=False)


def _counterfactuals(console: Console, found: Counterfactuals) -> None:
    """The cleanest start and other regions, on the stored series of the result's source."""
    region, source, best = found.region, found.source, found.cleanest
    if best is None:
        console.print(
            plain(f"No stored carbon intensity of {region} ({source}) covers the job:")
            + " no counterfactual."
        )
        return
    if best.start == found.actual_start:
        console.print(f"Cleanest start within {found.window_h:g} h (stored CI): the actual one.")
    else:
        console.print(
            f"Cleanest start within {found.window_h:g} h (stored CI):"
            f" {best.start.astimezone():%Y-%m-%d %H:%M}, {format_co2e(best.co2e_g)} CO2e"
            f" instead of {format_co2e(best.actual_co2e_g)}"
            f" (saves {format_co2e(best.savings_g)}, {best.savings_pct or 0:.0f} %)."
        )
    for result in found.other_regions:
        console.print(
            plain(f"Same job in {result.label.removeprefix('region=')} ({source}):")
            + f" {format_co2e(result.co2e_g)} CO2e"
            f" ({'+' if result.savings_g < 0 else ''}{format_co2e(-result.savings_g)})."
        )
