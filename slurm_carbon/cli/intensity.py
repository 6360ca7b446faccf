"""``slurm-carbon intensity``: import traces, show stored series and annual figures."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from slurm_carbon.cli.db import url_option
from slurm_carbon.cli.service import require_head
from slurm_carbon.errors import ConfigError, IntensityUnavailable, StoreError
from slurm_carbon.intensity.embedded import EmbeddedAnnual
from slurm_carbon.intensity.trace import Trace, TraceColumns, count_rows, parse_time, read_trace
from slurm_carbon.store import make_engine, redact_url, session_factory, transaction
from slurm_carbon.store.intensity import ci_summary, save_points
from slurm_carbon.text import escape_control
from slurm_carbon.vocabulary import CiSignal

__all__ = ["intensity", "read_trace_file", "trace_columns", "trace_options"]

_F = TypeVar("_F", bound=Callable[..., Any])

# Files with more rows than this get a progress bar (on stderr).
PROGRESS_MIN_ROWS = 5000


def _time(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError as err:
        raise click.BadParameter(str(err)) from err


def _zone(_ctx: click.Context, _param: click.Parameter, value: str | None) -> ZoneInfo | None:
    if value is None:
        return None
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise click.BadParameter(f"unknown time zone {value!r}") from err


def trace_options(function: _F) -> _F:
    """``--time-column/--value-column/--unit/--tz``: how to read a trace in another layout."""
    options = [
        click.option(
            "--time-column",
            help="The trace's time column, if not a known one (ISO 8601 or epoch seconds).",
        ),
        click.option(
            "--value-column",
            help="The trace's carbon-intensity column, if not a known one (or to choose,"
            " e.g. 'Carbon Intensity gCO2eq/kWh (LCA)' or 'forecast').",
        ),
        click.option(
            "--unit",
            type=click.Choice(["g/kWh", "kg/MWh", "lb/MWh"], case_sensitive=False),
            help="Unit of --value-column [the known column's, else g/kWh].",
        ),
        click.option(
            "--tz",
            callback=_zone,
            help="Time zone of times written without an offset, e.g. Europe/Berlin [UTC].",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def trace_columns(
    time_column: str | None, value_column: str | None, unit: str | None, tz: ZoneInfo | None
) -> TraceColumns:
    """The :func:`trace_options` values as the reader takes them."""
    return TraceColumns(time_column=time_column, value_column=value_column, unit=unit, tz=tz)


def read_trace_file(
    file: Path, *, region: str, source: str, signal: CiSignal, columns: TraceColumns
) -> Trace:
    """Read a trace, with a progress bar for a long one; say on stderr which columns were used.

    Raises:
        ConfigError: as :func:`~slurm_carbon.intensity.trace.read_trace`.
    """
    rows = count_rows(file)
    if rows >= PROGRESS_MIN_ROWS:
        bar = click.progressbar(length=rows, label=f"Reading {file.name}", file=sys.stderr)
        with bar:
            trace = read_trace(
                file,
                region=region,
                source=source,
                signal=signal,
                columns=columns,
                on_row=lambda: bar.update(1),
            )
    else:
        trace = read_trace(file, region=region, source=source, signal=signal, columns=columns)
    click.echo(f"{escape_control(file.name)}: {trace.columns.describe()}", err=True)
    return trace


@click.group()
def intensity() -> None:
    """Carbon intensity of electricity: traces, stored series, annual defaults."""


@intensity.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--region", required=True, help="Region the trace is for, e.g. SE, CISO, DE.")
@click.option("--source", default="trace", show_default=True, help="Source name to store.")
@click.option(
    "--signal",
    type=click.Choice([signal.value for signal in CiSignal]),
    default=CiSignal.AVERAGE.value,
    show_default=True,
    help="Average (grid mix) or marginal intensity.",
)
@trace_options
@url_option
def import_command(  # noqa: PLR0913, PLR0917 (click passes one parameter per option)
    file: Path,
    region: str,
    source: str,
    signal: str,
    time_column: str | None,
    value_column: str | None,
    unit: str | None,
    tz: ZoneInfo | None,
    url: str,
) -> None:
    """Store a trace's points as actual figures (re-importing adds nothing).

    \b
    Read as its sources write it (columns found by name, case and spaces ignored):
      ours: time, ci_g_per_kwh (or datetime_utc, carbon_intensity_gco2_per_kwh)
      Time,Carbon Intensity (naive times are UTC unless --tz)
      Electricity Maps: Datetime (UTC), Carbon Intensity gCO2eq/kWh (direct), else (LCA)
      UK Carbon Intensity API JSON: from, actual (else forecast); national or one region
      WattTime historical: point_time, value (lb/MWh, converted to g/kWh)

    CSV (UTF-8, or UTF-16 with a BOM), Parquet or JSON, at most 64 MiB and 600,000
    rows. Which columns and unit were used is said on stderr.
    """  # noqa: D301 (click's \b keeps the list's lines as written)
    if len(source) > 64 or len(region) > 64:
        raise click.BadParameter("at most 64 characters", param_hint="--source/--region")
    require_head(url)
    try:
        trace = read_trace_file(
            file,
            region=region,
            source=source,
            signal=CiSignal(signal),
            columns=trace_columns(time_column, value_column, unit, tz),
        )
        engine = make_engine(url)
        try:
            new = save_points(session_factory(engine), trace.points)
        finally:
            engine.dispose()
    except (ConfigError, StoreError) as err:
        raise click.ClickException(str(err)) from err
    points = trace.points
    click.echo(
        f"{escape_control(file.name)}: {len(points)} rows, {points[0].time.isoformat()} to"
        f" {points[-1].time.isoformat()}, step {trace.step_s} s; {new} new,"
        f" {len(points) - new} already stored ({region}, source {source}, {signal})"
        f" in {redact_url(url)}"
    )


@intensity.command("show")
@click.option("--region", required=True, help="Region, e.g. SE, GB, DE.")
@click.option("--start", callback=_time, help="From this time (ISO 8601 or epoch; UTC if bare).")
@click.option("--end", callback=_time, help="Until this time (exclusive).")
@url_option
def show_command(region: str, start: datetime | None, end: datetime | None, url: str) -> None:
    """Summarise the stored series of a region, and its embedded annual figure."""
    require_head(url)
    engine = make_engine(url)
    try:
        with transaction(session_factory(engine)) as session:
            series = ci_summary(session, region, start, end)
    except StoreError as err:
        raise click.ClickException(str(err)) from err
    finally:
        engine.dispose()
    if not series:
        click.echo(f"{region}: nothing stored in that range")
    for item in series:
        click.echo(
            f"{region} {item.source} {item.kind.value} {item.signal.value}: {item.count} points,"
            f" {item.first.isoformat()} to {item.last.isoformat()};"
            f" mean {item.mean_g_per_kwh:.2f}, min {item.min_g_per_kwh:.2f},"
            f" max {item.max_g_per_kwh:.2f} gCO2e/kWh"
        )
    _echo_annual(region)


@intensity.command("annual")
@click.argument("region")
def annual_command(region: str) -> None:
    """Show the embedded annual figure of a region (country code, US-XX, SE3)."""
    if not _echo_annual(region):
        raise click.ClickException(f"no embedded annual carbon intensity for region {region!r}")


def _echo_annual(region: str) -> bool:
    try:
        figure = EmbeddedAnnual().figure(region)
    except IntensityUnavailable:
        return False
    click.echo(
        f"{region} annual ({figure.name}, {figure.year}): {figure.ci_g_per_kwh:.2f} gCO2e/kWh"
        f" [source: {figure.attribution}]"
    )
    return True
