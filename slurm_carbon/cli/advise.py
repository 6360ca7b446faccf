"""``slurm-carbon advise``: when would this job be cleanest to start, and what would it save?

The job is described as sbatch takes it (``-t/--time``, ``-p/--partition``,
``--gres=gpu:N`` per node, ``-N/--nodes``, ``-J/--job-name`` for its stored profile) or
named by ``-j/--job`` when it is pending. Its partition's region's CI ahead (the series the
advice files carry: the best stored forecast, or the last actual value held, labelled)
gives the cleanest start within ``--within`` hours; the expected CO2e now and then is an
estimate (the profile's power at its highest limit, else the site's default per GPU
model, times GPUs and PUE). Exit codes: 0 advice printed; 1 bad input or an error; 3 no
advice (nothing stored for the region, or the series does not cover the job from now).
"""

from __future__ import annotations

import json
import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from slurm_carbon.cli.db import url_option
from slurm_carbon.cli.params import Name
from slurm_carbon.config import SiteConfig, load_config
from slurm_carbon.config.policies import MAX_ADVICE_WITHIN_H
from slurm_carbon.errors import ConfigError, SlurmError, StoreError
from slurm_carbon.forecast.advice import AdviceSeries, CleanestStart
from slurm_carbon.service.advise import (
    JobAdvice,
    JobShape,
    advise_job,
    defer_word,
    local_begin,
    pending_job_shape,
)
from slurm_carbon.slurm import CommandLineSlurm, SubprocessRunner
from slurm_carbon.slurm.times import parse_time_limit
from slurm_carbon.store import make_engine, session_factory
from slurm_carbon.text import escape_control, quote_input
from slurm_carbon.units import format_co2e

__all__ = ["NO_ADVICE_EXIT", "advise"]

#: Exit code when there is no advice to give (nothing stored, the job not covered).
NO_ADVICE_EXIT = 3
#: Most GPUs per node and nodes a job may name: beyond any node and cluster built.
MAX_GPUS_PER_NODE = 64
MAX_NODES = 100_000
_GRES = re.compile(r"gpu(?::[A-Za-z0-9_.-]{1,64})?:(\d{1,3})", re.ASCII)
_S_PER_H = 3600


def _gpus_per_node(gres: str | None) -> int:
    if gres is None:
        return 0
    match = _GRES.fullmatch(gres)
    if match is None or not 0 < int(match.group(1)) <= MAX_GPUS_PER_NODE:
        raise ConfigError(
            f"--gres {quote_input(gres)}: use gpu:N or gpu:TYPE:N (1 <= N <= {MAX_GPUS_PER_NODE})"
        )
    return int(match.group(1))


def _iso(epoch_s: int) -> str:
    return datetime.fromtimestamp(epoch_s, tz=UTC).isoformat()


def _series_words(series: AdviceSeries) -> str:
    if series.carried:
        return f"no forecast: the last actual value held (from {local_begin(series.issued)})"
    return f"forecast {series.source}, issued {local_begin(series.issued)}"


def _as_json(
    advice: JobAdvice, best: CleanestStart, shape: JobShape, now_s: int, hint_min_s: int
) -> dict[str, Any]:
    steps = advice.series.steps
    saves = best.start > now_s
    return {
        "region": advice.region,
        "partition": shape.partition,
        "series": {
            "source": advice.series.source,
            "carried": advice.series.carried,
            "issued": _iso(advice.series.issued),
            "step_s": steps.step_s,
            "start": _iso(steps.start),
            "end": _iso(steps.end),
        },
        "job": {"length_s": shape.length_s, "gpus": shape.gpus, "name": shape.name},
        "power": None
        if advice.power is None
        else {"power_w_per_gpu": advice.power.power_w, "basis": advice.power.basis},
        "pue": advice.pue,
        "now": {
            "start": _iso(now_s),
            "ci_g_per_kwh": best.mean_now,
            "co2e_g": advice.co2e_g(shape, best.mean_now),
        },
        "best": {
            "start": _iso(best.start),
            "ci_g_per_kwh": best.mean_best,
            "co2e_g": advice.co2e_g(shape, best.mean_best),
        },
        "saving_pct": best.saving_pct,
        "begin": f"--begin={local_begin(best.start)}" if saves else None,
        "comment": f"--comment {defer_word(best.start - now_s)}" if saves else None,
        "hint_min_s": hint_min_s,
        "estimate": True,
    }


def _co2e(value: float | None) -> str:
    return (
        "unknown (no GPUs, or no profile and no site default power)"
        if value is None
        else f"~{format_co2e(value)}"
    )


