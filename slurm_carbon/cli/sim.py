"""``slurm-carbon sim``: simulated GPUs for machines without one.

``sim init`` creates the devices, ``sim work`` is the workload a Slurm job
runs on them, ``sim status`` shows them. The state lives in one directory
shared by the agent (``--gpu-backend sim --sim-dir``) and the jobs.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from types import FrameType

import click

from slurm_carbon.cli.params import FiniteRange, workload_options
from slurm_carbon.errors import ConfigError, SensorError
from slurm_carbon.jobprogress import progress as report_progress
from slurm_carbon.sensors.profiles import PowerProfile, load_zeus_profile
from slurm_carbon.sensors.sim import SimBackend, init_devices, state_path
from slurm_carbon.sensors.workload import Progress, run_workload

__all__ = ["sim"]

PROGRESS_EVERY_S = 5.0
"""At most one progress line, and one progress record for the agent, this often: the
agent samples every second and the forecast needs a few points, not thousands. Units: seconds."""

SIM_GPUS_MAX = 64
"""Most simulated GPUs: a node holds 8 or 16; each is a file and a thread of work."""

UNITS_MAX = 1e6
"""Most work units (epochs) of one ``sim work``: about 11 days at the synthetic 1 s per unit."""

TICK_MAX_S = 60.0
"""Longest step of the simulated workload: longer and its power is a straight line. Units: s."""

dir_option = click.option(
    "--dir",
    "directory",
    envvar="SLURM_CARBON_SIM_DIR",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory of the simulated GPUs' state [env: SLURM_CARBON_SIM_DIR]",
)
profile_option = click.option(
    "--profile",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Zeus summary_power_<gpu>.csv; default: the synthetic profile (init) "
    "or each GPU's own (work).",
)


def _profile(path: Path | None, workload: str) -> PowerProfile | None:
    if path is None:
        return None
    try:
        return load_zeus_profile(path, workload)
    except ConfigError as err:
        raise click.ClickException(str(err)) from err


@click.group()
def sim() -> None:
    """Simulated GPUs: create them, run a workload on them, show them."""


@sim.command("init")
@dir_option
@click.option("--gpus", type=click.IntRange(1, SIM_GPUS_MAX), default=4, show_default=True)
@profile_option
@workload_options
def init_command(directory: Path, gpus: int, profile: Path | None, workload: str) -> None:
    """Create (or reset) simulated GPUs 0..N-1, idle, at their default limit."""
    chosen = _profile(profile, workload)
    try:
        init_devices(directory, gpus, chosen)
    except OSError as err:
        raise click.ClickException(f"cannot create {directory}: {err.strerror or err}") from err
    name = chosen.name if chosen is not None else "synthetic"
    click.echo(f"sim: {gpus} GPUs in {directory} (profile {name})")


def _gpus_from_environment() -> list[int]:
    for variable in ("SLURM_STEP_GPUS", "SLURM_JOB_GPUS", "CUDA_VISIBLE_DEVICES"):
        value = os.environ.get(variable, "").strip()
        if value:
            return _parse_gpus(value, variable)
    raise click.ClickException(
        "no --gpus given and neither SLURM_JOB_GPUS nor CUDA_VISIBLE_DEVICES set"
    )


def _parse_gpus(value: str, where: str) -> list[int]:
    try:
        return [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise click.ClickException(
            f"{where}: expected minor numbers like 0,1, got {value!r}"
        ) from None


def _raise_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Unwind on SIGTERM (what scancel sends): GPUs go back to idle, the result is written."""
    raise SystemExit(128 + signum)


@sim.command("work")
@dir_option
@click.option("--gpus", "gpus_text", help="Minor numbers, e.g. 0,1 [default: $SLURM_JOB_GPUS]")
@click.option(
    "--units",
    type=FiniteRange(0, UNITS_MAX, min_open=True),
    required=True,
    help="Work to do (epochs for Zeus profiles).",
)
@profile_option
@workload_options
@click.option(
    "--tick", "tick_s", type=FiniteRange(0.001, TICK_MAX_S), default=0.1, show_default=True
)
@click.option("--result", "result_path", type=click.Path(dir_okay=False, path_type=Path))
def work_command(  # noqa: PLR0913, PLR0917 - click passes one argument per option
    directory: Path,
    gpus_text: str | None,
    units: float,
    profile: Path | None,
    workload: str,
    tick_s: float,
    result_path: Path | None,
) -> None:
    """Run UNITS of work on simulated GPUs, then print the ground truth.

    Inside a Slurm job it reports its progress (units done of UNITS) to the
    node agent, as slurm_carbon.progress does, every 5 s and at the end.
    """
    minors = _parse_gpus(gpus_text, "--gpus") if gpus_text else _gpus_from_environment()
    missing = [m for m in minors if not state_path(directory, m).is_file()]
    if missing or not minors:
        raise click.ClickException(f"no simulated GPU {missing or minors} under {directory}")
    chosen = _profile(profile, workload)
    last_print = [time.monotonic()]

    def show(progress: Progress) -> None:
        if time.monotonic() - last_print[0] < PROGRESS_EVERY_S:
            return
        last_print[0] = time.monotonic()
        limits = " ".join(f"{limit:g}" for limit in sorted(set(progress.limits_w.values())))
        click.echo(
            f"sim: {progress.units_done:.4g}/{progress.units_total:g} units, "
            f"{progress.elapsed_s:.1f} s, limit {limits} W"
        )
        report_progress(step=progress.units_done, total=progress.units_total)

    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    try:
        result = run_workload(
            directory,
            minors,
            units,
            chosen,
            tick_s=tick_s,
            progress=show,
            run_id=os.environ.get("SLURM_JOB_ID"),
            result_path=result_path,
        )
    except SensorError as err:
        raise click.ClickException(str(err)) from err
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    report_progress(step=result.units, total=result.units_total)
    energy = ", ".join(f"gpu{g.minor} {g.energy_j:.1f} J" for g in result.gpus)
    click.echo(
        f"sim: done {result.units:g} units in {result.duration_s:.1f} s; {energy}; "
        f"result {result.path}"
    )


@sim.command("status")
@dir_option
def status_command(directory: Path) -> None:
    """One line per simulated GPU: minor, uuid, limit, power, energy."""
    try:
        gpus = SimBackend(directory).gpus()
        lines = [
            f"{gpu.info.minor}  {gpu.info.uuid}  limit {gpu.power_limit_mw() / 1000:g} W  "
            f"power {gpu.power_mw() / 1000:.1f} W  energy {gpu.energy_mj() / 1000:.1f} J"
            for gpu in gpus
        ]
    except SensorError as err:
        raise click.ClickException(str(err)) from err
    click.echo("\n".join(lines))
