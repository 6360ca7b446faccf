"""One job's page: ``report -j ID``'s detail view over the read API's detail document, with charts.

Every section of ``GET /api/v1/jobs/{id}``
(:func:`~slurm_carbon.service.api.documents.detail_json`) is shown, in the
report's order: the job's facts and data quality (estimates labelled), its
energy by node, its forecast (running), budget and budget action, the power caps
in force over time (table and step chart) and the slowdown they cost, its
deferral, its energy by device and mean power over time (chart, with the carbon intensity),
the what-ifs (cleanest start, other regions), its footprint and its energy card.
A section without data says so in words. Figures are formatted by
:func:`~slurm_carbon.service.web.pages.grams` and
:func:`~slurm_carbon.service.web.pages.kwh` from the document's values; the
lines the report words (coverage, slowdown, deferral) come from
:mod:`slurm_carbon.service.detail_words`, read off the detail the document
rebuilds (:func:`~slurm_carbon.service.api.rows.job_detail_of`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, timedelta
from html import escape
from typing import Any

from slurm_carbon.service.api.rows import job_detail_of
from slurm_carbon.service.detail import JobDetail
from slurm_carbon.service.detail_words import (
    MAX_CAP_ROWS,
    coverage_text,
    deferral_text,
    slowdown_text,
)
from slurm_carbon.service.web.pages import (
    escaped,
    grams,
    kwh,
    page_layout,
    shown_time,
    table_html,
    viewer_label,
)
from slurm_carbon.slurm.times import format_elapsed
from slurm_carbon.units import J_PER_KWH

__all__ = ["job_page", "jobs_page"]


def _pct(share: float | None) -> str:
    return "-" if share is None else f"{share:.0f} %"


def _shares(shares: Mapping[str, float]) -> str:
    """Shares of one (0..1) as ``counter 75 %, estimated 25 %``; a dash for none."""
    return ", ".join(f"{escaped(k)} {100 * v:.0f} %" for k, v in shares.items()) or "-"


def _pairs(rows: list[list[str]], test_id: str) -> str:
    """A table of (label, already-escaped value) rows, labels as row headers."""
    body = "".join(f"<tr><th>{escape(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="facts" data-testid="{test_id}">{body}</table>'


def _section(test_id: str, title: str, body: str) -> str:
    return f'<section data-testid="{test_id}"><h2>{escape(title)}</h2>{body}</section>'


def _said(text: str) -> str:
    return f'<p class="empty">{escape(text)}</p>'


def _facts(detail: dict[str, Any], rebuilt: JobDetail) -> str:
    job = detail["job"]
    mark = " (estimate)" if job["estimate"] else ""
    pending = job["pending"]
    ci = job["ci_g_per_kwh"]
    facts = [
        ("Name", "name", escaped(job["name"])),
        ("User", "user", escaped(job["user"])),
        ("Account", "account", escaped(job["account"])),
        ("Partition", "partition", escaped(job["partition"])),
        ("State", "state", escaped(job["state"])),
        ("Start", "start", shown_time(job["start"])),
        ("End", "end", shown_time(job["end"])),
        (
            "Elapsed",
            "elapsed",
            "-"
            if job["end"] is None or job["elapsed_s"] is None
            else format_elapsed(timedelta(seconds=job["elapsed_s"])),
        ),
        ("GPUs", "gpus", escaped(job["gpus"])),
        ("CO2e", "co2e", "pending" if pending else grams(job["co2e_g"]) + mark),
        ("Energy (facility)", "energy", "pending" if pending else kwh(job["facility_kwh"]) + mark),
        (
            "Carbon intensity",
            "carbon",
            "-"
            if ci is None
            else f"{ci:,.0f} g/kWh (energy-weighted mean) "
            f"[{escaped(job['ci_region'])}, {escaped(job['ci_source'])}]",
        ),
        ("PUE", "pue", "-" if job["pue"] is None else f"{job['pue']:.2f}"),
        ("Quality", "quality", escaped(job["quality"]) + mark),
    ]
    figures = rebuilt.job.figures
    coverage = None if figures is None else coverage_text(figures)
    if coverage is not None:
        facts.append(("Coverage", "coverage", escaped(coverage)))
    rows = "".join(
        f'<tr><th>{escape(label)}</th><td data-testid="job-{tid}">{value}</td></tr>'
        for label, tid, value in facts
    )
    note = (
        "<p>(estimate): estimated energy or a yearly-mean carbon intensity.</p>"
        if job["estimate"]
        else ""
    )
    return f'<table class="facts">{rows}</table>{note}'


def _nodes(detail: dict[str, Any]) -> str:
    rows = (
        [escaped(n["node"]), kwh(n["energy_j"] / J_PER_KWH), kwh(n["gpu_energy_j"] / J_PER_KWH)]
        + [_pct(n["share_pct"]), grams(n["co2e_g"]), _pct(n["coverage_pct"])]
        for n in detail["nodes"]
    )
    table = table_html(
        ["Node", "Energy", "GPU", "Share", "CO2e", "Run time covered"],
        rows,
        "node-table",
        "No energy by node: no node reported intervals for this job.",
    )
    return _section("nodes", "Energy by node (measured, at the devices)", table)


def _forecast(detail: dict[str, Any]) -> str:
    found = detail["job"]["forecast"]
    if found is None:
        why = detail["not_forecast"]
        text = "Not running: no forecast." if why is None else f"No forecast: {why}."
        return _section("forecast", "Forecast", _said(text))
    progress = "not reported" if found["progress"] is None else f"{100 * found['progress']:.0f} %"

    def spread(show: Callable[[float | None], str], key: str) -> str:
        low, high = show(found[f"{key}_low"]), show(found[f"{key}_high"])
        return f"{show(found[key])} (90 %: {low} to {high})"

    rows = [
        ["So far", f"{kwh(found['so_far_kwh'])}, {grams(found['so_far_co2e_g'])}"],
        ["Remaining CO2e", spread(grams, "remaining_co2e_g")],
        ["Remaining energy", spread(kwh, "remaining_kwh")],
        ["Total CO2e", spread(grams, "total_co2e_g")],
        ["Total energy", spread(kwh, "total_kwh")],
        ["Ends", shown_time(found["end"])],
        ["CI ahead", escaped(found["ci_source"])],
    ]
    for key, what in (("budget_co2e_pct", "CO2e"), ("budget_energy_pct", "energy")):
        if found[key] is not None:
            rows.append(["Budget", f"forecast to use {found[key]:.0f} % of its {what} budget"])
    head = f"<p>An estimate; method {escaped(found['method'])}, progress {progress}.</p>"
    return _section("forecast", "Forecast", head + _pairs(rows, "forecast-table"))


def _budget(job: dict[str, Any]) -> str:
    budget = job["budget"]
    if budget is None:
        return _section("budget", "Budget", _said("No budget was given in its comment."))
    given = [
        text
        for value, text in (
            (budget["co2e_g"], f"{grams(budget['co2e_g'])} CO2e"),
            (budget["kwh"], kwh(budget["kwh"])),
        )
        if value is not None
    ]
    rows = [["Budget", ", ".join(given)]]
    action = budget["action"]
    if action is None:
        rows.append(["Action", "none taken"])
    else:
        show = grams if action["unit"] == "g" else kwh
        work = (
            "" if action["progress"] is None else f", {100 * action['progress']:.0f} % of its work"
        )
        rows += [
            [
                "Action",
                f"{escaped(action['action'])} ({escaped(action['outcome'])})"
                f" at {shown_time(action['at'])}{work}",
            ],
            [
                "Why",
                f"forecast {show(action['forecast'])} (90 %: {show(action['forecast_low'])}"
                f" to {show(action['forecast_high'])}) against {show(action['budget'])}:"
                f" {escaped(action['reason'])}",
            ],
        ]
        if action["outcome_message"]:
            rows.append(["Outcome", escaped(action["outcome_message"])])
    return _section("budget", "Budget", _pairs(rows, "budget-table"))


def _caps(detail: dict[str, Any], rebuilt: JobDetail) -> str:
    caps = detail["job"]["caps"]
    if not caps:
        body = _said("No power cap was decided for this job (the GPUs kept their limits).")
    else:
        hidden = len(caps) - MAX_CAP_ROWS
        rows = (
            [
                shown_time(cap["period_start"]),
                shown_time(cap["period_end"]),
                f"{cap['power_limit_w']:,.0f} W",
                escaped(cap["policy"]),
                escaped(
                    cap["reason"] if cap["device"] is None else f"{cap['device']}: {cap['reason']}"
                ),
            ]
            for cap in caps[-MAX_CAP_ROWS:]
        )
        body = (
            '<div class="chart" id="chart-caps"></div>'
            + (f"<p>({hidden} earlier runs of power caps not shown.)</p>" if hidden > 0 else "")
            + table_html(["From", "To", "Limit", "Policy", "Reason"], rows, "cap-table")
        )
    slowdown = slowdown_text(rebuilt.job.figures)
    said = _said(
        "No slowdown estimate: the job ended uncapped, or no profile of its work is stored."
        if slowdown is None
        else slowdown
    )
    return _section("caps", "Power caps in force", body) + _section(
        "slowdown", "Slowdown against its own profile", said
    )


def _deferral(rebuilt: JobDetail) -> str:
    found = rebuilt.deferral
    text = (
        "Not deferred (no carbon_defer in its comment)."
        if found is None
        else deferral_text(found, UTC)
    )
    return _section("deferral", "Deferral", f"<p>{escaped(text)}</p>")


def _energy(detail: dict[str, Any]) -> str:
    split = table_html(
        ["Device", "Energy", "Share"],
        ([escaped(s["kind"]), kwh(s["kwh"]), f"{s['share_pct']:.1f} %"] for s in detail["split"]),
        "split",
        "No energy stored for this job yet.",
    )
    timeline = (
        '<div class="chart" id="chart-timeline"></div>'
        if detail["timeline"]
        else _said("No energy intervals stored for this job.")
    )
    return _section("energy", "Energy by device", split) + _section(
        "timeline", "Power and carbon intensity over time", timeline
    )


def _what_if(detail: dict[str, Any]) -> str:
    recomputed = detail["recomputed"]
    if recomputed is None:
        why = detail["not_recomputed"] or "not computed"
        return _section("what-if", "What if", _said(f"No counterfactual or energy card: {why}."))
    parts = []
    if recomputed["differs"]:
        parts.append(
            f"<p>Recomputed now: {grams(recomputed['co2e_g'])}, the stored result"
            f" {grams(recomputed['stored_co2e_g'])} (the site configuration or the stored carbon"
            " intensity changed since it was computed).</p>"
        )
    found = recomputed["counterfactuals"]
    best, source = found["cleanest"], escaped(found["source"])

    def saving(what: dict[str, Any]) -> str:
        actual = what["actual_co2e_g"]
        share = "" if not actual else f" ({100 * what['savings_g'] / actual:.0f} %)"
        return grams(what["savings_g"]) + share

    if best is None:
        parts.append(
            _said(
                f"No stored carbon intensity of {found['region']} ({found['source']})"
                " covers the job: no counterfactual."
            )
        )
    else:
        parts.append(
            f"<p>Cleanest start within {found['window_h']:g} h ({source}, stored CI):</p>"
            + table_html(
                ["Start", "CO2e", "Saves"],
                [[shown_time(best["start"]), grams(best["co2e_g"]), saving(best)]],
                "cleanest",
            )
        )
    parts.append(
        table_html(
            ["Same job in", "CO2e", "Saves"],
            (
                [escaped(o["label"].removeprefix("region=")), grams(o["co2e_g"]), saving(o)]
                for o in found["other_regions"]
            ),
            "other-regions",
            "No other region configured.",
        )
    )
    return _section("what-if", "What if", "".join(parts))


def _footprint(detail: dict[str, Any]) -> str:
    recomputed = detail["recomputed"]
    if recomputed is None:
        return _section("footprint", "Footprint", _said("No footprint: nothing recomputed."))
    found = recomputed["footprint"]
    quality = found["quality"]
    synthetic = (
        " (synthetic: made from the annual mean, a demo's)" if quality["ci_synthetic"] else ""
    )
    rows = [
        [
            "Energy at the devices",
            ", ".join(f"{escaped(k)} {kwh(v)}" for k, v in found["energy_kwh"].items()),
        ],
        ["Energy at the facility", kwh(found["facility_kwh"])],
        ["CO2e", grams(found["co2e_g"])],
        [
            "Carbon intensity",
            "-" if found["ci_g_per_kwh"] is None else f"{found['ci_g_per_kwh']:,.0f} g/kWh",
        ],
        ["Energy measured by", _shares(quality["methods"])],
        ["Devices", _shares(quality["sharing"])],
        ["Intensity kinds", _shares(quality["ci_kinds"]) + synthetic],
        ["Intensity sources", escaped(", ".join(quality["ci_sources"]) or None)],
        ["Gap-filled (estimate)", f"{100 * quality['gap_share']:.0f} %"],
    ]
    return _section("footprint", "Footprint and data quality", _pairs(rows, "footprint-table"))


def _card(rebuilt: JobDetail, why: str | None) -> str:
    """The energy card's Markdown table as HTML: its title, rows and reference line."""
    if rebuilt.recomputed is None:
        return _section("card", "Energy card", _said(f"No energy card: {why or 'not computed'}."))
    lines = rebuilt.recomputed.card.to_markdown().splitlines()
    title = lines[0].removeprefix("### ")
    cells = [line.strip("| ").split(" | ") for line in lines if line.startswith("| ")]
    table = table_html(cells[0], ([escaped(c) for c in row] for row in cells[2:]), "card-table")
    notes = "".join(
        f"<p>{escaped(line)}</p>" for line in lines[1:] if line and not line.startswith("|")
    )
    return _section("card", "Energy card", f"<h3>{escaped(title)}</h3>{table}{notes}")


