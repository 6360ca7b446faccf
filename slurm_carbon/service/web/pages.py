"""The dashboard's HTML: plain strings, every value escaped, no build step.

Tables are written here, so the figures read without JavaScript; each page
also carries its data as JSON (``<script type="application/json" id="data">``)
for ``static/dashboard.js`` to draw charts with uPlot. Every figure shown is
formatted by :func:`grams` or :func:`kwh` from the read API's JSON value.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

from slurm_carbon.service.web.overview import GROUPS_CHARTED
from slurm_carbon.text import escape_control

__all__ = [
    "error_page",
    "escaped",
    "grams",
    "kwh",
    "overview_page",
    "page_layout",
    "shown_time",
    "table_html",
    "viewer_label",
]

_NOT_YET = "No data yet."


def grams(value: float | None) -> str:
    """A mass of CO2e as shown: grams below a kilogram, else kilograms, or a dash."""
    if value is None:
        return "-"
    return f"{value:,.1f} g" if abs(value) < 1000 else f"{value / 1000:,.3f} kg"


def kwh(value: float | None) -> str:
    """Energy as shown: Wh below a kWh (a short job's CPU would read 0.000 kWh), else kWh."""
    if value is None:
        return "-"
    return f"{value * 1000:,.2f} Wh" if abs(value) < 1 else f"{value:,.3f} kWh"


def shown_time(iso: str | None) -> str:
    """An ISO 8601 time of the API as shown: to the minute, in UTC."""
    if iso is None:
        return "-"
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def escaped(value: Any) -> str:
    """Outside text as shown: control characters written as escapes, then HTML-escaped."""
    return "-" if value is None else escape(escape_control(str(value)))


def table_html(
    headers: Sequence[str], rows: Iterable[Sequence[str]], test_id: str, empty: str = _NOT_YET
) -> str:
    """A table of already-escaped cells; ``empty`` when there is no row."""
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    if not body:
        return f'<p class="empty" data-testid="{test_id}">{escape(empty)}</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    return f'<table data-testid="{test_id}"><tr>{head}</tr>{body}</table>'


def page_layout(title: str, who: str, body: str, data: Any = None) -> str:
    """A whole page: header with ``who``, ``body`` (escaped HTML) and ``data`` for the charts."""
    # "<" never appears raw in the JSON, so no text in it can close the script element.
    embedded = (
        ""
        if data is None
        else '<script type="application/json" id="data">'
        + json.dumps(data).replace("<", "\\u003c")
        + "</script>"
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)} - slurm-carbon</title>"
        '<link rel="icon" href="data:,">'
        '<link rel="stylesheet" href="/web/static/uPlot.min.css">'
        '<link rel="stylesheet" href="/web/static/dashboard.css">'
        '</head><body><header><a href="/web/">slurm-carbon</a>'
        f'<span class="who">{escape(who)}</span></header>'
        f"<main><h1>{escape(title)}</h1>{body}</main>{embedded}"
        '<script src="/web/static/uPlot.iife.min.js"></script>'
        '<script src="/web/static/dashboard.js"></script></body></html>'
    )


def _group_rows(groups: list[dict[str, Any]]) -> list[list[str]]:
    return [
        [escaped(g["key"]), str(g["jobs"]), kwh(g["facility_kwh"]), grams(g["co2e_g"])]
        for g in groups
    ]


def _job_link(job_id: str) -> str:
    return f'<a href="/web/jobs/{escape(job_id)}">{escape(job_id)}</a>'


def overview_page(data: dict[str, Any]) -> str:
    """The overview of :func:`~slurm_carbon.service.web.overview.overview`'s ``data``."""
    viewer, total = data["viewer"], data["totals"]
    scope = "every job" if viewer["admin"] else f"{viewer['name']}'s jobs"
    counted = total["jobs"] - total["pending_jobs"]
    share = "-" if counted == 0 else f"{100 * total['estimated_jobs'] / counted:.0f} %"
    cards = [
        ("CO2e", grams(total["co2e_g"]), "total-co2e"),
        ("Energy (facility)", kwh(total["facility_kwh"]), "total-kwh"),
        ("Jobs", str(total["jobs"]), "total-jobs"),
        ("Estimated figures", share, "estimated-share"),
        ("Failed-job waste", grams(total["waste_co2e_g"]), "waste-co2e"),
    ]
    parts = [
        f"<p>Figures of {escape(scope)}.</p>",
        '<section class="cards">'
        + "".join(
            f'<div class="card"><div class="label">{escape(label)}</div>'
            f'<div class="value" data-testid="{tid}">{escape(value)}</div></div>'
            for label, value, tid in cards
        )
        + "</section>",
        _over_time(data["over_time"]),
    ]
    for by, groups in data["groups"].items():
        parts.append(f"<h2>By {by}</h2>")
        parts.append(
            table_html(["Name", "Jobs", "Energy", "CO2e"], _group_rows(groups), f"by-{by}")
        )
    parts.append(_intensity(data["intensity"]))
    running = data["running"]
    parts.append(f"<h2>Running now ({running['count']})</h2>")
    parts.append(
        table_html(
            ["Job", "User", "Partition", "So far", "Forecast total"],
            (
                [
                    _job_link(j["job_id"]),
                    escaped(j["user"]),
                    escaped(j["partition"]),
                    grams(j["forecast"]["so_far_co2e_g"]) if j["forecast"] else "-",
                    grams(j["forecast"]["total_co2e_g"]) if j["forecast"] else "no forecast yet",
                ]
                for j in running["jobs"]
            ),
            "running",
            "No job is running.",
        )
    )
    parts.append("<h2>Biggest emitters</h2>")
    parts.append(
        table_html(
            ["Job", "Energy", "CO2e"],
            (
                [_job_link(g["key"]), kwh(g["facility_kwh"]), grams(g["co2e_g"])]
                for g in data["emitters"]
            ),
            "emitters",
        )
    )
    parts.append(_cluster(data["cluster"]))
    return page_layout("Overview", viewer_label(viewer), "".join(parts), data)


