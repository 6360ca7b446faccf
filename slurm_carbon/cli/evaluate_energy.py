"""``slurm-carbon evaluate job-energy``: remaining-energy forecasts replayed on a power profile."""

from __future__ import annotations

import json
import math
from pathlib import Path

import click

from slurm_carbon.cli.evaluate_inputs import profile_options
from slurm_carbon.errors import ConfigError
from slurm_carbon.forecast.energy_eval import (
    CHECKPOINTS,
    SCENARIOS,
    checkpoint_name,
    evaluate_job_energy,
)
from slurm_carbon.sensors.profiles import load_profile

__all__ = ["MAX_JOBS", "job_energy"]

#: Most simulated jobs per scenario (each takes about 2 ms per checkpoint).
MAX_JOBS = 10_000


@click.command("job-energy")
@profile_options
@click.option(
    "--jobs",
    type=click.IntRange(1, MAX_JOBS),
    default=200,
    show_default=True,
    help="Simulated jobs per scenario.",
)
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def job_energy(profile_path: str, workload: str, jobs: int, seed: int, as_json: bool) -> None:
    """Remaining-energy MAPE of our forecast and Carbontracker's, with and without cap changes."""
    try:
        profile = load_profile(Path(profile_path), workload)
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
