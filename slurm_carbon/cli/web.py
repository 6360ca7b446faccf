"""``slurm-carbon web``: print a personal login link to the dashboard, proved by MUNGE."""

from __future__ import annotations

import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import click
import requests

from slurm_carbon.text import escape_control

__all__ = ["MUNGE_TIMEOUT_S", "WEB_TOKEN_TIMEOUT_S", "check_url", "munge_now", "web"]

# munge answers in milliseconds from the local munged; 10 s means it is stuck.
MUNGE_TIMEOUT_S = 10.0
# The service decodes the credential with its munged (5 s at most, the read
# API's bound) and signs a token: 15 s covers that and a slow network.
WEB_TOKEN_TIMEOUT_S = 15.0
_DEFAULT_URL = "http://127.0.0.1:8350"
# The service's refusal shown to the user is cut here (one line).
_MESSAGE_CHARS = 300


def munge_now(socket: Path | None) -> str:
    """A fresh MUNGE credential from the local munged (``munge -n``).

    Raises:
        click.ClickException: munge is missing, failed or did not answer (one line).
    """
    argv = ["munge", "-n"] + ([f"--socket={socket}"] if socket is not None else [])
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=MUNGE_TIMEOUT_S, check=False
        )
    except FileNotFoundError:
        raise click.ClickException("munge is not installed: install Debian's munge") from None
    except subprocess.TimeoutExpired:
        raise click.ClickException(
            f"munge -n gave no credential in {MUNGE_TIMEOUT_S:g} s"
        ) from None
    if proc.returncode != 0:
        why = proc.stderr.strip().splitlines()[-1:] or ["no message"]
        raise click.ClickException(f"munge -n failed: {escape_control(why[0])}")
    return proc.stdout.strip()


def check_url(_ctx: click.Context, param: click.Parameter, value: str) -> str:
    """Click's check of a service URL: ``value`` without a trailing ``/``, if http(s)."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or not value.isprintable():
        raise click.BadParameter(f"not an http(s) URL: {escape_control(value)!r}", param=param)
    return value.rstrip("/")


@click.command()
@click.option(
    "--service-url",
    envvar="SLURM_CARBON_SERVICE_URL",
    default=_DEFAULT_URL,
    show_default=True,
    callback=check_url,
    help="The service [env: SLURM_CARBON_SERVICE_URL]",
)
@click.option(
    "--munge-socket",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="munged's socket (default: the system munged's).",
)
def web(service_url: str, munge_socket: Path | None) -> None:
    """Print a link that logs you in to the dashboard, as the user you are here.

    The link opens once, within 5 minutes; the session it opens lasts 8 hours.
    Users see their own jobs, admins every job (README, "Dashboard").
    """
    credential = munge_now(munge_socket)
    try:
        answer = requests.post(
            f"{service_url}/web/token",
            headers={"Authorization": f"MUNGE {credential}"},
            timeout=WEB_TOKEN_TIMEOUT_S,
        )
    except requests.RequestException as err:
        raise click.ClickException(
            f"cannot reach the service at {service_url}: {type(err).__name__}"
        ) from None
    try:
        body = answer.json()
    except ValueError:
        body = {}
    if answer.status_code != 200 or not isinstance(body.get("login_path"), str):
        said = str(body.get("error", "no explanation"))[:_MESSAGE_CHARS]
        raise click.ClickException(
            f"the service refused a login link ({answer.status_code}): {escape_control(said)}"
        )
    minutes = int(body.get("expires_in_s", 0)) // 60
    click.echo(f"{service_url}{body['login_path']}")
    click.echo(f"Open it in a browser within {minutes} minutes; it opens once.", err=True)
