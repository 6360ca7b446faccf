"""``slurm-carbon evaluate control``: GPU power-capping policies replayed on a CI trace.

Reads a power profile and a carbon-intensity trace, replays the jobs
(:func:`slurm_carbon.control.replay.replay_jobs`) and prints, per policy, the
carbon and energy reduction against ``none``, the mean and worst slowdown, the
static-cap hull's reduction at the policy's mean slowdown and the policy's
premium over it (:data:`CONTROL_JSON_SCHEMA` with ``--json``). ``--decisions``
writes our policy's decisions as CSV.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import numpy as np

from slurm_carbon.cli.evaluate_inputs import (
    duration_s,
    iso_time,
    output_file,
    profile_options,
    read_regular_trace,
    trace_option,
    write_rows,
)
from slurm_carbon.cli.params import FiniteRange
from slurm_carbon.control.policies import DEFAULT_MAX_SLOWDOWN, LimitGrid
from slurm_carbon.control.replay import (
    HORIZON_S,
    PARTIAL,
    POLICIES,
    TAIL_JOBS,
    ControlReplay,
    Decision,
    ReplaySetup,
    replay_jobs,
)
from slurm_carbon.errors import ConfigError
from slurm_carbon.forecast.intensity import DEFAULT_METHOD
from slurm_carbon.sensors.profiles import load_profile
from slurm_carbon.text import escape_control

__all__ = [
    "CONTROL_JSON_SCHEMA",
    "DECISION_COLUMNS",
    "MAX_JOB_HOURS",
    "MAX_NODE_OVERHEAD_W",
    "MAX_PERIOD_S",
    "MAX_SLOWDOWN_BUDGET",
    "MAX_START_EVERY_S",
    "MIN_PERIOD_S",
    "control_command",
]

#: The largest slowdown budget: a job slowed more would not end within the trace,
#: whose last job starts ``TAIL_JOBS`` job lengths before its end.
MAX_SLOWDOWN_BUDGET = round(TAIL_JOBS - 1, 6)
#: The longest job replayed: 30 days, beyond any site's usual MaxTime.
MAX_JOB_HOURS = 720.0
#: The shortest period: 5 min, a third of the finest trace step (15 min);
#: shorter periods repeat the same decision at more cost.
MIN_PERIOD_S = 300
#: The longest period: a day (a cap held longer cannot follow the grid's daily cycle).
MAX_PERIOD_S = 86_400
#: The longest gap between job starts: a year, the length of the traces replayed.
MAX_START_EVERY_S = 366 * 86_400
#: The largest node power per GPU: 2 kW, above any GPU server's draw per GPU
#: (an 8-GPU DGX H100 draws at most 10.2 kW: 1.3 kW per GPU).
MAX_NODE_OVERHEAD_W = 2000.0
#: Header of the ``--decisions`` CSV.
DECISION_COLUMNS = ("job_start", "period_start", "power_limit_w")

_FIGURES = (
    "carbon_reduction_pct",
    "energy_reduction_pct",
    "mean_slowdown_pct",
    "worst_slowdown_pct",
    "hull_reduction_pct",
    "premium_pp",
)
_NUMBER: dict[str, Any] = {"type": "number"}
#: The JSON that ``--json`` prints (JSON Schema, draft 2020-12).
CONTROL_JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": [
        "profile",
        "trace",
        "forecast_method",
        "max_slowdown",
        "job_hours",
        "start_every_s",
        "period_s",
        "node_overhead_w",
        "known_hours",
        "jobs",
        "limits_w",
        "policies",
        "static_caps",
    ],
    "properties": {
        "profile": {"type": "string"},
        "trace": {"type": "string"},
        "forecast_method": {"type": "string"},
        "max_slowdown": _NUMBER,
        "job_hours": _NUMBER,
        "start_every_s": {"type": "integer"},
        "period_s": {"type": "integer"},
        "node_overhead_w": {"type": ["number", "null"]},
        "known_hours": {"type": ["number", "null"]},
        "jobs": {"type": "integer", "minimum": 1},
        "limits_w": {"type": "array", "items": _NUMBER, "minItems": 1},
        "policies": {
            "type": "object",
            "additionalProperties": False,
            "required": list(POLICIES),
            "properties": {
                name: {
                    "type": "object",
                    "additionalProperties": False,
                    "required": list(_FIGURES),
                    "properties": dict.fromkeys(_FIGURES, _NUMBER),
                }
                for name in (*POLICIES, PARTIAL)
            },
        },
        "static_caps": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["limit_w", "slowdown_pct", "carbon_reduction_pct"],
                "properties": {
                    "limit_w": _NUMBER,
                    "slowdown_pct": _NUMBER,
                    "carbon_reduction_pct": _NUMBER,
                },
            },
        },
    },
}


def _duration(low_s: int, high_s: int) -> Any:
    def parse(_ctx: click.Context, _param: click.Parameter, value: str) -> int:
        given = duration_s(value)
        if given is None or not low_s <= given <= high_s:
            raise click.BadParameter(
                f"{escape_control(value)!r} is not a duration from {low_s // 60}m to"
                f" {high_s // 3600}h (e.g. 30m, 6h, 1d)"
            )
        return given

    return parse


@click.command("control")
@profile_options
@trace_option
@click.option(
    "--max-slowdown",
    type=FiniteRange(0.0, MAX_SLOWDOWN_BUDGET),
    default=DEFAULT_MAX_SLOWDOWN,
    show_default=True,
    help=f"The slowdown budget, a fraction (at most {MAX_SLOWDOWN_BUDGET:g}: jobs must end"
    " within the trace).",
)
@click.option(
    "--job-hours",
    type=FiniteRange(0.0, MAX_JOB_HOURS, min_open=True),
    default=24.0,
    show_default=True,
    help=f"Each job's length at the maximum limit, in hours (at most {MAX_JOB_HOURS:g}).",
)
@click.option(
    "--start-every",
    default="6h",
    show_default=True,
    callback=_duration(MIN_PERIOD_S, MAX_START_EVERY_S),
    help="Time between job starts (e.g. 6h, 1d).",
)
@click.option(
    "--period",
    default="30m",
    show_default=True,
    callback=_duration(MIN_PERIOD_S, MAX_PERIOD_S),
    help="How often each policy chooses a limit (5m to 24h).",
)
@click.option(
    "--node-overhead-w",
    type=FiniteRange(0.0, MAX_NODE_OVERHEAD_W),
    help="Node power per GPU drawn while the job runs, in watts"
    f" (at most {MAX_NODE_OVERHEAD_W:g}).",
)
@click.option(
    "--known-hours",
    type=FiniteRange(0.0, HORIZON_S / 3600),
    help="Also replay ours with the trace's actual values for this many hours ahead of"
    " each decision and the forecast after (carbon_partial): what a better short-term"
    f" forecast is worth (at most {HORIZON_S // 3600}).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (schema in the README).")
@click.option(
    "--decisions",
    "decisions_path",
    callback=output_file,
    help="Write our policy's decisions to this CSV: job_start,period_start,power_limit_w.",
)
def control_command(  # noqa: PLR0913, PLR0917 (click passes one parameter per option)
    profile_path: str,
    workload: str,
    trace_file: Path,
    max_slowdown: float,
    job_hours: float,
    start_every: int,
    period: int,
    node_overhead_w: float | None,
    known_hours: float | None,
    as_json: bool,
    decisions_path: Path | None,
) -> None:
    """Replay GPU power-capping policies on a trace, against the best static caps.

    Jobs of --job-hours at the maximum limit start at the trace's first time and
    every --start-every after. Policies: none, static (least energy within the
    budget), carbon (ours, with the CI forecast made at each period from the
    data up to it), chase (Chase's rule) and carbon_oracle (ours with the
    trace's own future). For each: carbon and energy reduction against none,
    mean and worst slowdown, and the premium over the best mix of two fixed
    caps at the same mean slowdown (the static-cap hull), in points.
    """
    try:
        profile = load_profile(Path(profile_path), workload)
        grid = LimitGrid.of(profile, overhead_w=node_overhead_w or 0.0)
        trace = read_regular_trace(trace_file)
    except ConfigError as err:
        raise click.ClickException(escape_control(str(err))) from None
    setup = ReplaySetup(
        max_slowdown=max_slowdown,
        job_s=job_hours * 3600,
        start_every_s=start_every,
        period_s=period,
        known_ahead_s=None if known_hours is None else known_hours * 3600,
    )
    values = np.array([point.ci_g_per_kwh for point in trace.points])
    try:
        result = replay_jobs(grid, trace.points[0].time.timestamp(), trace.step_s, values, setup)
    except ValueError as err:
        raise click.ClickException(f"{escape_control(trace_file.name)}: {err}") from None
    if decisions_path is not None:
        _write_decisions(decisions_path, result.decisions)
    report = _report(result, grid, setup, profile.name, trace_file.name, node_overhead_w)
    if as_json:
        click.echo(json.dumps(report))
    else:
        click.echo(_table(report))


def _write_decisions(path: Path, decisions: list[Decision]) -> None:
    write_rows(
        path,
        DECISION_COLUMNS,
        (
            [iso_time(d.job_start_s), iso_time(d.period_start_s), f"{d.power_limit_w:g}"]
            for d in decisions
        ),
    )


def _report(  # noqa: PLR0913, PLR0917 (what was replayed, and how)
    result: ControlReplay,
    grid: LimitGrid,
    setup: ReplaySetup,
    profile: str,
    trace: str,
    node_overhead_w: float | None,
) -> dict[str, Any]:
    summary = result.summary()
    caps = []
    for limit_w, figures in result.static_caps.items():
        caps.append(
            {
                "limit_w": limit_w,
                "slowdown_pct": round(100 * figures.mean_slowdown, 4),
                "carbon_reduction_pct": round(result.reduction_pct(figures)[0], 4),
            }
        )
    return {
        "profile": profile,
        "trace": trace,
        "forecast_method": DEFAULT_METHOD,
        "max_slowdown": setup.max_slowdown,
        "job_hours": setup.job_s / 3600,
        "start_every_s": int(setup.start_every_s),
        "period_s": int(setup.period_s),
        "node_overhead_w": node_overhead_w,
        "known_hours": None if setup.known_ahead_s is None else setup.known_ahead_s / 3600,
        "jobs": result.jobs,
        "limits_w": grid.limits_w.tolist(),
        "policies": {
            name: {key: round(value, 4) for key, value in summary[name].items()}
            for name in result.policies
        },
        "static_caps": caps,
    }


def _table(report: dict[str, Any]) -> str:
    overhead = report["node_overhead_w"]
    lines = [
        escape_control(
            f"{report['profile']} on {report['trace']}: {report['jobs']} jobs of"
            f" {report['job_hours']:g} h, budget {100 * report['max_slowdown']:g} %,"
            f" period {report['period_s'] // 60} min, forecast {report['forecast_method']}"
            f" (up to {HORIZON_S // 3600} h ahead)"
            + (f", node overhead {overhead:g} W per GPU" if overhead is not None else "")
        ),
        f"{'policy':<15}{'carbon':>9}{'energy':>9}{'mean slow':>11}{'worst slow':>12}"
        f"{'hull':>9}{'premium':>10}",
    ]
    for name, row in report["policies"].items():
        cells = [row[key] for key in _FIGURES]
        lines.append(
            f"{name:<15}"
            + "".join(f"{v:>8.2f}%" for v in cells[:2])
            + f"{cells[2]:>10.2f}%{cells[3]:>11.2f}%{cells[4]:>8.2f}%{cells[5]:>7.2f} pp"
        )
    lines.append(
        "carbon/energy: reduction against none; hull: the best mix of two fixed caps"
        " at the same mean slowdown; premium: carbon less hull, in percentage points."
    )
    if report["known_hours"] is not None:
        lines.append(
            f"{PARTIAL}: ours with the actual intensity for the first {report['known_hours']:g} h"
            " ahead of each decision, the forecast after."
        )
    return "\n".join(lines)