def job_page(detail: dict[str, Any], viewer: dict[str, Any]) -> str:
    """One job's page: the read API's ``GET /api/v1/jobs/{id}`` document, every section."""
    rebuilt = job_detail_of(detail)
    job = detail["job"]
    body = "".join(
        [
            _facts(detail, rebuilt),
            _nodes(detail),
            _forecast(detail),
            _budget(job),
            _caps(detail, rebuilt),
            _deferral(rebuilt),
            _energy(detail),
            _what_if(detail),
            _footprint(detail),
            _card(rebuilt, detail["not_recomputed"]),
        ]
    )
    return page_layout(f"Job {job['job_id']}", viewer_label(viewer), body, detail)


def jobs_page(job_id: str, items: list[dict[str, Any]], viewer: dict[str, Any]) -> str:
    """The jobs one id names (an array's tasks, a het job's components), each linked to its page.

    ``items`` are the read API's job items (``GET /api/v1/jobs?jobs=ID``).
    """
    rows = (
        [
            f'<a href="/web/jobs/{escaped(item["job_id"])}">{escaped(item["job_id"])}</a>',
            escaped(item["state"]),
            kwh(item["facility_kwh"]),
            grams(item["co2e_g"]) + (" (estimate)" if item["estimate"] else ""),
        ]
        for item in items
    )
    body = (
        f"<p>Job {escaped(job_id)} names {len(items)} jobs (array tasks or het job components):</p>"
    )
    table = table_html(["Job", "State", "Energy (facility)", "CO2e"], rows, "component-table")
    return page_layout(
        f"Job {job_id}", viewer_label(viewer), body + _section("components", "Jobs", table)
    )
