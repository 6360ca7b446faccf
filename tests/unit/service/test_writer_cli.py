"""``slurm-carbon writer`` via CliRunner: one pass over an empty queue, and one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from slurm_carbon.cli.main import cli
from slurm_carbon.store import upgrade


@pytest.fixture
def migrated(empty_db: Any) -> str:
    url: str = empty_db("writer")
    upgrade(url)
    return url


def _writer(*args: str) -> Any:
    return CliRunner().invoke(cli, ["writer", *args])


def test_once_over_an_empty_queue_asks_slurm_nothing_and_says_so(
    migrated: str, tmp_path: Path
) -> None:
    # No hand-off and no measured job: not one Slurm command is needed.
    result = _writer("--url", migrated, "--spool", str(tmp_path), "--region", "SE", "--once")

    assert result.exit_code == 0, result.output
    assert result.stdout == "queued 0, written 0, retrying 0, failed 0\n"


def test_without_a_region_or_config_it_stops_with_one_line(migrated: str, tmp_path: Path) -> None:
    result = _writer("--url", migrated, "--spool", str(tmp_path), "--once")

    assert result.exit_code == 1
    assert result.stderr == ("Error: no region: pass --config site.toml or --region (e.g. SE)\n")


def test_a_bad_config_is_one_line_naming_the_key(migrated: str, tmp_path: Path) -> None:
    config = tmp_path / "site.toml"
    config.write_text('cluster = "sclocal"\n[regions]\ndefault = "SE"\n[pue]\ndefault = 0.9\n')

    result = _writer("--url", migrated, "--spool", str(tmp_path), "--config", str(config))

    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == 1
    assert "pue.default" in result.stderr


def test_an_unmigrated_database_is_refused_in_one_line(empty_db: Any, tmp_path: Path) -> None:
    result = _writer("--url", empty_db("bare"), "--spool", str(tmp_path), "--region", "SE")

    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == 1
    assert "slurm-carbon db upgrade" in result.stderr


def test_once_with_a_site_file(migrated: str, tmp_path: Path) -> None:
    config = tmp_path / "site.toml"
    config.write_text(
        'cluster = "sclocal"\n[regions]\ndefault = "SE"\n[pue]\ndefault = 1.2\n'
        '[intensity]\nsources = ["annual"]\n[admin_comment]\nforeign = "skip"\n'
    )

    result = _writer("--url", migrated, "--spool", str(tmp_path), "--config", str(config), "--once")

    assert result.exit_code == 0, result.output
    assert result.stdout == "queued 0, written 0, retrying 0, failed 0\n"
