"""``slurm-carbon agent``: set-cap's GPU check, the token check, run until SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from slurm_carbon.agent.spool import Spool
from slurm_carbon.cli.main import cli
from slurm_carbon.jobprogress import progress_record
from tests.unit.agent.conftest import hand_off


def test_set_cap_refuses_a_gpu_name_that_is_neither_uuid_nor_minor(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "agent",
            "set-cap",
            *("--socket", str(tmp_path / "agent.sock")),
            *("--job", "1", "--gpu", "x\ny", "--watts", "1"),
        ],
    )
    assert result.exit_code == 1
    assert result.output == (
        "Error: --gpu: 'x\\ny' is neither a minor number nor a UUID (GPU-...)\n"
    )


def test_run_refuses_a_token_file_others_can_read(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("abc\n")
    token.chmod(0o644)
    result = CliRunner().invoke(
        cli,
        [
            "agent",
            "run",
            "--spool",
            str(tmp_path),
            "--state",
            str(tmp_path),
            "--service-url",
            "http://127.0.0.1:9",
            "--token-file",
            str(token),
            "--cluster",
            "c",
            "--gpu-backend",
            "none",
        ],
    )
    assert result.exit_code == 1
    assert "readable by others (mode 644)" in result.output


def test_run_accounts_a_job_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("abc\n")
    token.chmod(0o600)
    spool, state = tmp_path / "spool", tmp_path / "state"
    now = time.time()
    hand_off(spool, 5, "start", now - 5)
    hand_off(spool, 5, "stop", now - 1)
    progress = tmp_path / "progress"
    progress.mkdir()
    (progress / "5").write_bytes(progress_record(0.75, now - 2))
    os.chown(progress / "5", 1000, 1000)  # the job's uid (hand_off's)
    env = {**os.environ, "SLURM_CARBON_TOKEN_FILE": str(token), "SLURM_CARBON_CLUSTER": "c"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from slurm_carbon.cli.main import main; main()",
            "agent",
            "run",
            "--spool",
            str(spool),
            "--state",
            str(state),
            "--service-url",
            "http://127.0.0.1:9",
            "--gpu-backend",
            "none",
            "--sample-s",
            "0.1",
            "--node",
            "n9",
            "--progress-dir",
            str(progress),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (spool / "jobs" / "5.start").exists():
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=20)

    assert process.returncode == 0, stderr
    assert "job 5 accounted" in stderr
    assert "agent stopped" in stderr
    assert Spool(state / "agent.db").finished_jobs() == {5}
    [point] = Spool(state / "agent.db").progress(10)
    assert (point.job_id, point.fraction) == (5, 0.75)
