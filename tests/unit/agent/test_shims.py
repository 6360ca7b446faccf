"""The prolog/epilog shims: always exit 0 fast, write parseable atomic hand-off files."""

from __future__ import annotations

import os
import stat
import subprocess
import time
from pathlib import Path

import pytest

from slurm_carbon.agent.handoff import HANDOFF_MAX_BYTES, parse_handoff
from slurm_carbon.agent.trust import read_trusted
from slurm_carbon.jobprogress import PROGRESS_DIR_ENV

REPO = Path(__file__).resolve().parents[3]
SHIMS = {
    "start": REPO / "prolog" / "slurm-carbon-prolog",
    "stop": REPO / "epilog" / "slurm-carbon-epilog",
}


def run(shim: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[bytes], float]:
    began = time.monotonic()
    done = subprocess.run(
        ["/usr/bin/env", "-i", *[f"{k}={v}" for k, v in env.items()], str(shim)],
        capture_output=True,
        timeout=10,
        check=False,
    )
    return done, time.monotonic() - began


@pytest.mark.parametrize("event", ["start", "stop"])
def test_with_an_empty_environment_the_shim_exits_0_at_once(event: str) -> None:
    done, elapsed = run(SHIMS[event], {})
    assert done.returncode == 0
    assert done.stdout == b""
    assert elapsed < 1.0


