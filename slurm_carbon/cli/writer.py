"""``slurm-carbon writer``: finished jobs' results, and their AdminComment in Slurm.

Runs beside the service, on a host with Slurm's client commands and the
rights to ``sacctmgr modify job`` (root, SlurmUser or an operator), reading the
EpilogSlurmctld hand-offs from ``--spool``. One writer per database.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Literal

import click
import requests

from slurm_carbon.cli.db import url_option
from slurm_carbon.cli.options import spool_option
from slurm_carbon.cli.params import FiniteRange, Name
from slurm_carbon.cli.service import require_head
from slurm_carbon.config import BudgetsConfig, SiteConfig, load_config
from slurm_carbon.config.policies import CappingConfig
from slurm_carbon.errors import ConfigError, SlurmCarbonError
from slurm_carbon.intensity.base import IntensityProvider
from slurm_carbon.intensity.chain import BestSeries
from slurm_carbon.intensity.factory import build_chain
from slurm_carbon.service.advice import AdviceWriter
from slurm_carbon.service.budgets import BudgetReviewer
from slurm_carbon.service.capping import CapDecider
from slurm_carbon.service.site import Site, StaticSite
from slurm_carbon.service.writer import Backoff, Writer
from slurm_carbon.slurm import CommandLineSlurm, SubprocessRunner
from slurm_carbon.store import make_engine, session_factory
from slurm_carbon.store.intensity import stored_actuals

__all__ = ["writer"]


@dataclass(frozen=True)
class _Settings:
    site: Site
    live: IntensityProvider | None
    write_comments: bool
    foreign: Literal["append", "skip"]
    budgets: BudgetsConfig
    capping: CappingConfig


def _settings(config: Path | None, region: str | None, pue: float | None) -> _Settings:
    """Site policy, live CI providers, AdminComment, budget and capping policies.

    From the site file, else from ``--region`` and ``--pue`` (no live providers;
    the default budget policy: notify; no capping).
    """
    if config is not None:
        site = load_config(config)
        live = build_chain(
            site.intensity, os.environ, requests.Session(), trace_region=site.regions.default
        )
        policy = site.admin_comment
        return _Settings(site, live, policy.enabled, policy.foreign, site.budgets, site.capping)
    if region is None:
        raise ConfigError("no region: pass --config site.toml or --region (e.g. SE)")
    static = StaticSite(region, 1.0 if pue is None else pue)
    return _Settings(static, None, True, "append", BudgetsConfig(), CappingConfig())


@click.command()
@url_option
@spool_option
@click.option(
    "--config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="SLURM_CARBON_CONFIG",
    help="Site configuration (regions, PUE, AdminComment, budget and capping policies).",
)
@click.option(
    "--region", envvar="SLURM_CARBON_REGION", type=Name(), help="Region without --config, e.g. SE."
)
@click.option("--pue", type=FiniteRange(min=1.0), help="PUE without --config [1.0].")
@click.option("--once", is_flag=True, help="One pass (hand-offs, sweep, due writes), then exit.")
@click.option("--poll-s", default=2.0, show_default=True, type=FiniteRange(min=0.05))
@click.option("--sweep-s", default=300.0, show_default=True, type=FiniteRange(min=1))
@click.option(
    "--settle-delay-s",
    default=30.0,
    show_default=True,
    type=FiniteRange(min=0),
    help="Seconds after a job's End before its result is computed (agents deliver first).",
)
@click.option(
    "--log-level",
    default="INFO",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
)
def writer(  # noqa: PLR0913, PLR0917 (click passes one parameter per option)
    url: str,
    spool: Path,
    config: Path | None,
    region: str | None,
    pue: float | None,
    once: bool,
    poll_s: float,
    sweep_s: float,
    settle_delay_s: float,
    log_level: str,
) -> None:
    """Compute finished jobs' results and write them into Slurm's AdminComment.

    A job is written once sacct shows its final record; a foreign AdminComment
    is kept. Failed writes are tried again with backoff. At each sweep, running
    jobs get their GPU power cap decided ([capping] of --config; none without it),
    are forecast, their budgets acted on by the site's policy, and their live
    value written. Every 5 minutes the submit-time advice files are written
    ([advice] of --config; none without it).
    """
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    require_head(url)
    try:
        settings = _settings(config, region, pue)
    except ConfigError as err:
        raise click.ClickException(str(err)) from err
    engine = make_engine(url)
    factory = session_factory(engine)
    slurm = CommandLineSlurm(SubprocessRunner(env=os.environ))
    job_writer = Writer(
        factory,
        slurm,
        settings.site,
        BestSeries(stored_actuals(factory), settings.live),
        spool=spool,
        backoff=Backoff(),
        settle_delay_s=settle_delay_s,
        write_comments=settings.write_comments,
        foreign=settings.foreign,
        budgets=BudgetReviewer(factory, slurm, settings.budgets),
        capping=CapDecider(factory, settings.capping, settings.site),
        advice=AdviceWriter(factory, slurm, site)
        if isinstance(site := settings.site, SiteConfig)
        else None,
    )
    try:
        if once:
            report = job_writer.run_once()
            click.echo(
                f"queued {report.queued}, written {report.written},"
                f" retrying {report.retried}, failed {report.failed}"
            )
            return
        stop = threading.Event()

        def _stop(_signum: int, _frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        job_writer.run(stop, poll_s=poll_s, sweep_s=sweep_s)
    except SlurmCarbonError as err:
        raise click.ClickException(str(err)) from err
    finally:
        engine.dispose()
