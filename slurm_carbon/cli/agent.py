"""``slurm-carbon agent``: run the node agent; ask it for a GPU power cap."""

from __future__ import annotations

import logging
import socket
import stat
from pathlib import Path

import click
import requests

from slurm_carbon.agent import Agent, AgentConfig
from slurm_carbon.agent.capsock import DEFAULT_SOCKET, request_cap
from slurm_carbon.agent.handoff import JOB_ID_MAX, CapRequest, check_gpu_name
from slurm_carbon.agent.metrics import METRICS_ADDR, PORT_MAX, AgentCollector, serve_metrics
from slurm_carbon.agent.shipper import Shipper
from slurm_carbon.cli.options import spool_option
from slurm_carbon.cli.params import FiniteRange, Name
from slurm_carbon.errors import ConfigError, SensorError
from slurm_carbon.jobprogress import DEFAULT_PROGRESS_DIR, PROGRESS_DIR_ENV
from slurm_carbon.sensors import factory
from slurm_carbon.sensors.estimate import CpuTimeReader
from slurm_carbon.sensors.factory import GPU_BACKENDS, GpuBackendName
from slurm_carbon.text import escape_control

__all__ = ["agent"]

DEFAULT_STATE = "/var/lib/slurm-carbon/agent"


def read_token(path: Path) -> str:
    """Read the node token from a file only its owner can read.

    Raises:
        click.ClickException: Unreadable, empty, or readable by group/others.
    """
    try:
        mode = path.stat().st_mode
        token = path.read_text(encoding="utf-8").strip()
    except OSError as err:
        raise click.ClickException(f"cannot read token file {path}: {err.strerror}") from err
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise click.ClickException(
            f"token file {path} is readable by others (mode {stat.S_IMODE(mode):o}): chmod 600 it"
        )
    if not token:
        raise click.ClickException(f"token file {path} is empty")
    return token


socket_option = click.option(
    "--socket",
    "socket_path",
    envvar="SLURM_CARBON_AGENT_SOCKET",
    default=DEFAULT_SOCKET,
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The agent's unix socket for set-cap (mode 666: the agent checks who asks) "
    "[env: SLURM_CARBON_AGENT_SOCKET]",
)


@click.group()
def agent() -> None:
    """The node agent: measure every job's energy on this node."""


