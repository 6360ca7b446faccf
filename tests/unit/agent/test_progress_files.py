"""The agent reads each job's own progress file, safely, and spools what changed."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from slurm_carbon.agent import Agent
from slurm_carbon.agent.progress_files import (
    PROGRESS_CLOCK_SLACK_S,
    PROGRESS_MIN_GAP_S,
    ProgressReader,
    ProgressSample,
)
from slurm_carbon.agent.registry import Job
from slurm_carbon.jobprogress import PROGRESS_MAX_BYTES, progress_record
from tests.unit.agent.conftest import hand_off

#: The job's owner in these tests: nobody, so that a file of root's is told apart.
NOBODY = 65534
T0 = 1_764_600_000.0
JOB = Job(job_id=42, start_s=T0, stop_s=None, uid=NOBODY)


def write(directory: Path, fraction: float, time_s: float, job_id: int = 42) -> Path:
    """The job's file as the Prolog made it and the job wrote it."""
    directory.mkdir(exist_ok=True)
    path = directory / str(job_id)
    path.write_bytes(progress_record(fraction, time_s))
    os.chown(path, NOBODY, NOBODY)
    path.chmod(0o600)
    return path


def test_the_jobs_record_is_read_once_and_again_when_it_changes(tmp_path: Path) -> None:
    reader = ProgressReader(tmp_path)
    write(tmp_path, 0.25, T0 + 10)
    assert reader.read({42: JOB}, T0 + 11) == [ProgressSample(42, T0 + 10, 0.25)]
    assert reader.read({42: JOB}, T0 + 12) == []

    write(tmp_path, 0.5, T0 + 20)
    assert reader.read({42: JOB}, T0 + 21) == [ProgressSample(42, T0 + 20, 0.5)]


def test_changes_closer_than_the_gap_are_thinned_but_the_end_is_kept(tmp_path: Path) -> None:
    reader = ProgressReader(tmp_path)
    write(tmp_path, 0.1, T0 + 10)
    reader.read({42: JOB}, T0 + 10)
    write(tmp_path, 0.2, T0 + 10 + PROGRESS_MIN_GAP_S / 2)
    assert reader.read({42: JOB}, T0 + 13) == []
    write(tmp_path, 1.0, T0 + 11)
    assert reader.read({42: JOB}, T0 + 13) == [ProgressSample(42, T0 + 11, 1.0)]


def test_no_file_or_an_empty_one_is_nothing_and_not_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    reader = ProgressReader(tmp_path)
    assert reader.read({42: JOB}, T0) == []
    (tmp_path / "42").touch()
    assert reader.read({42: JOB}, T0) == []
    assert caplog.records == []


def _symlink(path: Path) -> None:
    target = path.parent / "secret"
    target.write_bytes(progress_record(0.5, T0 + 1))
    path.unlink()
    path.symlink_to(target)


def _fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)
    os.chown(path, NOBODY, NOBODY)


def _other_owner(path: Path) -> None:
    os.chown(path, NOBODY - 1, NOBODY - 1)


def _oversized(path: Path) -> None:
    path.write_bytes(progress_record(0.5, T0 + 1) + b" " * PROGRESS_MAX_BYTES)


def _garbage(path: Path) -> None:
    path.write_bytes(b"0.5\x1b[2J 1\n")


def _from_before_the_job(path: Path) -> None:
    path.write_bytes(progress_record(0.5, T0 - PROGRESS_CLOCK_SLACK_S - 1))


def _directory(path: Path) -> None:
    path.unlink()
    path.mkdir()
    os.chown(path, NOBODY, NOBODY)


@pytest.mark.parametrize(
    ("spoil", "said"),
    [
        (_symlink, "symbolic link"),
        (_fifo, "not a regular file"),
        (_other_owner, f"owned by uid {NOBODY - 1}"),
        (_oversized, f"larger than {PROGRESS_MAX_BYTES} bytes"),
        (_garbage, r"\x1b"),
        (_from_before_the_job, "outside the job's run"),
        (_directory, "not a regular file"),
    ],
)
def test_an_odd_file_is_skipped_and_logged_once(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    spoil: Callable[[Path], None],
    said: str,
) -> None:
    spoil(write(tmp_path, 0.5, T0 + 1))
    reader = ProgressReader(tmp_path)
    with caplog.at_level(logging.WARNING):
        assert reader.read({42: JOB}, T0 + 2) == []
        assert reader.read({42: JOB}, T0 + 3) == []

    [record] = caplog.records
    assert said in record.getMessage()
    assert "\x1b" not in record.getMessage()


def test_a_root_owned_file_is_read_and_another_jobs_is_not(tmp_path: Path) -> None:
    os.chown(write(tmp_path, 0.5, T0 + 1), 0, 0)
    write(tmp_path, 0.9, T0 + 1, job_id=43)
    assert ProgressReader(tmp_path).read({42: JOB}, T0 + 2) == [ProgressSample(42, T0 + 1, 0.5)]


def test_the_agent_spools_the_jobs_progress(
    make_agent: Callable[..., Agent], dirs: tuple[Path, Path], tmp_path: Path
) -> None:
    spool, _ = dirs
    agent = make_agent(progress_dir=tmp_path / "progress")
    hand_off(spool, 42, "start", T0, uid=NOBODY)
    write(tmp_path / "progress", 0.3, T0 + 5)
    agent.tick(T0 + 6)
    agent.tick(T0 + 7)

    assert [(p.job_id, p.time_s, p.fraction) for p in agent.spool.progress(10)] == [
        (42, T0 + 5, 0.3)
    ]


def test_a_last_report_written_as_the_job_ends_is_kept_and_then_the_file_removed(
    make_agent: Callable[..., Agent], dirs: tuple[Path, Path], tmp_path: Path
) -> None:
    """The job writes 1.0 and ends at once: the Epilog's stop and the report reach the
    same tick; the agent spools the report, accounts the job, then removes the file."""
    spool, _ = dirs
    agent = make_agent(progress_dir=tmp_path / "progress")
    hand_off(spool, 42, "start", T0, uid=NOBODY)
    write(tmp_path / "progress", 0.3, T0 + 5)
    agent.tick(T0 + 6)
    write(tmp_path / "progress", 1.0, T0 + 7)
    hand_off(spool, 42, "stop", T0 + 7, uid=NOBODY)

    agent.tick(T0 + 8)

    assert [p.fraction for p in agent.spool.progress(10)] == [0.3, 1.0]
    assert not (tmp_path / "progress" / "42").exists()
