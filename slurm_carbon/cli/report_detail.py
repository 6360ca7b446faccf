"""The detail view of ``slurm-carbon report -j ID``: one job's split, time course and what-ifs.

Its figures, the GPU/CPU/DRAM split, energy and carbon intensity over time, the
cleanest start in the following hours and other regions (from the stored
intervals and carbon intensity), and the publication energy card.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from rich.console import Console
from rich.table import Table

from slurm_carbon.accounting import best_timeline, cleanest_start, energy_card, in_region
from slurm_carbon.cli.report_format import format_elapsed, plain, quality_text
from slurm_carbon.config import CounterfactualConfig
from slurm_carbon.errors import IntensityUnavailable
from slurm_carbon.intensity.base import CiKind, CiPoint, CiSignal, IntensityProvider
from slurm_carbon.service.results import (
    JobFootprint,
    NoEnergy,
    Site,
    StaticSite,
    stored_footprint,
)
from slurm_carbon.store.reports import CiRecord, JobRow, TimelinePoint, ci_series, job_timeline
from slurm_carbon.store.results import job_intervals
from slurm_carbon.units import format_co2e, format_energy, format_number

__all__ = ["DetailContext", "show_job"]

#: Rows of the energy-over-time table at most; longer jobs are shown in merged steps.
MAX_TIMELINE_ROWS = 48


#: Relative difference between the recomputed and the stored CO2e that is said aloud.
RECOMPUTED_TOLERANCE = 1e-6


@dataclass(frozen=True)
class DetailContext:
    """What the detail view recomputes a job's footprint with, as the writer did.

    Attributes:
        counterfactual: The cleanest-start window and the other regions.
        intensity: Carbon intensity (the stored series first, as the writer).
        site: The site's regions, PUE and unmeasured parts; None: the stored
            result's region and PUE (no unmeasured parts).
    """

    counterfactual: CounterfactualConfig
    intensity: IntensityProvider
    site: Site | None = None


def show_job(console: Console, session: Any, row: JobRow, context: DetailContext) -> None:
    """Print one job in detail."""
    _detail(console, row, job_timeline(session, row))
    _what_if(console, session, row, context)


def _detail(console: Console, row: JobRow, timeline: list[TimelinePoint]) -> None:
    figures = row.figures
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
    if figures is None:
        facts.add_row("Result", "[yellow]pending[/]: no result computed yet")
    else:
        device_j = figures.device_energy_j
        for label, energy_j in (
            ("GPU", figures.gpu_energy_j),
            ("CPU", figures.cpu_energy_j),
            ("DRAM", figures.dram_energy_j),
            ("other", figures.other_energy_j),
        ):
            if label == "other" and not energy_j:
                continue
            share = energy_j / device_j * 100 if device_j else 0.0
            facts.add_row(f"Energy {label}", f"{format_energy(energy_j)} ({share:.0f} %)")
        if figures.other_energy_j:
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
        if figures.estimated:
            facts.add_row("", "~ an estimate (estimated energy or a yearly-mean intensity)")
    console.print(f"[bold]{title}[/]")
    console.print(facts)
    if timeline:
        _timeline(console, timeline)
    else:
        console.print("No energy intervals stored for this job.")


def _merge(points: list[TimelinePoint]) -> TimelinePoint:
    energy_j = [p.gpu_energy_j + p.cpu_energy_j + p.dram_energy_j for p in points]
    weighted = [(e, p.ci_g_per_kwh) for e, p in zip(energy_j, points, strict=True)]
    known = [(e, ci) for e, ci in weighted if ci is not None]
    total = sum(e for e, _ in known)
    if known and total > 0:
        ci: float | None = sum(e * c for e, c in known) / total
    else:
        ci = known[0][1] if known else None
    return TimelinePoint(
        points[0].start,
        points[-1].end,
        sum(p.gpu_energy_j for p in points),
        sum(p.cpu_energy_j for p in points),
        sum(p.dram_energy_j for p in points),
        ci,
    )


def _timeline(console: Console, timeline: list[TimelinePoint]) -> None:
    size = math.ceil(len(timeline) / MAX_TIMELINE_ROWS)
    merged = [_merge(timeline[i : i + size]) for i in range(0, len(timeline), size)]
    with_ci = any(point.ci_g_per_kwh is not None for point in merged)
    table = Table(title="Energy over time (at the devices)", show_edge=False, pad_edge=False)
    table.add_column("From")
    table.add_column("To")
    for name in ("GPU", "CPU", "DRAM", "mean W"):
        table.add_column(name, justify="right")
    if with_ci:
        table.add_column("CI g/kWh", justify="right")
    for point in merged:
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


def _ci_points(records: list[CiRecord]) -> list[CiPoint]:
    """Stored points as a CI series: each lasts until the next, the last as the one before."""
    points: list[CiPoint] = []
    for index, record in enumerate(records):
        if index + 1 < len(records):
            step_s = int((records[index + 1].time - record.time).total_seconds())
        else:
            step_s = int((record.time - records[index - 1].time).total_seconds()) if index else 3600
        points.append(
            CiPoint(
                region=record.region,
                time=record.time,
                step_s=max(step_s, 1),
                ci_g_per_kwh=record.ci_g_per_kwh,
                source=record.source,
                kind=CiKind(record.kind),
                signal=CiSignal(record.signal),
                issued_at=record.issued_at,
            )
        )
    return points


def _what_if(console: Console, session: Any, row: JobRow, context: DetailContext) -> None:
    """The cleanest start, other regions, and the energy card, as the result is computed."""
    figures = row.figures
    if figures is None or figures.ci_region is None or figures.ci_source is None:
        return
    site = context.site or StaticSite(figures.ci_region, figures.pue)
    end = row.end_time or figures.computed_at
    try:
        found = stored_footprint(
            session,
            row.row_id,
            label=row.job_id_text,
            partition=row.partition or "",
            node_list=row.node_list,
            run=(row.start_time, end),
            site=site,
            intensity=context.intensity,
        )
    except (NoEnergy, IntensityUnavailable) as err:
        console.print(plain(f"No counterfactual or energy card: {err}."))
        return
    stored_g, now_g = figures.co2e_g, found.figures.co2e_g
    if abs(now_g - stored_g) > RECOMPUTED_TOLERANCE * max(abs(stored_g), 1.0):
        console.print(
            f"[yellow]Recomputed now: {format_co2e(now_g)} CO2e, the stored result"
            f" {format_co2e(stored_g)}[/] (the site configuration or the stored carbon"
            " intensity changed since it was computed; the card shows the recomputed figures)."
        )
    _counterfactuals(console, session, found, figures.ci_source, context.counterfactual)
    records = job_intervals(session, row.row_id)
    models = sorted({r.device_model for r in records if r.kind == "gpu" and r.device_model})
    card = energy_card(
        found.figures,
        title=row.name or f"job {row.job_id_text}",
        accelerator=", ".join(models) or "n/a",
        accelerator_count=row.requested_gpus,
        region=found.region,
    )
    console.print()
    console.print("Energy card (from the stored intervals, as the job's result is computed):")
    console.print(card.to_markdown(), markup=False, highlight=False)


def _counterfactuals(
    console: Console, session: Any, found: JobFootprint, source: str, config: CounterfactualConfig
) -> None:
    """The cleanest start and other regions, on the stored series of the result's source."""
    region, spans = found.region, found.spans
    first = min(span.start for span in spans)
    last = max(span.end for span in spans)
    window = timedelta(hours=config.window_h)
    points = _ci_points(ci_series(session, region, source, first, last + window))
    if not points or not best_timeline(points).covers(first, last):
        console.print(
            plain(f"No stored carbon intensity of {region} ({source}) covers the job:")
            + " no counterfactual."
        )
        return
    best = cleanest_start(
        spans, points, found.pue, config.window_h, timedelta(minutes=config.step_min)
    )
    if best.start == first:
        console.print(f"Cleanest start within {config.window_h:g} h (stored CI): the actual one.")
    else:
        console.print(
            f"Cleanest start within {config.window_h:g} h (stored CI):"
            f" {best.start.astimezone():%Y-%m-%d %H:%M}, {format_co2e(best.co2e_g)} CO2e"
            f" instead of {format_co2e(best.actual_co2e_g)}"
            f" (saves {format_co2e(best.savings_g)}, {best.savings_pct or 0:.0f} %)."
        )
    regions = {}
    for other in config.regions:
        if other != region:
            series = _ci_points(ci_series(session, other, source, first, last))
            if series:
                regions[other] = series
    for result in in_region(spans, points, found.pue, regions) if regions else []:
        console.print(
            plain(f"Same job in {result.label.removeprefix('region=')} ({source}):")
            + f" {format_co2e(result.co2e_g)} CO2e"
            f" ({'+' if result.savings_g < 0 else ''}{format_co2e(-result.savings_g)})."
        )
