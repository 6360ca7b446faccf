"""The job's side of progress: ``slurm_carbon.progress`` writes the Prolog's file, or nothing."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import slurm_carbon
from slurm_carbon.jobprogress import (
    PROGRESS_DIR_ENV,
    PROGRESS_MAX_BYTES,
    parse_progress_record,
    progress_record,
)

JOB = "4242"


@pytest.fixture
def job(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Inside job 4242, whose Prolog made its empty progress file under tmp_path."""
    monkeypatch.setenv("SLURM_JOB_ID", JOB)
    monkeypatch.setenv(PROGRESS_DIR_ENV, str(tmp_path))
    path = tmp_path / JOB
    path.touch(mode=0o600)
    return path


def test_outside_a_job_nothing_is_written(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.setenv(PROGRESS_DIR_ENV, str(tmp_path))

    assert slurm_carbon.progress(0.42) is False
    assert list(tmp_path.iterdir()) == []


def test_without_the_prologs_file_nothing_is_created(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SLURM_JOB_ID", JOB)
    monkeypatch.setenv(PROGRESS_DIR_ENV, str(tmp_path))

    assert slurm_carbon.progress(0.42) is False
    assert list(tmp_path.iterdir()) == []


def test_a_fraction_is_written_as_one_record(job: Path) -> None:
    before = time.time()
    assert slurm_carbon.progress(0.42) is True

    fraction, time_s = parse_progress_record(job.read_bytes())
    assert fraction == 0.42
    assert before - 0.001 <= time_s <= time.time() + 0.001


def test_step_of_total_overwrites_the_earlier_record(job: Path) -> None:
    slurm_carbon.progress(0.999)
    assert slurm_carbon.progress(step=420, total=1000) is True

    data = job.read_bytes()
    assert data.startswith(b"0.420000 ")
    assert data.count(b"\n") == 1
    assert len(data) == 24


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((float("nan"),), {}),
        ((-0.01,), {}),
        ((1.01,), {}),
        ((float("inf"),), {}),
        (("0.5",), {}),
        ((True,), {}),
        ((), {}),
        ((0.5,), {"step": 1, "total": 2}),
        ((), {"step": 1001, "total": 1000}),
        ((), {"step": -1, "total": 1000}),
        ((), {"step": 0, "total": 0}),
        ((), {"step": 1}),
    ],
    ids=["nan", "negative", "above-1", "inf", "text", "bool", "nothing", "both", "step>total",
         "step<0", "total-0", "no-total"],
)  # fmt: skip
def test_bad_arguments_are_ignored(
    job: Path, args: tuple[object, ...], kwargs: dict[str, object]
) -> None:
    assert slurm_carbon.progress(*args, **kwargs) is False  # type: ignore[arg-type]
    assert job.read_bytes() == b""


def test_a_symlink_in_place_of_the_file_is_not_followed(job: Path, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_bytes(b"")
    job.unlink()
    job.symlink_to(target)

    assert slurm_carbon.progress(0.5) is False
    assert target.read_bytes() == b""


def test_a_fifo_in_place_of_the_file_does_not_block(job: Path) -> None:
    job.unlink()
    os.mkfifo(job)

    assert slurm_carbon.progress(0.5) is False


def test_records_round_trip_and_fit_the_bound() -> None:
    record = progress_record(1.0, 4_102_444_799.999)
    assert len(record) <= PROGRESS_MAX_BYTES
    assert parse_progress_record(record) == (1.0, 4_102_444_799.999)


@pytest.mark.parametrize(
    "data",
    [b"", b"0.5 1.0\n", b"1.500000 1764600000.123\n", b"0.420000 1764600000.123",
     b"0.420000 1764600000.123\n0.430000 1764600001.123\n", b"0.420000\x001764600000.123\n"],
    ids=["empty", "short", "above-1", "no-newline", "two", "nul"],
)  # fmt: skip
def test_anything_but_one_record_is_refused(data: bytes) -> None:
    with pytest.raises(ValueError, match=r"record|above 1"):
        parse_progress_record(data)
