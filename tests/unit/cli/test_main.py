"""The ``slurm-carbon`` command's face: help, version, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from slurm_carbon import __version__
from slurm_carbon.cli.main import cli


def test_help_lists_the_commands() -> None:
    result = CliRunner().invoke(cli, ["--help"])

    assert result.exit_code == 0
    assert "Energy and carbon accounting for Slurm jobs." in result.output
    for command in ("db", "demo"):
        assert f"\n  {command} " in result.output


def test_version_is_the_package_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])

    assert result.exit_code == 0
    assert result.output == f"slurm-carbon, version {__version__}\n"
    assert __version__ == "0.1.0"


def test_demo_without_slurm_installed_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch there

    result = CliRunner().invoke(
        cli,
        ["demo", "--url", f"sqlite:///{tmp_path}/demo.db", "--work-dir", str(tmp_path)]
        + ["--spool", str(tmp_path / "spool")],
    )

    assert result.exit_code == 1
    assert result.output == (
        "Error: scontrol: command not found (is Slurm's client installed and on PATH?)\n"
    )
