"""``slurm-carbon service`` runs the ingest service; ``slurm-carbon token`` manages node tokens."""

from __future__ import annotations

import copy
import os
import secrets
from pathlib import Path
from typing import Any

import click
import requests
import uvicorn
import uvicorn.config
from starlette.applications import Starlette

from slurm_carbon.cli.db import url_option
from slurm_carbon.cli.params import Name
from slurm_carbon.config import SiteConfig, load_config
from slurm_carbon.errors import ConfigError, StoreError
from slurm_carbon.intensity.factory import build_chain
from slurm_carbon.service import create_app
from slurm_carbon.service.api import ReadAccess
from slurm_carbon.service.ci_forecast import OwnForecaster
from slurm_carbon.service.http_protocol import BoundedHttpToolsProtocol
from slurm_carbon.service.poller import IntensityPoller
from slurm_carbon.service.web.session import SECRET_BYTES
from slurm_carbon.slurm import CommandLineSlurm, SubprocessRunner
from slurm_carbon.store import (
    SessionFactory,
    current_revision,
    head_revision,
    ingest_engine,
    issue_token,
    make_engine,
    redact_url,
    revoke_tokens,
    session_factory,
    transaction,
)

__all__ = ["WEB_SECRET_VARIABLE", "app_from_environment", "require_head", "service", "token"]

DEFAULT_PORT = 8350
# The service's worker processes import the app by name and find the URL here.
_URL_VARIABLE = "SLURM_CARBON_DB_URL"
_CONFIG_VARIABLE = "SLURM_CARBON_CONFIG"
#: The dashboard's session secret (hex) every worker signs with: drawn by
#: ``service`` unless set, so that a cookie one worker signed opens the others.
WEB_SECRET_VARIABLE = "SLURM_CARBON_WEB_SECRET"  # noqa: S105 (the variable's name, not a secret)
# Sources whose figures are polled and stored; "annual" is never stored.
_POLLED = frozenset({"trace", "electricitymaps", "uk", "watttime"})


def require_head(url: str) -> None:
    """Check that the database's schema is the one this code needs.

    Raises:
        click.ClickException: it is not, or the database cannot be reached (one line).
    """
    try:
        current = current_revision(url)
    except StoreError as err:
        raise click.ClickException(str(err)) from err
    head = head_revision()
    if current != head:
        state = f"is at revision {current}" if current else "has no schema"
        raise click.ClickException(
            f"database {redact_url(url)} {state}, this version needs {head}:"
            " run `slurm-carbon db upgrade` first"
        )


def app_from_environment() -> Starlette:
    """The app of a worker process: uvicorn's factory, over ``$SLURM_CARBON_DB_URL``.

    With a site configuration (``$SLURM_CARBON_CONFIG``) that lists sources
    other than the annual table, the app also polls them for every configured
    region; each worker polls, which stores nothing twice (the keys are unique).
    The read API then takes the site's ``[admins]`` and ``[api]``.
    """
    url = os.environ[_URL_VARIABLE]
    config = os.environ.get(_CONFIG_VARIABLE)
    secret = os.environ.get(WEB_SECRET_VARIABLE)
    web_secret = None if secret is None else bytes.fromhex(secret)
    if not config:
        return create_app(url, web_secret=web_secret)
    # The poller shares the app's store, so the app gets a session factory; its
    # engine lives as long as the worker process, and is create_app's own kind.
    factory = session_factory(ingest_engine(url))
    site = load_config(Path(config))
    poller = intensity_poller(site, factory)
    return create_app(
        factory,
        intensity_poller=poller,
        read_access=ReadAccess.for_site(site, CommandLineSlurm(SubprocessRunner(env=os.environ))),
        web_secret=web_secret,
    )


def intensity_poller(site: SiteConfig, factory: SessionFactory) -> IntensityPoller | None:
    """A poller of the site's sources for all its regions, or None when none is polled.

    After each poll it also stores our own forecast of each region (see
    :mod:`slurm_carbon.service.ci_forecast`).
    """
    if not _POLLED.intersection(site.intensity.sources):
        return None
    regions = site.regions
    chain = build_chain(
        site.intensity, os.environ, requests.Session(), trace_region=regions.default
    )
    polled = sorted({regions.default, *regions.partitions.values(), *regions.nodes.values()})
    return IntensityPoller(factory, chain, polled, forecaster=OwnForecaster(factory))


