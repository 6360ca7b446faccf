"""``slurm-carbon demo``: submit a GPU job, follow it, store it and read it back."""

from __future__ import annotations

import time

import click

from slurm_carbon.cli.db import url_option
from slurm_carbon.errors import SlurmCarbonError
from slurm_carbon.slurm import CommandLineSlurm, JobQuery, SlurmJob
from slurm_carbon.store import (
    get_or_create_cluster,
    make_engine,
    session_factory,
    sqlite_file,
    upgrade,
    upsert_job,
)

__all__ = ["demo"]

_POLL_S = 0.5


@click.command()
@url_option
@click.option("--gpus", default=2, show_default=True, help="GPUs the demo job asks for.")
@click.option(
    "--timeout", "timeout_s", default=120.0, show_default=True, help="Seconds to wait for the job."
)
def demo(url: str, gpus: int, timeout_s: float) -> None:
    """Submit a GPU job to Slurm, follow it, store it and show it read back.

    Needs a running Slurm cluster (scripts/demo starts a private one).
    """
    try:
        _run(url, gpus, timeout_s)
    except SlurmCarbonError as err:
        raise click.ClickException(str(err)) from err


def _run(url: str, gpus: int, timeout_s: float) -> None:
    path = sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    upgrade(url)
    slurm = CommandLineSlurm()
    job_id = slurm.submit(
        [
            f"--gres=gpu:{gpus}",
            "--job-name=slurm-carbon-demo",
            "--output=/dev/null",
            "--comment=carbon_budget=5kg",
            "--wrap=sleep 3",
        ]
    )
    click.echo(f"submitted job {job_id} asking for {gpus} GPUs")
    job = _follow(slurm, job_id, timeout_s)

    engine = make_engine(url)
    try:
        with session_factory(engine).begin() as session:
            cluster = get_or_create_cluster(session, job.cluster)
            stored = upsert_job(
                session,
                cluster.id,
                job.job_id_raw,
                array_job_id=job.array_job_id,
                array_task_id=job.array_task_id,
                name=job.name,
                user_name=job.user,
                account=job.account,
                partition=job.partition,
                submit_time=job.submit_time,
                start_time=job.start_time,
                end_time=job.end_time,
                state=job.state,
                requested_gpus=job.req_gpus,
                comment=job.comment,
            )
            click.echo(f"stored in {url.split('://', 1)[0]} as job row {stored.id}")
    finally:
        engine.dispose()
    _show(job)


def _follow(slurm: CommandLineSlurm, job_id: str, timeout_s: float) -> SlurmJob:
    """Poll sacct until the job is finished, printing each new state."""
    deadline = time.monotonic() + timeout_s
    seen = ""
    while True:
        found = slurm.jobs(JobQuery(job_ids=[job_id]))
        if found and found[0].state != seen:
            seen = found[0].state
            click.echo(f"  job {job_id}: {seen}")
        if found and found[0].finished:
            return found[0]
        if time.monotonic() > deadline:
            raise SlurmCarbonError(f"job {job_id} not finished after {timeout_s:g} s")
        time.sleep(_POLL_S)


def _show(job: SlurmJob) -> None:
    click.echo("read back from Slurm's accounting (sacct):")
    rows = {
        "cluster": job.cluster,
        "job id": job.job_id,
        "name": job.name,
        "user": f"{job.user} (uid {job.uid})",
        "account / partition": f"{job.account} / {job.partition}",
        "state / exit code": f"{job.state} / {job.exit_code}",
        "GPUs requested / allocated": f"{job.req_gpus} / {job.alloc_gpus}",
        "node": job.node_list,
        "start": job.start_time.isoformat() if job.start_time else "-",
        "end": job.end_time.isoformat() if job.end_time else "-",
        "elapsed": f"{job.elapsed_s} s",
        "comment": job.comment,
    }
    width = max(map(len, rows))
    for key, value in rows.items():
        click.echo(f"  {key:<{width}}  {value}")