def _show(
    advice: JobAdvice, best: CleanestStart, shape: JobShape, now_s: int, hint_min_s: int
) -> None:
    table = Table(title="Submit-time advice (estimate)", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("Region", escape_control(advice.region))
    table.add_row("Series", escape_control(_series_words(advice.series)))
    hours = f"{shape.length_s / _S_PER_H:g} h"
    table.add_row(
        "Job", f"{hours}, {shape.gpus} GPU(s), partition {escape_control(shape.partition)}"
    )
    power = (
        "unknown"
        if advice.power is None
        else (
            f"{advice.power.power_w:g} W per GPU, {escape_control(advice.power.basis)};"
            f" PUE {advice.pue:g}"
        )
    )
    table.add_row("Power (estimate)", power)
    table.add_row(
        "Start now",
        f"{local_begin(now_s)}: {best.mean_now:.0f} g/kWh,"
        f" {_co2e(advice.co2e_g(shape, best.mean_now))}",
    )
    table.add_row(
        "Cleanest start",
        f"{local_begin(best.start)}: {best.mean_best:.0f} g/kWh,"
        f" {_co2e(advice.co2e_g(shape, best.mean_best))}",
    )
    table.add_row("Saving", f"{best.saving_pct:.0f} %")
    if best.start > now_s:
        table.add_row("sbatch", f"--begin={local_begin(best.start)}")
        table.add_row("or", f"--comment {defer_word(best.start - now_s)}")
    else:
        table.add_row("sbatch", "now is the cleanest start: nothing to add")
    if shape.length_s < hint_min_s:
        table.add_row(
            "Hint",
            f"no hint at sbatch for a job shorter than {hint_min_s // 60} min"
            " ([advice] hint_min_minutes)",
        )
    Console(width=None if sys.stdout.isatty() else 240, highlight=False).print(table)


def _shape(  # noqa: PLR0913, PLR0917 (the options describing the job)
    time_limit: str | None,
    partition: str | None,
    gres: str | None,
    nodes: int,
    job_name: str | None,
    job_id: int | None,
) -> JobShape:
    """The job from the options, or from Slurm with ``-j``."""
    if job_id is not None:
        if time_limit or partition or gres:
            raise ConfigError(
                "-j takes the job's own time limit, partition and GPUs: drop -t/-p/--gres"
            )
        return pending_job_shape(CommandLineSlurm(SubprocessRunner(env=os.environ)), str(job_id))
    if time_limit is None or partition is None:
        raise ConfigError("say which job: -t TIME and -p PARTITION, or -j JOBID")
    return JobShape(partition, parse_time_limit(time_limit), _gpus_per_node(gres) * nodes, job_name)


@click.command()
@click.option(
    "-t", "--time", "time_limit", help="Time limit as sbatch takes it (MM, HH:MM:SS, D-HH, ...)."
)
@click.option("-p", "--partition", type=Name(), help="Partition (needed without -j).")
@click.option("--gres", help="GPUs per node: gpu:N or gpu:TYPE:N.")
@click.option("-N", "--nodes", type=click.IntRange(1, MAX_NODES), default=1, show_default=True)
@click.option("-J", "--job-name", type=Name(), help="Job name: its stored power profile, if any.")
@click.option("-j", "--job", "job_id", type=click.IntRange(1, 2**32 - 1), help="A pending job.")
@click.option(
    "--within",
    type=click.IntRange(0, MAX_ADVICE_WITHIN_H),
    help="Hours the start may be delayed [site's [advice] within_h, 24].",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (schema in the README).")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="SLURM_CARBON_CONFIG",
    required=True,
    help="Site configuration: [regions], [pue], [advice] [env: SLURM_CARBON_CONFIG].",
)
@url_option
def advise(  # noqa: PLR0913, PLR0917 (click passes one parameter per option)
    time_limit: str | None,
    partition: str | None,
    gres: str | None,
    nodes: int,
    job_name: str | None,
    job_id: int | None,
    within: int | None,
    as_json: bool,
    config_path: Path,
    url: str,
) -> None:
    """The cleanest start of a job within the next hours, and the CO2e it would save.

    Exit 0: advice printed; 1: bad input or an error; 3: no advice (nothing stored
    for the partition's region, or the series does not cover the job from now).
    """
    now = datetime.now(UTC)
    try:
        config: SiteConfig = load_config(config_path)
        shape = _shape(time_limit, partition, gres, nodes, job_name, job_id)
        within_s = (config.advice.within_h if within is None else within) * _S_PER_H
        engine = make_engine(url)
        try:
            advice = advise_job(session_factory(engine), config, shape, now, within_s)
        finally:
            engine.dispose()
    except (ConfigError, SlurmError, StoreError) as err:
        raise click.ClickException(str(err)) from err
    now_s = int(now.timestamp())
    hint_min_s = config.advice.hint_min_minutes * 60
    region = config.region_for(shape.partition, None)
    if advice is None:
        click.echo(
            f"no advice: no carbon intensity is stored for region {escape_control(region)}",
            err=True,
        )
        sys.exit(NO_ADVICE_EXIT)
    if advice.best is None:
        click.echo(
            f"no advice: the series for region {escape_control(region)} ends"
            f" {local_begin(advice.series.steps.end)}, before a job of"
            f" {shape.length_s / _S_PER_H:g} h started now would end",
            err=True,
        )
        sys.exit(NO_ADVICE_EXIT)
    if as_json:
        click.echo(json.dumps(_as_json(advice, advice.best, shape, now_s, hint_min_s), indent=2))
    else:
        _show(advice, advice.best, shape, now_s, hint_min_s)