def _log_config() -> dict[str, Any]:
    """The logging of uvicorn, plus our loggers at INFO on stderr (set up in every worker)."""
    config: dict[str, Any] = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["formatters"]["slurm_carbon"] = {
        "format": "%(asctime)s %(levelname)s %(name)s: %(message)s"
    }
    config["handlers"]["slurm_carbon"] = {
        "formatter": "slurm_carbon",
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
    }
    config["loggers"]["slurm_carbon"] = {
        "handlers": ["slurm_carbon"],
        "level": "INFO",
        "propagate": False,
    }
    return config


@click.command()
@url_option
@click.option(
    "--host", default="127.0.0.1", show_default=True, type=Name(), help="Address to listen on."
)
@click.option(
    "--port",
    default=DEFAULT_PORT,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on.",
)
@click.option(
    "--workers", default=1, show_default=True, type=click.IntRange(min=1), help="Processes."
)
@click.option(
    "--config",
    envvar=_CONFIG_VARIABLE,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Site configuration: the carbon-intensity sources polled for its regions "
    f"[env: {_CONFIG_VARIABLE}]",
)
def service(url: str, host: str, port: int, workers: int, config: Path | None) -> None:
    """Run the service: nodes POST their energy to /api/v1/intervals.

    With --config it also keeps each configured region's carbon intensity
    (actuals and forecasts) fresh in the store. Refuses to start unless the
    database is at the newest revision. GET /metrics serves Prometheus metrics
    read from the store at each scrape (README, "Prometheus metrics").
    """
    require_head(url)
    if config is not None:
        try:
            load_config(config)  # refuse a bad file here, in one line, not in each worker
        except ConfigError as err:
            raise click.ClickException(str(err)) from err
        os.environ[_CONFIG_VARIABLE] = str(config)
    os.environ[_URL_VARIABLE] = url
    os.environ[WEB_SECRET_VARIABLE] = _web_secret(os.environ.get(WEB_SECRET_VARIABLE))
    uvicorn.run(
        "slurm_carbon.cli.service:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=_log_config(),
        # Named, not uvicorn's "auto", which without httptools falls back to h11 (twice
        # the CPU) silently: a missing httptools is an ImportError, here at the latest.
        http=BoundedHttpToolsProtocol,
    )


def _web_secret(given: str | None) -> str:
    """The site's secret (replicas behind one address share one), else one drawn now."""
    if given is None:
        return secrets.token_hex(SECRET_BYTES)
    try:
        key = bytes.fromhex(given)
    except ValueError:
        key = b""
    if len(key) < SECRET_BYTES:
        raise click.ClickException(
            f"{WEB_SECRET_VARIABLE}: {SECRET_BYTES * 2} hex digits or more, please"
        )
    return given


@click.group()
def token() -> None:
    """Issue and revoke the tokens nodes report with."""


_node_option = click.option(
    "--node", required=True, type=Name(), help="The node's hostname, as Slurm has it."
)
_cluster_option = click.option("--cluster", required=True, type=Name(), help="Slurm's ClusterName.")


@token.command("issue")
@_node_option
@_cluster_option
@url_option
@click.option(
    "--replace", is_flag=True, help="Revoke the node's other tokens in the same transaction."
)
def issue_command(node: str, cluster: str, url: str, replace: bool) -> None:
    """Create a token for a node and print it, alone, on stdout.

    It is shown only this once: the database keeps its SHA-256.
    """
    require_head(url)
    engine = make_engine(url)
    try:
        with transaction(session_factory(engine)) as session:
            if replace:
                revoke_tokens(session, cluster, node)
            plain = issue_token(session, cluster, node)
    except StoreError as err:
        raise click.ClickException(str(err)) from err
    finally:
        engine.dispose()
    click.echo(plain)


@token.command("revoke")
@_node_option
@_cluster_option
@url_option
def revoke_command(node: str, cluster: str, url: str) -> None:
    """Revoke every token of a node; fails if it held none (a mistyped name, say).

    A running service trusts a token it has found for TOKEN_CACHE_TTL_S (120 s):
    the node's batches are refused within 2 minutes.
    """
    require_head(url)
    engine = make_engine(url)
    try:
        with transaction(session_factory(engine)) as session:
            revoked = revoke_tokens(session, cluster, node)
    except StoreError as err:
        raise click.ClickException(str(err)) from err
    finally:
        engine.dispose()
    if revoked == 0:
        raise click.ClickException(f"node {node!r} of cluster {cluster!r} has no valid token")
    click.echo(f"revoked {revoked} token(s) of node {node!r} of cluster {cluster!r}")
