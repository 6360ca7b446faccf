"""``slurm-carbon evaluate job-energy``: remaining-energy forecasts replayed on a power profile."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import click

from slurm_carbon.errors import ConfigError
from slurm_carbon.forecast.energy_eval import (
    CHECKPOINTS,
    SCENARIOS,
    checkpoint_name,
    evaluate_job_energy,
)
from slurm_carbon.sensors.profiles import PowerProfile, ProfilePoint, load_zeus_profile

__all__ = ["MAX_JOBS", "MAX_PROFILE_BYTES", "job_energy"]

#: Most simulated jobs per scenario (each takes about 2 ms per checkpoint).
MAX_JOBS = 10_000
#: Largest profile file read (Zeus's biggest summary is 40 kB). Units: bytes.
MAX_PROFILE_BYTES = 10_000_000
#: Header of the plain profile CSV.
PLAIN_COLUMNS = ("power_limit_w", "throughput", "power_w")


@click.command("job-energy")
@click.option(
    "--profile",
    "path",
    required=True,
    type=str,  # click.Path's stat raises on a NUL; _load refuses what is not a file
    help="power_limit_w,throughput,power_w CSV, or Zeus's summary_power_<gpu>.csv.",
)
@click.option(
    "--workload",
    default="imagenet/resnet50",
    show_default=True,
    help="Row selection in a Zeus file: dataset/network[/batch_size[/optimizer]].",
)
@click.option(
    "--jobs",
    type=click.IntRange(1, MAX_JOBS),
    default=200,
    show_default=True,
    help="Simulated jobs per scenario.",
)
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def job_energy(path: str, workload: str, jobs: int, seed: int, as_json: bool) -> None:
    """Remaining-energy MAPE of our forecast and Carbontracker's, with and without cap changes."""
    try:
        profile = _load(Path(path), workload)
    except ConfigError as err:
        raise click.ClickException(str(err)) from err
    result = evaluate_job_energy(profile, jobs=jobs, seed=seed)
    if as_json:
        click.echo(json.dumps({"profile": profile.name, "seed": seed, **result.to_dict()}))
        return
    names = [checkpoint_name(share) for share in CHECKPOINTS]
    click.echo(f"profile {profile.name}, {jobs} jobs per scenario, seed {seed}")
    click.echo(f"{'scenario':<14}{'method':<10}" + "".join(f"{n:>8}" for n in names))
    for scenario in SCENARIOS:
        for method, row in result.mape[scenario].items():
            cells = "".join(f"{row.get(n, math.nan):>8.2f}" for n in names)
            click.echo(f"{scenario:<14}{method:<10}{cells}")
        cells = "".join(f"{result.coverage[scenario].get(n, math.nan):>8.1f}" for n in names)
        click.echo(f"{scenario:<14}{'in 90% ':<10}{cells}")
    click.echo("MAPE of the remaining energy in percent after 10/25/50 % of the work.")


def _load(path: Path, workload: str) -> PowerProfile:
    """The plain CSV or a Zeus summary, by its header."""
    try:
        if not path.is_file():  # a FIFO would block the read
            raise ConfigError(f"{path}: not a regular file")
        if path.stat().st_size > MAX_PROFILE_BYTES:
            raise ConfigError(f"{path}: larger than {MAX_PROFILE_BYTES:,} bytes")
        with path.open(newline="") as stream:
            header = stream.readline().strip().split(",")
    except OSError as exc:
        raise ConfigError(f"cannot read power profile {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a power profile: {exc}") from exc
    if tuple(header) != PLAIN_COLUMNS:
        return load_zeus_profile(path, workload)
    try:
        return _plain(path)
    except OSError as exc:
        raise ConfigError(f"cannot read power profile {path}: {exc.strerror}") from exc
    except (csv.Error, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a power profile: {exc}") from exc


def _plain(path: Path) -> PowerProfile:
    points = []
    with path.open(newline="") as stream:
        for line, row in enumerate(csv.reader(stream), start=1):
            if line == 1:
                continue
            try:
                limit_w, throughput, power_w = (float(value) for value in row)
            except ValueError as exc:
                raise ConfigError(f"{path} line {line}: expected 3 numbers: {exc}") from exc
            if not all(math.isfinite(v) and v > 0 for v in (limit_w, throughput, power_w)):
                raise ConfigError(f"{path} line {line}: values must be finite and > 0")
            points.append(ProfilePoint(limit_w, power_w, throughput))
    points.sort(key=lambda p: p.limit_w)
    if not points:
        raise ConfigError(f"{path}: no profile rows")
    return PowerProfile(
        name=path.stem,
        model="Simulated GPU",
        points=tuple(points),
        idle_power_w=0.1 * points[-1].limit_w,
        source=path.name,
    )
