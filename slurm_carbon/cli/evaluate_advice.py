"""``slurm-carbon evaluate advice``: the submit-time advice replayed on a CI trace.

Reads a regular trace, makes the forecast from every origin with the data up to it
(:func:`slurm_carbon.control.replay.forecast_matrix`, as ``evaluate control`` does),
replays the advice (:func:`slurm_carbon.forecast.advice_replay.replay_advice`) and
prints, per job length, the saving of the advised starts and of the oracle's against
starting at once (:data:`ADVICE_JSON_SCHEMA` with ``--json``). ``--decisions`` writes
every advised start as CSV.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import click
import numpy as np

from slurm_carbon.cli.evaluate_inputs import (
    iso_time,
    output_file,
    read_regular_trace,
    trace_option,
    write_rows,
)
from slurm_carbon.cli.params import FiniteRange
from slurm_carbon.control.replay import forecast_matrix
from slurm_carbon.errors import ConfigError
from slurm_carbon.forecast.advice import ADVICE_AHEAD_S
from slurm_carbon.forecast.advice_replay import (
    WARMUP_S,
    AdviceDecision,
    AdviceReplay,
    horizons_needed,
    replay_advice,
)
from slurm_carbon.forecast.intensity import DEFAULT_METHOD
from slurm_carbon.text import escape_control

__all__ = [
    "ADVICE_JSON_SCHEMA",
    "DECISION_COLUMNS",
    "MAX_JOB_HOURS",
    "MAX_JOB_LENGTHS",
    "MAX_WITHIN_HOURS",
    "advice_command",
]

#: The longest job replayed: 48 h, the advice files' reach (``ADVICE_AHEAD_S``); a
#: longer job never gets advice at sbatch.
MAX_JOB_HOURS = ADVICE_AHEAD_S / 3600
#: The longest delay: 7 days, the longest ``carbon_defer`` (``MAX_DEFER_S``).
MAX_WITHIN_HOURS = 168.0
#: The most job lengths in one run: each is a replay of the whole trace.
MAX_JOB_LENGTHS = 16
#: Header of the ``--decisions`` CSV.
DECISION_COLUMNS = ("submit_time", "job_hours", "start_time")

_FIGURES = ("advice_saving_pct", "oracle_saving_pct")
#: The JSON that ``--json`` prints (JSON Schema, draft 2020-12): one member per job
#: length, named ``<hours>h`` (the hours as given, ``:g``), in the order given.
ADVICE_JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "minProperties": 1,
    "additionalProperties": False,
    "patternProperties": {
        r"^[0-9.e+-]+h$": {
            "type": "object",
            "additionalProperties": False,
            "required": [*_FIGURES, "jobs"],
            "properties": {
                **{key: {"type": "number"} for key in _FIGURES},
                "jobs": {"type": "integer", "minimum": 1},
            },
        }
    },
}


def _job_hours(_ctx: click.Context, _param: click.Parameter, value: str) -> list[float]:
    parts = value.split(",")
    if len(parts) > MAX_JOB_LENGTHS:
        raise click.BadParameter(f"more than {MAX_JOB_LENGTHS} job lengths")
    hours: list[float] = []
    for part in parts:
        try:
            number = float(part)
        except ValueError:
            number = math.nan
        if not (math.isfinite(number) and 0 < number <= MAX_JOB_HOURS):
            raise click.BadParameter(
                f"{escape_control(part)[:60]!r} is not a number of hours more than 0 and at"
                f" most {MAX_JOB_HOURS:g}"
            )
        hours.append(number)
    return list(dict.fromkeys(hours))


@click.command("advice")
@trace_option
@click.option(
    "--job-hours",
    default="1,4,12",
    show_default=True,
    callback=_job_hours,
    help=f"The jobs' lengths in hours, comma-separated (each at most {MAX_JOB_HOURS:g},"
    f" at most {MAX_JOB_LENGTHS} lengths).",
)
@click.option(
    "--within",
    type=FiniteRange(0.0, MAX_WITHIN_HOURS),
    default=24.0,
    show_default=True,
    help=f"How many hours later a job may start (at most {MAX_WITHIN_HOURS:g}).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (schema in the README).")
@click.option(
    "--decisions",
    "decisions_path",
    callback=output_file,
    help="Write every advised start to this CSV: submit_time,job_hours,start_time.",
)
def advice_command(
    trace_file: Path,
    job_hours: list[float],
    within: float,
    as_json: bool,
    decisions_path: Path | None,
) -> None:
    """Replay the submit-time advice on a trace, against the oracle.

    A job of each length is submitted at every step after a 7-day warm-up whose
    latest possible end (submit + --within + length) lies in the trace. The advice
    starts it at the cleanest start within --within hours of the intensity at
    submit and the forecast made from the data up to then; the oracle, of the
    trace's own future. Each saving is against starting at once, on the trace's
    values, for a job drawing constant power.
    """
    try:
        trace = read_regular_trace(trace_file)
    except ConfigError as err:
        raise click.ClickException(escape_control(str(err))) from None
    step_s = trace.step_s
    lengths_s = [round(hours * 3600) for hours in job_hours]
    within_s = round(within * 3600)
    values = np.array([point.ci_g_per_kwh for point in trace.points])
    horizons = max(horizons_needed(step_s, job_s, within_s) for job_s in lengths_s)
    first_s = int(trace.points[0].time.timestamp())
    result = replay_advice(
        first_s, step_s, values, forecast_matrix(values, step_s, horizons), lengths_s, within_s
    )
    for hours, job_s in zip(job_hours, lengths_s, strict=True):
        if not result.figures[job_s].jobs:
            raise click.ClickException(
                f"{escape_control(trace_file.name)}: no job of {hours:g} h fits: the trace"
                f" must hold {WARMUP_S // 86_400} days of warm-up, then the job's"
                f" {within:g} h of delay and its length"
            )
    if decisions_path is not None:
        _write_decisions(decisions_path, result.decisions)
    report = {
        f"{hours:g}h": {
            **{key: round(getattr(result.figures[job_s], key), 4) for key in _FIGURES},
            "jobs": result.figures[job_s].jobs,
        }
        for hours, job_s in zip(job_hours, lengths_s, strict=True)
    }
    click.echo(json.dumps(report) if as_json else _table(report, trace_file.name, within, result))


def _write_decisions(path: Path, decisions: list[AdviceDecision]) -> None:
    write_rows(
        path,
        DECISION_COLUMNS,
        ([iso_time(d.submit_s), f"{d.job_s / 3600:g}", iso_time(d.start_s)] for d in decisions),
    )


def _table(report: dict[str, Any], trace: str, within: float, result: AdviceReplay) -> str:
    lines = [
        escape_control(
            f"advice on {trace}: a job submitted at every step after a"
            f" {WARMUP_S // 86_400}-day warm-up may start up to {within:g} h later;"
            f" forecast {DEFAULT_METHOD}; {len(result.decisions)} decisions"
        ),
        f"{'job':<8}{'jobs':>7}{'advice':>10}{'oracle':>10}{'advice/oracle':>15}",
    ]
    for name, row in report.items():
        advice, oracle = row["advice_saving_pct"], row["oracle_saving_pct"]
        share = f"{100 * advice / oracle:.0f} %" if oracle > 0 else "-"
        lines.append(f"{name:<8}{row['jobs']:>7}{advice:>8.1f} %{oracle:>8.1f} %{share:>15}")
    lines.append(
        "advice/oracle: savings against starting at once, CI a step function, constant power."
    )
    return "\n".join(lines)
