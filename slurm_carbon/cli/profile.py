"""``slurm-carbon profile``: import a GPU power profile for a kind of job, list the stored ones."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from slurm_carbon.cli.db import url_option
from slurm_carbon.cli.params import workload_options
from slurm_carbon.cli.service import require_head
from slurm_carbon.control.profiling import MAX_WORKLOAD_KEY_CHARS
from slurm_carbon.errors import ConfigError, StoreError
from slurm_carbon.sensors.profiles import ProfilePoint, load_profile
from slurm_carbon.store import (
    StoredProfile,
    make_engine,
    redact_url,
    save_profile,
    session_factory,
    stored_profiles,
    transaction,
)
from slurm_carbon.text import escape_control
from slurm_carbon.vocabulary import PROFILE_IMPORTED

__all__ = ["MAX_GPU_MODEL_CHARS", "MAX_PROFILE_POINTS", "profile"]

MAX_GPU_MODEL_CHARS = 128
"""The longest GPU model name (the store's column; NVML's names are under 96 characters)."""

MAX_PROFILE_POINTS = 1000
"""The most limits one profile holds: a GPU's allowed range is at most a few hundred watts,
so even 1 W steps stay under it; Zeus's profiles have 7 to 13."""


def _name(value: str, option: str, longest: int) -> None:
    if not value or not value.isprintable() or len(value) > longest:
        raise click.BadParameter(
            f"{escape_control(value)!r}: 1 to {longest} printable characters", param_hint=option
        )


@click.group()
def profile() -> None:
    """GPU power profiles per GPU model and kind of job (learned online, or imported)."""


@profile.command("import")
@click.argument("file", type=str)  # load_profile refuses what is not a regular file
@click.option("--gpu-model", required=True, help="The GPU model, as NVML names it.")
@click.option(
    "--key",
    required=True,
    help="The kind of job: its name, or its comment's carbon_profile=NAME.",
)
@workload_options
@url_option
def import_command(file: str, gpu_model: str, key: str, workload: str, url: str) -> None:
    """Store a profile for a GPU model and a kind of job, replacing the one stored.

    FILE is our CSV (power_limit_w,throughput,power_w) or Zeus's
    summary_power_<gpu>.csv. Throughputs are stored relative to the highest
    limit's, as learned profiles are. At most 1000 limits.
    """
    _name(gpu_model, "--gpu-model", MAX_GPU_MODEL_CHARS)
    _name(key, "--key", MAX_WORKLOAD_KEY_CHARS)
    require_head(url)
    path = Path(file)
    try:
        loaded = load_profile(path, workload)
    except ConfigError as err:
        raise click.ClickException(escape_control(str(err))) from None
    if len(loaded.points) > MAX_PROFILE_POINTS:
        raise click.ClickException(
            f"{escape_control(path.name)}: {len(loaded.points):,} limits,"
            f" at most {MAX_PROFILE_POINTS:,}"
        )
    top = loaded.points[-1].throughput
    stored = StoredProfile(
        gpu_model=gpu_model,
        workload_key=key,
        source=f"{PROFILE_IMPORTED}:{escape_control(path.name)}",
        created_at=datetime.now(UTC),
        points=tuple(ProfilePoint(p.limit_w, p.power_w, p.throughput / top) for p in loaded.points),
    )
    engine = make_engine(url)
    try:
        with transaction(session_factory(engine)) as session:
            save_profile(session, stored)
    except StoreError as err:
        raise click.ClickException(str(err)) from err
    finally:
        engine.dispose()
    click.echo(
        f"{escape_control(path.name)} ({escape_control(loaded.name)}): {_describe(stored)},"
        f" stored for {escape_control(gpu_model)} / {escape_control(key)} in {redact_url(url)}"
    )


@profile.command("list")
@url_option
def list_command(url: str) -> None:
    """List the stored profiles: GPU model, kind of job, source, limits."""
    require_head(url)
    engine = make_engine(url)
    try:
        with transaction(session_factory(engine)) as session:
            found = stored_profiles(session)
    except StoreError as err:
        raise click.ClickException(str(err)) from err
    finally:
        engine.dispose()
    if not found:
        click.echo("no power profiles stored")
    for item in found:
        click.echo(
            f"{escape_control(item.gpu_model)} / {escape_control(item.workload_key)}:"
            f" {_describe(item)}; {escape_control(item.source)},"
            f" {item.created_at.isoformat(timespec='seconds')}"
        )


def _describe(item: StoredProfile) -> str:
    """E.g. ``7 limits 100-250 W, speed 0.52-1 of the highest limit's``."""
    speeds = [p.throughput for p in item.points]
    return (
        f"{len(item.points)} limits {item.points[0].limit_w:g}-{item.points[-1].limit_w:g} W,"
        f" speed {min(speeds):.3g}-{max(speeds):.3g} of the highest limit's"
    )
