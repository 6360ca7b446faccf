"""``slurm-carbon demo``: the whole story on a running Slurm cluster and the embedded defaults.

It stores a carbon-intensity series (a trace replayed as if live, or one
synthesised from the region's annual mean, labelled synthetic), creates four
simulated GPUs, starts the service, a node agent and the writer (with a site
file whose budget policy is ``cancel``) as child processes, submits a GPU job
with a carbon budget it stays within, a CPU-only job, a GPU array job and a GPU
job with a far too small energy budget, with sbatch. While the first runs, it
prints its forecast (``slurm-carbon report -j``) once it has reported 20 % of its
work; the last is cancelled by the writer once its forecast is confident. It
waits for their AdminComments, and prints ``slurm-carbon report`` and
``sacct -o JobID,AdminComment``. The children are always stopped at the end.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from slurm_carbon.accounting.admin_comment import our_part
from slurm_carbon.cli.db import url_option
from slurm_carbon.cli.intensity import read_trace_file, trace_columns, trace_options
from slurm_carbon.cli.params import FiniteRange, Name
from slurm_carbon.cli.supervisor import SLURM_CARBON, child, free_port, wait_healthy
from slurm_carbon.errors import ConfigError, SlurmCarbonError
from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.intensity.embedded import EmbeddedAnnual
from slurm_carbon.intensity.replay import replay_shift, replayed, synthetic_daily
from slurm_carbon.intensity.trace import TraceColumns
from slurm_carbon.service.fallback import annual_fallbacks
from slurm_carbon.slurm import CommandLineSlurm, JobQuery, SlurmJob, SubprocessRunner
from slurm_carbon.store import (
    issue_token,
    make_engine,
    session_factory,
    sqlite_file,
    transaction,
    upgrade,
)
from slurm_carbon.store.intensity import save_points
from slurm_carbon.store.progress import job_progress
from slurm_carbon.store.reports import ReportQuery, iter_jobs
from slurm_carbon.store.results import find_job
from slurm_carbon.text import escape_control
from slurm_carbon.vocabulary import CiSignal

__all__ = ["demo"]

_POLL_S = 1.0
# The first job's forecast is shown once it has reported this much of its work.
_SHOW_FORECAST_AT = 0.2
# The CPU estimate needs a TDP; the demo assumes one rather than guess the host's.
_DEMO_TDP_W = 100.0


@click.command()
@url_option
@click.option(
    "--work-dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Where the simulated GPUs, the agent's state and the logs go.",
)
@click.option(
    "--spool",
    envvar="SLURM_CARBON_SPOOL",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="The cluster's hand-off spool, where its shims write [env: SLURM_CARBON_SPOOL].",
)
@click.option(
    "--region", default="SE", show_default=True, type=Name(), help="Region of the cluster."
)
@click.option(
    "--trace",
    type=click.Path(path_type=Path),
    default=None,
    help="Carbon-intensity trace of --region (any format `intensity import` reads), replayed"
    " as if live (default: a synthetic day around the region's annual mean).",
)
@trace_options
@click.option("--pue", default=1.2, show_default=True, type=FiniteRange(min=1.0))
@click.option(
    "--timeout",
    "timeout_s",
    default=300.0,
    show_default=True,
    type=FiniteRange(min=0, min_open=True),
    help="Seconds to wait for jobs.",
)
def demo(  # noqa: PLR0913, PLR0917 - one parameter per option, as click passes them
    url: str,
    work_dir: Path,
    spool: Path,
    region: str,
    trace: Path | None,
    time_column: str | None,
    value_column: str | None,
    unit: str | None,
    tz: ZoneInfo | None,
    pue: float,
    timeout_s: float,
) -> None:
    """Run GPU, CPU and array jobs and show their measured carbon, in Slurm and in reports.

    Needs a running Slurm cluster whose hooks hand jobs to --spool
    (scripts/demo starts a private one).
    """
    try:
        _run(
            url=url,
            work_dir=work_dir,
            spool=spool,
            region=region,
            trace=trace,
            columns=trace_columns(time_column, value_column, unit, tz),
            pue=pue,
            timeout_s=timeout_s,
        )
    except SlurmCarbonError as err:
        raise click.ClickException(str(err)) from err


def _run(  # noqa: PLR0913 - the options, passed on
    *,
    url: str,
    work_dir: Path,
    spool: Path,
    region: str,
    trace: Path | None,
    columns: TraceColumns,
    pue: float,
    timeout_s: float,
) -> None:
    now = datetime.now(UTC)
    points, label = _intensity(region, trace, columns, now)
    work_dir.mkdir(parents=True, exist_ok=True)
    path = sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    slurm = CommandLineSlurm(SubprocessRunner(env=os.environ))
    cluster = slurm.cluster_name()
    node = socket.gethostname().split(".")[0]
    token = _store(url, points, cluster, node)
    click.echo(f"carbon intensity of {region}: {label}")
    site = work_dir / "site.toml"
    site.write_text(_SITE.format(cluster=cluster, region=region, pue=pue))
    _reset_spool(spool)
    # The agent's spool of an earlier run may hold intervals of that run's last jobs: they
    # would be shipped into this run's database and reported as this run's.
    shutil.rmtree(work_dir / "agent", ignore_errors=True)
    sim_dir = work_dir / "sim"
    _self("sim", "init", "--dir", str(sim_dir), "--gpus", "4")
    token_file = work_dir / "token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)

    port = free_port()
    service_url = f"http://127.0.0.1:{port}"
    with ExitStack() as children:
        service = children.enter_context(
            _child(work_dir / "service.log", "service", "--url", url, "--port", str(port))
        )
        wait_healthy(service_url, service)
        children.enter_context(
            _child(
                work_dir / "agent.log",
                *("agent", "run", "--spool", str(spool), "--state", str(work_dir / "agent")),
                *("--socket", str(work_dir / "agent.sock")),
                *("--service-url", service_url, "--token-file", str(token_file)),
                *("--cluster", cluster, "--node", node, "--gpu-backend", "sim"),
                *("--sim-dir", str(sim_dir), "--sample-s", "0.5", "--interval-s", "10"),
                *("--tdp-w", str(_DEMO_TDP_W)),
            )
        )
        children.enter_context(
            _child(
                work_dir / "writer.log",
                *("writer", "--url", url, "--spool", str(spool), "--config", str(site)),
                *("--poll-s", "1", "--sweep-s", "2", "--settle-delay-s", "3"),
            )
        )
        time.sleep(2)  # the agent reads the GPUs once before the first job starts
        jobs = _submit(slurm, sim_dir)
        _wait_progress(url, cluster, jobs[0], timeout_s)
        _show(["report", "--url", url, "--config", str(site), "-j", jobs[0]])
        finished = _wait(slurm, jobs, timeout_s)
        click.echo("waiting for the writer to put each job's CO2e into Slurm ...")
        _wait_comments(slurm, jobs, timeout_s)
    started = min(job.submit_time for job in finished) - timedelta(minutes=1)
    _say_fallbacks(url, started)
    click.echo(f"\nCPU energy is estimated from an assumed {_DEMO_TDP_W:g} W TDP.")
    click.echo(f"Carbon intensity: {label}; PUE {pue:g}.\n")
    report = ["report", "--url", url, "--config", str(site)]
    _show([*report, "-S", started.strftime("%Y-%m-%dT%H:%M:%S")])
    _show([*report, "-j", jobs[0]])
    _show([*report, "-j", jobs[3]])
    ids = ",".join(jobs)
    click.echo(f"$ sacct -X -j {ids} -o JobID,JobName,State,AdminComment%90")
    click.echo(
        subprocess.run(
            ["sacct", "-X", "-j", ids, "-o", "JobID,JobName,State,AdminComment%90"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
    )


_SITE = """# slurm-carbon demo site file (written by `slurm-carbon demo`)
cluster = "{cluster}"
[regions]
default = "{region}"
[pue]
default = {pue}
[budgets]
# A job whose forecast total exceeds its budget is cancelled once it reported 10 %.
action = "cancel"
min_progress = 0.1
"""


def _store(url: str, points: Sequence[CiPoint], cluster: str, node: str) -> str:
    """Upgrade the database, store the series; return a new token for the node."""
    upgrade(url)
    engine = make_engine(url)
    try:
        factory = session_factory(engine)
        save_points(factory, points)
        with transaction(factory) as session:
            return issue_token(session, cluster, node)
    finally:
        engine.dispose()


def _intensity(
    region: str, trace: Path | None, columns: TraceColumns, now: datetime
) -> tuple[list[CiPoint], str]:
    """The series to store, and how to describe it."""
    if trace is not None:
        read = read_trace_file(
            trace, region=region, source=trace.name, signal=CiSignal.AVERAGE, columns=columns
        )
        try:
            shift = replay_shift(read.points, now)
        except ConfigError as err:
            raise ConfigError(f"{trace}: {err}") from None
        today = (now - shift).strftime("%a %Y-%m-%d %H:%M UTC")
        return replayed(read.points, shift, trace.name), (
            f"trace {escape_control(trace.name)}, replayed as if live"
            f" (its {today} is now; shifted {shift.days // 7} weeks)"
        )
    annual = EmbeddedAnnual().figure(region)
    start = now - timedelta(days=2)
    points = synthetic_daily(region, annual.ci_g_per_kwh, start, hours=4 * 24)
    return points, (
        f"SYNTHETIC daily cycle around the annual mean {annual.ci_g_per_kwh:.0f} g/kWh "
        f"({annual.year}; {annual.attribution})"
    )


def _say_fallbacks(url: str, started: datetime) -> None:
    """Say loudly which jobs got the yearly mean although the series stored was meant for them."""
    engine = make_engine(url)
    try:
        with transaction(session_factory(engine)) as session:
            notes = annual_fallbacks(session, iter_jobs(session, ReportQuery(start=started)))
    finally:
        engine.dispose()
    for note in notes:
        click.echo(f"WARNING: {note}")


def _reset_spool(spool: Path) -> None:
    """Drop hand-offs of jobs that ran before the demo: no agent saw them."""
    for folder in ("jobs", "ended"):
        for stale in (spool / folder).glob("*"):
            stale.unlink(missing_ok=True)


def _submit(slurm: CommandLineSlurm, sim_dir: Path) -> list[str]:
    work = f"{sys.executable} -m slurm_carbon sim work --dir {sim_dir} --tick 0.05"
    common = ["--output=/dev/null"]
    jobs = [
        slurm.submit(
            [*common, "--gres=gpu:2", "--job-name=train|resnet50", "--comment=carbon_budget=5kg"]
            + [f"--wrap={work} --units 40"]
        ),
        slurm.submit(
            [*common, "--job-name=preprocess"]
            + ["--wrap=timeout 15 sh -c 'while :; do :; done'; exit 0"]
        ),
        slurm.submit(
            [*common, "--gres=gpu:1", "--array=0-2", "--job-name=sweep"]
            + [f"--wrap={work} --units 15"]
        ),
        slurm.submit(
            [*common, "--gres=gpu:1", "--job-name=greedy", "--comment=energy_budget=1Wh"]
            + [f"--wrap={work} --units 60"]
        ),
    ]
    click.echo(
        f"submitted: GPU job {jobs[0]} (carbon_budget=5kg), CPU job {jobs[1]}, GPU array job"
        f" {jobs[2]}, GPU job {jobs[3]} (energy_budget=1Wh, far below what it will use)"
    )
    return jobs


def _wait_progress(url: str, cluster: str, job_id: str, timeout_s: float) -> None:
    """Until the job has reported :data:`_SHOW_FORECAST_AT` of its work (stored)."""
    engine = make_engine(url)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            with transaction(session_factory(engine)) as session:
                stored = find_job(session, cluster, int(job_id))
                reported = [] if stored is None else job_progress(session, stored.id)
            if reported and reported[-1].fraction >= _SHOW_FORECAST_AT:
                click.echo(f"job {job_id} reported {reported[-1].fraction:.0%} of its work:")
                return
            if time.monotonic() > deadline:
                raise SlurmCarbonError(f"job {job_id}: no progress stored after {timeout_s:g} s")
            time.sleep(_POLL_S)
    finally:
        engine.dispose()


def _wait(slurm: CommandLineSlurm, jobs: Sequence[str], timeout_s: float) -> list[SlurmJob]:
    deadline = time.monotonic() + timeout_s
    last = ""
    while True:
        found = slurm.jobs(JobQuery(job_ids=list(jobs)))
        states = ", ".join(f"{job.job_id} {job.state}" for job in found)
        if states != last:
            click.echo(f"  {states}")
            last = states
        if len(found) >= len(jobs) + 2 and all(job.finished for job in found):
            return found
        if time.monotonic() > deadline:
            raise SlurmCarbonError(f"jobs not finished after {timeout_s:g} s: {states}")
        time.sleep(_POLL_S)


def _wait_comments(slurm: CommandLineSlurm, jobs: Sequence[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        found = slurm.jobs(JobQuery(job_ids=list(jobs)))
        missing = [job.job_id for job in found if not _has_final_value(job.admin_comment)]
        if not missing:
            return
        if time.monotonic() > deadline:
            raise SlurmCarbonError(f"no AdminComment after {timeout_s:g} s for {missing}")
        time.sleep(_POLL_S)


def _has_final_value(comment: str) -> bool:
    """Our part is in the comment, and not a running job's live value (``;live=1``)."""
    ours = our_part(comment)
    return ours is not None and not ours.endswith(";live=1")


def _self(*args: str) -> None:
    result = subprocess.run([*SLURM_CARBON, *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SlurmCarbonError(f"slurm-carbon {args[0]}: {result.stderr.strip()}")


def _show(args: Sequence[str]) -> None:
    click.echo(f"$ slurm-carbon {' '.join(args)}")
    result = subprocess.run([*SLURM_CARBON, *args], capture_output=True, text=True, check=False)
    click.echo(result.stdout + result.stderr)


def _child(log: Path, *args: str) -> AbstractContextManager[subprocess.Popen[bytes]]:
    """A ``slurm-carbon`` child logging to ``log`` (160 columns), stopped when the demo ends."""
    return child(log, *args, env={**os.environ, "COLUMNS": "160"}, stop_timeout_s=30)