@agent.command("run")
@spool_option
@socket_option
@click.option(
    "--state",
    envvar="SLURM_CARBON_STATE",
    default=DEFAULT_STATE,
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory of agent.db [env: SLURM_CARBON_STATE]",
)
@click.option(
    "--service-url",
    envvar="SLURM_CARBON_SERVICE_URL",
    required=True,
    help="The service, e.g. https://carbon.example.org [env: SLURM_CARBON_SERVICE_URL]",
)
@click.option(
    "--token-file",
    envvar="SLURM_CARBON_TOKEN_FILE",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="File holding this node's token, mode 600 [env: SLURM_CARBON_TOKEN_FILE]",
)
@click.option(
    "--cluster",
    envvar="SLURM_CARBON_CLUSTER",
    required=True,
    type=Name(),
    help="[env: SLURM_CARBON_CLUSTER]",
)
@click.option(
    "--node",
    envvar="SLURM_CARBON_NODE",
    default=None,
    type=Name(),
    help="This node's name (default: hostname -s) [env: SLURM_CARBON_NODE]",
)
@click.option(
    "--gpu-backend",
    envvar="SLURM_CARBON_GPU_BACKEND",
    type=click.Choice(GPU_BACKENDS),
    default="nvml",
    show_default=True,
    help="[env: SLURM_CARBON_GPU_BACKEND]",
)
@click.option(
    "--sim-dir",
    envvar="SLURM_CARBON_SIM_DIR",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Simulated GPUs' directory, for --gpu-backend sim [env: SLURM_CARBON_SIM_DIR]",
)
@click.option(
    "--sample-s",
    envvar="SLURM_CARBON_SAMPLE_S",
    type=FiniteRange(min=0.05),
    default=1.0,
    show_default=True,
    help="Seconds between samples [env: SLURM_CARBON_SAMPLE_S]",
)
@click.option(
    "--interval-s",
    envvar="SLURM_CARBON_INTERVAL_S",
    type=FiniteRange(min=1.0),
    default=60.0,
    show_default=True,
    help="Interval length, aligned to UTC multiples [env: SLURM_CARBON_INTERVAL_S]",
)
@click.option(
    "--tdp-w",
    envvar="SLURM_CARBON_TDP_W",
    type=FiniteRange(min=0.0, min_open=True),
    default=None,
    help="CPU TDP for the estimate used when RAPL is missing [env: SLURM_CARBON_TDP_W]",
)
@click.option(
    "--tdp-table",
    envvar="SLURM_CARBON_TDP_TABLE",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="CSV of CPU models and TDPs (Name,TDP) to look the TDP up in when --tdp-w is "
    "not given (default: the table codecarbon ships) [env: SLURM_CARBON_TDP_TABLE]",
)
@click.option(
    "--shared-gpus/--no-shared-gpus",
    envvar="SLURM_CARBON_SHARED_GPUS",
    default=False,
    show_default=True,
    help="Slurm shares GPUs between jobs on this node (gres/shard, gres/mps): split a "
    "GPU's energy among its jobs. Without it a GPU is one job's: a job whose Prolog "
    "names a GPU another job still holds takes it from then on (logged) "
    "[env: SLURM_CARBON_SHARED_GPUS]",
)
@click.option(
    "--progress-dir",
    envvar=PROGRESS_DIR_ENV,
    default=DEFAULT_PROGRESS_DIR,
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the Prolog creates the jobs' progress files (the same for the shims) "
    f"[env: {PROGRESS_DIR_ENV}]",
)
@click.option(
    "--metrics-port",
    envvar="SLURM_CARBON_AGENT_METRICS_PORT",
    type=click.IntRange(0, PORT_MAX),
    default=0,
    show_default=True,
    help=f"Serve the agent's own Prometheus /metrics (spool backlog, sampling lag, sensor "
    f"errors) on {METRICS_ADDR}:PORT; 0: off. Loopback only, never 0.0.0.0: it is for a "
    "scraper on this node (a local Prometheus agent, or a node exporter's textfile fed "
    "from it), and the agent runs as root among users' jobs "
    "[env: SLURM_CARBON_AGENT_METRICS_PORT]",
)
@click.option(
    "--log-level",
    envvar="SLURM_CARBON_LOG_LEVEL",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]),
    default="INFO",
    show_default=True,
    help="[env: SLURM_CARBON_LOG_LEVEL]",
)
def run_command(  # noqa: PLR0913, PLR0917 - one parameter per option, as click passes them
    spool: Path,
    socket_path: Path,
    state: Path,
    service_url: str,
    token_file: Path,
    cluster: str,
    node: str | None,
    gpu_backend: GpuBackendName,
    sim_dir: Path | None,
    sample_s: float,
    interval_s: float,
    tdp_w: float | None,
    tdp_table: Path | None,
    shared_gpus: bool,
    progress_dir: Path,
    metrics_port: int,
    log_level: str,
) -> None:
    """Run the agent until SIGTERM/SIGINT (as root, one per node).

    The spool must be root's alone (owned by root, writable by no group or other
    user, and so its jobs/ and every directory above it unless sticky): whatever
    is in it is believed, so the agent refuses to start on any other.
    """
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    token = read_token(token_file)
    try:
        state.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise click.ClickException(f"cannot create --state {state}: {err.strerror}") from err
    node_name = node or socket.gethostname().split(".")[0]
    if gpu_backend == "sim" and sim_dir is None:
        raise click.ClickException("--gpu-backend sim needs --sim-dir")
    try:
        gpus = factory.gpu_backend(gpu_backend, sim_dir)
    except SensorError as err:
        raise click.ClickException(f"GPU backend {gpu_backend}: {err}") from err
    cpu = factory.cpu_sensors(tdp_w, tdp_table)
    config = AgentConfig(
        node=node_name,
        spool_dir=spool,
        state_dir=state,
        sample_s=sample_s,
        interval_s=interval_s,
        cap_socket=socket_path,
        shared_gpus=shared_gpus,
        progress_dir=progress_dir,
    )
    session = requests.Session()
    shipper = Shipper(
        config.db_path,
        service_url=service_url,
        token=token,
        cluster=cluster,
        node=node_name,
        session=session,
    )
    daemon = Agent(
        config,
        gpu_backend=gpus,
        cpu_backend=cpu.counters,
        cpu_estimate=cpu.estimate,
        cpu_time=CpuTimeReader(),
        shipper=shipper,
    )
    server = None
    if metrics_port:
        try:
            server = serve_metrics(
                metrics_port, AgentCollector(config.db_path, daemon.metrics, shipper)
            )
        except OSError as err:
            raise click.ClickException(
                f"--metrics-port {metrics_port}: cannot listen on {METRICS_ADDR}: {err.strerror}"
            ) from err
    try:
        daemon.start()
        daemon.run_forever()
    except ConfigError as err:
        raise click.ClickException(str(err)) from err
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
    session.close()


@agent.command("set-cap")
@socket_option
@click.option(
    "--job", "job_id", type=click.IntRange(1, JOB_ID_MAX), required=True, help="Slurm job id."
)
@click.option("--gpu", required=True, help="The GPU: UUID (GPU-...) or minor number.")
@click.option(
    "--watts",
    type=FiniteRange(min=0.0, min_open=True),
    required=True,
    help="The limit; clamped to the GPU's range.",
)
def set_cap_command(socket_path: Path, job_id: int, gpu: str, watts: float) -> None:
    """Ask the agent to cap a GPU the job holds alone, and print its answer.

    The agent allows it only from root or the job's owner (the kernel tells it
    who asks), for a job running on this node, on a GPU that job holds alone.
    Exits 1 when the agent refuses or cannot be reached.
    """
    try:
        check_gpu_name(gpu)
    except ValueError as err:
        raise click.ClickException(f"--gpu: {escape_control(str(err))}") from None
    try:
        answer = request_cap(socket_path, CapRequest(job_id, gpu, watts))
    except ConfigError as err:
        raise click.ClickException(str(err)) from err
    if not answer.startswith("ok:"):
        raise click.ClickException(f"job {job_id}, GPU {gpu}: {answer}")
    click.echo(f"job {job_id}, GPU {gpu}: {answer}")