@pytest.mark.parametrize("event", ["start", "stop"])
def test_an_unwritable_spool_still_exits_0_at_once(event: str, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")  # a file where the spool dir should be: even root cannot mkdir under it
    done, elapsed = run(
        SHIMS[event], {"SLURM_CARBON_SPOOL": str(blocker / "spool"), "SLURM_JOB_ID": "7"}
    )
    assert done.returncode == 0
    assert elapsed < 1.0


def test_prolog_and_epilog_write_parseable_files_in_a_root_only_spool(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    env = {
        "SLURM_CARBON_SPOOL": str(spool),
        "SLURM_CARBON_PROGRESS_DIR": str(tmp_path / "progress"),
        "SLURM_JOB_ID": "4242",
        "SLURM_JOB_GPUS": "0,2",
        "CUDA_VISIBLE_DEVICES": "0,2",
        "SLURM_JOB_UID": "1000",
        "SLURM_JOB_COMMENT": "carbon_budget=5kg\nTIME=1|x=ü",
    }
    before = time.time()
    for event in ("start", "stop", "stop"):
        done, _ = run(SHIMS[event], env)
        assert done.returncode == 0
    after = time.time()

    assert sorted(p.name for p in (spool / "jobs").iterdir()) == ["4242.start", "4242.stop"]
    start = parse_handoff((spool / "jobs" / "4242.start").read_text())
    assert (start.job_id, start.job_gpus, start.cuda_visible_devices, start.uid) == (
        4242,
        "0,2",
        "0,2",
        1000,
    )
    assert start.comment == "carbon_budget=5kg\nTIME=1|x=ü"
    stop = parse_handoff((spool / "jobs" / "4242.stop").read_text())
    assert before <= start.time_s <= stop.time_s <= after
    for path in (spool, spool / "jobs"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700
    assert (spool / "hooks.log").read_text().count(" job=4242 ") == 3


def test_a_second_epilog_keeps_the_first_stop_time(tmp_path: Path) -> None:
    env = {"SLURM_CARBON_SPOOL": str(tmp_path), "SLURM_JOB_ID": "9"}
    run(SHIMS["stop"], env)
    first = (tmp_path / "jobs" / "9.stop").read_text()
    time.sleep(0.01)
    run(SHIMS["stop"], env)
    assert (tmp_path / "jobs" / "9.stop").read_text() == first


def test_values_that_could_break_a_line_are_dropped(tmp_path: Path) -> None:
    env = {"SLURM_CARBON_SPOOL": str(tmp_path), "SLURM_JOB_ID": "9", "SLURM_JOB_GPUS": "0\nTIME=1"}
    run(SHIMS["start"], env)
    record = parse_handoff((tmp_path / "jobs" / "9.start").read_text())
    assert record.job_gpus == ""
    assert record.time_s > 1


def test_a_non_numeric_job_id_writes_nothing(tmp_path: Path) -> None:
    run(SHIMS["start"], {"SLURM_CARBON_SPOOL": str(tmp_path), "SLURM_JOB_ID": "../x"})
    assert not (tmp_path / "jobs").exists()
    assert not any(p.name.startswith(".") for p in tmp_path.rglob("*"))


def test_no_temporary_file_is_left_behind(tmp_path: Path) -> None:
    for job in range(5):
        run(SHIMS["start"], {"SLURM_CARBON_SPOOL": str(tmp_path), "SLURM_JOB_ID": str(job)})
    assert sorted(os.listdir(tmp_path / "jobs")) == [f"{j}.start" for j in range(5)]


def test_a_huge_job_comment_is_cut_so_the_agent_still_reads_the_start(tmp_path: Path) -> None:
    env = {
        "SLURM_CARBON_SPOOL": str(tmp_path),
        "SLURM_JOB_ID": "9",
        "SLURM_JOB_COMMENT": "é" * 50_000,  # 100,000 bytes
    }
    run(SHIMS["start"], env)

    path = tmp_path / "jobs" / "9.start"
    assert path.stat().st_size <= HANDOFF_MAX_BYTES
    record = parse_handoff(read_trusted(path, HANDOFF_MAX_BYTES))
    assert record.comment == "é" * 2048


#: Who owns the test's progress files: nobody's uid, so that root is not the owner.
NOBODY = 65534


def test_the_prolog_makes_the_jobs_progress_file_and_the_epilog_leaves_it_to_the_agent(
    tmp_path: Path,
) -> None:
    progress = tmp_path / "run" / "progress"
    env = {
        "SLURM_CARBON_SPOOL": str(tmp_path / "spool"),
        PROGRESS_DIR_ENV: str(progress),
        "SLURM_JOB_ID": "4242",
        "SLURM_JOB_UID": str(NOBODY),
    }
    done, elapsed = run(SHIMS["start"], env)
    assert (done.returncode, elapsed < 1.0) == (0, True)

    st = os.lstat(progress / "4242")
    assert stat.S_ISREG(st.st_mode)
    assert (st.st_uid, stat.S_IMODE(st.st_mode), st.st_size) == (NOBODY, 0o600, 0)
    dir_st = os.lstat(progress)
    assert (dir_st.st_uid, stat.S_IMODE(dir_st.st_mode)) == (0, 0o755)

    run(SHIMS["stop"], env)
    assert os.listdir(progress) == ["4242"]  # the agent reads it a last time, then removes it


def test_the_prolog_replaces_a_link_left_where_the_file_goes(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_text("root's")
    progress = tmp_path / "progress"
    progress.mkdir()
    (progress / "9").symlink_to(target)
    env = {PROGRESS_DIR_ENV: str(progress), "SLURM_JOB_ID": "9", "SLURM_JOB_UID": str(NOBODY)}
    env["SLURM_CARBON_SPOOL"] = str(tmp_path / "spool")

    run(SHIMS["start"], env)

    assert stat.S_ISREG(os.lstat(progress / "9").st_mode)
    assert (target.read_text(), target.stat().st_uid) == ("root's", 0)


@pytest.mark.parametrize("uid", ["", "../1", "1000\nX=1"])
def test_without_a_numeric_uid_no_progress_file_is_made(tmp_path: Path, uid: str) -> None:
    env = {
        "SLURM_CARBON_SPOOL": str(tmp_path / "spool"),
        PROGRESS_DIR_ENV: str(tmp_path / "progress"),
        "SLURM_JOB_ID": "9",
        "SLURM_JOB_UID": uid,
    }
    run(SHIMS["start"], env)
    assert not (tmp_path / "progress").exists()


@pytest.mark.parametrize("event", ["start", "stop"])
def test_an_unusable_progress_dir_still_exits_0_at_once(event: str, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    env = {
        "SLURM_CARBON_SPOOL": str(tmp_path / "spool"),
        PROGRESS_DIR_ENV: str(blocker / "progress"),
        "SLURM_JOB_ID": "7",
        "SLURM_JOB_UID": str(NOBODY),
    }
    done, elapsed = run(SHIMS[event], env)
    assert (done.returncode, done.stdout) == (0, b"")
    assert elapsed < 1.0
    assert (tmp_path / "spool" / "jobs" / f"7.{event}").is_file()