def _over_time(over_time: dict[str, Any]) -> str:
    """The charts per day, with the choice of grouping they draw."""
    options = "".join(f'<option value="{by}">{by}</option>' for by in over_time["by"])
    return (
        "<h2>CO2e and energy per day</h2>"
        '<p>By <select id="days-group" data-testid="days-group">'
        f"{options}</select>: the {GROUPS_CHARTED} biggest by CO2e over the last"
        f' {len(over_time["days"])} days, the rest summed as "other";'
        " jobs by the UTC day they ended.</p>"
        '<div class="chart" id="chart-days-co2e_g"></div>'
        '<div class="chart" id="chart-days-facility_kwh"></div>'
    )


def viewer_label(viewer: dict[str, Any]) -> str:
    """Who is logged in, as the header shows it: name and role."""
    return f"{viewer['name']} ({'admin' if viewer['admin'] else 'user'})"


def _intensity(regions: list[dict[str, Any]]) -> str:
    parts = ["<h2>Grid carbon intensity</h2>"]
    rows = []
    for r in regions:
        best = r["cleanest"]
        cleanest = (
            "no forecast stored"
            if best is None
            else f"{shown_time(best['start'])}: {best['mean_g_per_kwh']:,.0f} g/kWh"
            f" ({best['saving_pct']:.0f} % below now)"
        )
        now = r["now_g_per_kwh"]
        rows.append([escaped(r["region"]), "-" if now is None else f"{now:,.0f} g/kWh", cleanest])
    parts.append(table_html(["Region", "Now", "Cleanest hour in the next 24 h"], rows, "intensity"))
    if regions:
        parts.append('<div class="chart" id="chart-intensity"></div>')
    return "".join(parts)


def _cluster(cluster: dict[str, Any] | None) -> str:
    if cluster is None:
        return "<p>Caps, budget actions and node health are shown to admins.</p>"
    caps = [[escaped(name), str(count)] for name, count in sorted(cluster["capped_gpus"].items())]
    limits = [
        [escaped(g["cluster"]), escaped(g["node"]), escaped(g["gpu"]), f"{g['limit_w']:,.0f} W"]
        for g in cluster["gpu_limits"]
    ]
    actions = [
        [escaped(a["action"]), escaped(a["outcome"]), str(a["count"])]
        for a in cluster["budget_actions"]
    ]
    silent = [
        [
            escaped(n["cluster"]),
            escaped(n["node"]),
            shown_time(n["last_end"]),
            escaped(n["spool_backlog"]),
            escaped(n["dead_letters"]),
        ]
        for n in cluster["silent_nodes"]
    ]
    return "".join(
        [
            "<h2>Power caps in force</h2>",
            table_html(["Cluster", "GPUs capped"], caps, "caps"),
            table_html(
                ["Cluster", "Node", "GPU", "Limit it last reported"],
                limits,
                "gpu-limits",
                "No running job's GPU reported a power limit.",
            ),
            _hull_saving(cluster["hull_saving"]),
            "<h2>Budget actions</h2>",
            table_html(
                ["Action", "Outcome", "Jobs"], actions, "budget-actions", "No budget action."
            ),
            "<h2>Nodes that stopped reporting or hold dead letters</h2>",
            table_html(
                ["Cluster", "Node", "Last interval ended", "Rows in its spool", "Dead letters"],
                silent,
                "silent-nodes",
                "Every node that reported is reporting, and none holds dead letters.",
            ),
        ]
    )


def _hull_saving(found: dict[str, Any]) -> str:
    """What caps saved against the static-cap hull, labelled an estimate."""
    if found["saved_co2e_g"] is None:
        text = (
            f"What caps saved against the best static cap: no finished capped job with a"
            f" stored profile in the last {found['days']} days."
        )
    else:
        text = (
            f"Saved against the best static cap at the same slowdown (estimate):"
            f" {grams(found['saved_co2e_g'])} over {found['jobs']} of {found['capped_jobs']}"
            f" finished capped jobs of the last {found['days']} days."
        )
    return f'<p data-testid="hull-saving">{escape(text)}</p>'


def error_page(status: int, message: str) -> str:
    """A page that says, in one sentence, why nothing else is shown."""
    return page_layout(
        f"Error {status}", "", f'<p class="error" data-testid="error">{escape(message)}</p>'
    )
