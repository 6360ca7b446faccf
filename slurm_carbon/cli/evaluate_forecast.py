"""``slurm-carbon evaluate forecast``: the carbon-intensity forecasters scored on a trace.

Rolling origin: from every step after the warm-up, each method forecasts each
horizon from the values up to that step only, and is scored by MAPE against
the trace's value at the target (targets of zero are left out: a relative
error needs a base). With ``--stored --region R`` it scores instead the
forecasts the service stored for R, by source, against the stored actuals
(:func:`~slurm_carbon.service.ci_forecast.score_stored`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from slurm_carbon.cli.db import url_option
from slurm_carbon.cli.evaluate_inputs import (
    TRACE_HELP,
    duration_label,
    duration_s,
    read_regular_trace,
    regular_file,
)
from slurm_carbon.cli.params import Name
from slurm_carbon.cli.service import require_head
from slurm_carbon.errors import ConfigError, IntensityUnavailable, StoreError
from slurm_carbon.forecast import DEFAULT_METHOD, METHODS, backtest, history_steps
from slurm_carbon.forecast.intensity import ALLOWED_STEPS_S
from slurm_carbon.service.ci_forecast import SCORED_DAYS, score_stored
from slurm_carbon.store import make_engine, session_factory, transaction
from slurm_carbon.text import escape_control
from slurm_carbon.vocabulary import OWN_FORECAST_SOURCE

__all__ = ["ALLOWED_STEPS_S", "MAX_HORIZON_S", "forecast_command"]

#: The longest horizon scored: two days, the furthest any provider forecasts (UK fw48h).
MAX_HORIZON_S = 2 * 86_400
#: The longest warm-up: ten years, far beyond any trace this reads.
MAX_WARMUP_S = 3650 * 86_400
#: The most horizons in one run.
MAX_HORIZONS = 20


def _horizons(_ctx: click.Context, _param: click.Parameter, value: str) -> list[int]:
    words = value.split(",")
    if len(words) > MAX_HORIZONS:
        raise click.BadParameter(f"more than {MAX_HORIZONS} horizons")
    seconds: list[int] = []
    for word in words:
        given = duration_s(word)
        if given is None or not 0 < given <= MAX_HORIZON_S:
            raise click.BadParameter(
                f"{escape_control(word)!r} is not a horizon from 1m to"
                f" {duration_label(MAX_HORIZON_S)} (e.g. 30m, 1h, 24h)"
            )
        if given in seconds:
            raise click.BadParameter(f"horizon {escape_control(word)!r} is given twice")
        seconds.append(given)
    return seconds


def _warmup(_ctx: click.Context, _param: click.Parameter, value: str) -> int:
    given = duration_s(value)
    if given is None or given > MAX_WARMUP_S:
        raise click.BadParameter(f"{escape_control(value)!r} is not a duration such as 7d or 336h")
    return given


def _table(mape: dict[str, dict[str, float]], points: dict[str, int]) -> str:
    labels = list(points)
    width = max(len(method) for method in mape) + 2
    head = "method".ljust(width) + "".join(label.rjust(9) for label in labels)
    rows = [
        (method + (" *" if method == DEFAULT_METHOD else "")).ljust(width)
        + "".join(f"{scores[label]:8.2f}%" for label in labels)
        for method, scores in mape.items()
    ]
    count = "points".ljust(width) + "".join(f"{points[label]:9d}" for label in labels)
    return "\n".join(["MAPE by horizon (* the service's method)", head, *rows, count])


def _stored_table(
    mape: dict[str, dict[str, float | None]], points: dict[str, dict[str, int]]
) -> str:
    labels = list(next(iter(mape.values())))
    shown = {source: escape_control(source) for source in mape}  # names read from the store
    width = max(len(name) for name in shown.values()) + 2
    head = "source".ljust(width) + "".join(label.rjust(17) for label in labels)
    rows = [
        shown[source].ljust(width)
        + "".join(
            (f"{scores[label]:8.2f}%" if scores[label] is not None else "       -").rjust(9)
            + f" ({points[source][label]:5d})"
            for label in labels
        )
        for source, scores in mape.items()
    ]
    return "\n".join(["MAPE by horizon (points)", head, *rows])


def _stored(url: str, region: str, horizons: list[int], as_json: bool) -> None:
    require_head(url)
    engine = make_engine(url)
    try:
        with transaction(session_factory(engine)) as session:
            score = score_stored(session, region, horizons)
    except (IntensityUnavailable, StoreError) as err:
        raise click.ClickException(escape_control(str(err))) from None
    finally:
        engine.dispose()
    labels = {seconds: duration_label(seconds) for seconds in horizons}
    mape = {
        source: {labels[h]: None if m is None else round(m, 3) for h, m in scores.items()}
        for source, scores in score.mape.items()
    }
    points = {
        source: {labels[h]: n for h, n in counts.items()} for source, counts in score.points.items()
    }
    if as_json:
        default = f"{OWN_FORECAST_SOURCE}:{DEFAULT_METHOD}"
        json.dump({"default": default, "methods": mape, "points": points}, sys.stdout)
        click.echo()
    else:
        click.echo(
            escape_control(f"{region}: against the actuals of {score.actual_source}"), err=True
        )
        click.echo(_stored_table(mape, points))


@click.command("forecast")
@click.option(
    "--trace",
    "trace_file",
    callback=regular_file,
    help=TRACE_HELP,
)
@click.option(
    "--stored",
    is_flag=True,
    help="Score the forecasts stored for --region instead of a trace: each source, over the"
    f" last {SCORED_DAYS} days of stored actuals.",
)
@click.option("--region", type=Name(), help="The region whose stored forecasts --stored scores.")
@click.option(
    "--horizons",
    default="1h,6h,24h",
    show_default=True,
    callback=_horizons,
    help="Comma-separated horizons, e.g. 30m,1h,6h,24h (at most 48h).",
)
@click.option(
    "--warmup",
    default="7d",
    show_default=True,
    callback=_warmup,
    help="History before the first forecast of a trace (at least 7d: the methods need a week).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@url_option
def forecast_command(  # noqa: PLR0913, PLR0917 (click passes one parameter per option)
    trace_file: Path | None,
    stored: bool,
    region: str | None,
    horizons: list[int],
    warmup: int,
    as_json: bool,
    url: str,
) -> None:
    """Score the carbon-intensity forecasters by MAPE: on a trace, or as stored.

    --trace FILE: each method, with a rolling origin over the trace. --stored
    --region R: each source of stored forecasts of R (the providers' and ours,
    slurm_carbon:<method>) at each horizon (a point's time less its issue time,
    counted toward the nearest horizon within one step), against the stored
    actuals; its JSON gives points per source.
    """
    if trace_file is not None and not stored:
        if region is not None:
            raise click.ClickException("--region is only for --stored (a trace has one region)")
        _traced(trace_file, horizons, warmup, as_json)
    elif trace_file is not None or not stored:
        raise click.ClickException("give either --trace FILE or --stored --region R, not both")
    elif region is None:
        raise click.ClickException("--stored needs --region R")
    else:
        _stored(url, region, horizons, as_json)


def _traced(trace_file: Path, horizons: list[int], warmup: int, as_json: bool) -> None:
    try:
        trace = read_regular_trace(trace_file)
    except ConfigError as err:
        raise click.ClickException(escape_control(str(err))) from None
    step_s = trace.step_s
    if warmup % step_s or warmup < history_steps(step_s) * step_s:
        raise click.BadParameter(
            f"{duration_label(warmup)}: the warm-up must be at least 7d and a multiple of the"
            f" trace's step ({step_s} s)",
            param_hint="'--warmup'",
        )
    if not as_json:
        click.echo(f"{escape_control(trace_file.name)}: {trace.columns.describe()}", err=True)
    values = [point.ci_g_per_kwh for point in trace.points]
    mape: dict[str, dict[str, float]] = {method: {} for method in METHODS}
    points: dict[str, int] = {}
    for seconds in horizons:
        label = duration_label(seconds)
        if seconds % step_s:
            raise click.BadParameter(
                f"{label} is not a multiple of the trace's step ({step_s} s)",
                param_hint="'--horizons'",
            )
        if not as_json:
            click.echo(f"{escape_control(trace_file.name)}: forecasting {label} ahead", err=True)
        try:
            scored = backtest(values, step_s, seconds // step_s, warmup // step_s)
        except ValueError as err:
            raise click.ClickException(f"{escape_control(trace_file.name)}: {err}") from None
        for method, error in scored.mape().items():
            mape[method][label] = round(error, 3)
        points[label] = scored.points
    if as_json:
        json.dump({"default": DEFAULT_METHOD, "methods": mape, "points": points}, sys.stdout)
        click.echo()
    else:
        click.echo(_table(mape, points))
