"""``slurm-carbon progress``: writes the job's record; never fails a job script (exit 0)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from slurm_carbon.cli.main import cli
from slurm_carbon.jobprogress import PROGRESS_DIR_ENV, parse_progress_record


@pytest.fixture
def record(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Job 77's empty progress file, as its Prolog made it."""
    monkeypatch.setenv("SLURM_JOB_ID", "77")
    monkeypatch.setenv(PROGRESS_DIR_ENV, str(tmp_path))
    path = tmp_path / "77"
    path.touch(mode=0o600)
    return path


@pytest.mark.parametrize(
    ("args", "fraction"),
    [(["0.42"], 0.42), (["--step", "420", "--total", "1000"], 0.42), (["1"], 1.0)],
)
def test_the_command_writes_the_fraction(record: Path, args: list[str], fraction: float) -> None:
    result = CliRunner().invoke(cli, ["progress", *args])

    assert (result.exit_code, result.output) == (0, "")
    assert parse_progress_record(record.read_bytes())[0] == fraction


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["1.5"], "fraction 1.5 is not between 0 and 1"),
        (["nan"], "fraction nan is not a finite number"),
        (["-0.1"], "fraction -0.1 is not between 0 and 1"),
        (["--bogus"], "fraction '--bogus' is not a number"),
        (["--step", "1001", "--total", "1000"], "step 1001 is not between 0 and total 1000"),
        (["--step", "1", "--total", "0"], "total 0 is not positive"),
        (["--step", "1"], "give a fraction (0..1), or step and total"),
        (["half"], "fraction 'half' is not a number"),
        (["0.5", "0.6"], "unexpected extra argument"),
        (["\x1b[2J"], r"fraction '\x1b[2J' is not a number"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_0(record: Path, args: list[str], said: str) -> None:
    result = CliRunner().invoke(cli, ["progress", *args])

    assert result.exit_code == 0
    assert result.output.count("\n") == 1
    assert result.output.startswith("Error: progress not recorded: ")
    assert said in result.output
    assert "\x1b" not in result.output
    assert record.read_bytes() == b""


def test_outside_a_job_the_command_is_silent(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.setenv(PROGRESS_DIR_ENV, str(tmp_path))

    result = CliRunner().invoke(cli, ["progress", "0.5"])

    assert (result.exit_code, result.output) == (0, "")
    assert list(tmp_path.iterdir()) == []
