"""``slurm-carbon token`` and ``slurm-carbon service`` (up to starting uvicorn) via CliRunner."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from slurm_carbon.cli.main import cli
from slurm_carbon.cli.service import intensity_poller
from slurm_carbon.config import load_config
from slurm_carbon.store import head_revision, make_engine, node_for_token, session_factory, upgrade


@pytest.fixture
def migrated(empty_db: Any) -> str:
    url: str = empty_db("cli")
    upgrade(url)
    return url


def _owner(url: str, token: str) -> tuple[str, str] | None:
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            return node_for_token(session, token)
    finally:
        engine.dispose()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _issue(url: str, *extra: str) -> Any:
    return CliRunner().invoke(
        cli, ["token", "issue", "--node", "vm", "--cluster", "sclocal", "--url", url, *extra]
    )


def test_token_issue_prints_the_token_alone(migrated: str) -> None:
    result = _issue(migrated)

    assert result.exit_code == 0, result.output
    token = result.stdout.removesuffix("\n")
    assert len(token) == 43
    assert result.stdout == token + "\n"
    assert _owner(migrated, token) == ("sclocal", "vm")


def test_token_issue_replace_revokes_the_old_tokens(migrated: str) -> None:
    old = _issue(migrated).stdout.strip()
    kept = _issue(migrated).stdout.strip()
    assert _owner(migrated, old) == _owner(migrated, kept) == ("sclocal", "vm")

    new = _issue(migrated, "--replace").stdout.strip()

    assert _owner(migrated, old) is None
    assert _owner(migrated, kept) is None
    assert _owner(migrated, new) == ("sclocal", "vm")


def test_token_revoke_says_how_many_and_fails_when_there_were_none(migrated: str) -> None:
    token = _issue(migrated).stdout.strip()
    args = ["token", "revoke", "--node", "vm", "--cluster", "sclocal", "--url", migrated]

    first = CliRunner().invoke(cli, args)
    again = CliRunner().invoke(cli, args)

    assert first.exit_code == 0
    assert first.output == "revoked 1 token(s) of node 'vm' of cluster 'sclocal'\n"
    assert _owner(migrated, token) is None
    assert again.exit_code == 1
    assert again.output == "Error: node 'vm' of cluster 'sclocal' has no valid token\n"


def test_token_needs_node_and_cluster(migrated: str) -> None:
    result = CliRunner().invoke(cli, ["token", "issue", "--node", "vm", "--url", migrated])

    assert result.exit_code == 2
    assert "Missing option '--cluster'" in result.output


@pytest.mark.parametrize("command", [["service"], ["token", "issue"], ["token", "revoke"]])
def test_a_database_not_at_head_is_refused(empty_db: Any, command: list[str]) -> None:
    url = empty_db("behind")
    upgrade(url, "0001")
    names = [] if command == ["service"] else ["--node", "vm", "--cluster", "sclocal"]

    result = CliRunner().invoke(cli, [*command, *names, "--url", url])

    assert result.exit_code == 1
    assert result.output == (
        f"Error: database {url} is at revision 0001, this version needs {head_revision()}:"
        " run `slurm-carbon db upgrade` first\n"
    )


def test_service_refuses_an_empty_database(empty_db: Any) -> None:
    url = empty_db("empty")

    result = CliRunner().invoke(cli, ["service", "--url", url])

    assert result.exit_code == 1
    assert "has no schema" in result.output
    assert "run `slurm-carbon db upgrade` first" in result.output


@pytest.mark.parametrize(
    "command", [["service"], ["token", "issue", "--node", "vm", "--cluster", "c"]]
)
def test_an_unreachable_database_is_one_line(command: list[str]) -> None:
    port = _closed_port()
    url = f"postgresql+psycopg://carbon:s3cret@127.0.0.1:{port}/slurm_carbon"

    result = CliRunner().invoke(cli, command, env={"SLURM_CARBON_DB_URL": url})

    assert result.exit_code == 1
    assert result.output == (
        f"Error: cannot reach database at postgresql+psycopg://carbon:***@127.0.0.1:{port}"
        "/slurm_carbon: connection refused\n"
    )
    assert isinstance(result.exception, SystemExit)


def test_service_help_names_its_options() -> None:
    result = CliRunner().invoke(cli, ["service", "--help"])

    assert result.exit_code == 0
    for option in ("--url", "--host", "--port", "--workers"):
        assert option in result.output
    assert "8350" in result.output


def _site(tmp_path: Path, sources: str) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(
        'cluster = "c"\n'
        '[regions]\ndefault = "GB"\npartitions = { remote = "SE" }\nnodes = { "fr-*" = "FR" }\n'
        "[pue]\ndefault = 1.2\n"
        f"[intensity]\nsources = {sources}\n"
    )
    return path


def test_the_service_polls_the_configured_sources_for_every_region(tmp_path: Path) -> None:
    factory = session_factory(make_engine("sqlite://"))

    poller = intensity_poller(load_config(_site(tmp_path, '["uk", "annual"]')), factory)

    assert poller is not None
    assert poller.regions == ["FR", "GB", "SE"]
    assert intensity_poller(load_config(_site(tmp_path, '["annual"]')), factory) is None


def test_service_refuses_a_bad_site_file_in_one_line(migrated: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('cluster = "c"\n[regions]\ndefault = "GB"\nregion = "x"\n')

    result = CliRunner().invoke(cli, ["service", "--url", migrated, "--config", str(bad)])

    assert result.exit_code == 1
    assert result.output.startswith("Error: ")
    assert result.output.count("\n") == 1
