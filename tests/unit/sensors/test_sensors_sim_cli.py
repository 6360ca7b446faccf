import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from slurm_carbon.cli import sim as sim_cli
from slurm_carbon.cli.main import cli
from slurm_carbon.jobprogress import PROGRESS_DIR_ENV, parse_progress_record, progress
from slurm_carbon.sensors.sim import SimBackend, state_path


@pytest.fixture
def sim_dir(tmp_path: Path) -> Path:
    result = CliRunner().invoke(cli, ["sim", "init", "--dir", str(tmp_path / "sim"), "--gpus", "3"])
    assert result.exit_code == 0, result.output
    assert result.output == f"sim: 3 GPUs in {tmp_path / 'sim'} (profile synthetic)\n"
    return tmp_path / "sim"


def test_status_lists_every_gpu(sim_dir: Path) -> None:
    result = CliRunner().invoke(cli, ["sim", "status", "--dir", str(sim_dir)])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert len(lines) == 3
    assert lines[2].startswith("2  GPU-sim-00000000-0002  limit 300 W  power 30.0 W  energy ")


def test_work_on_gpus_from_slurm_environment(sim_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["sim", "work", "--dir", str(sim_dir), "--units", "0.3", "--tick", "0.05"],
        env={"SLURM_JOB_GPUS": "0,2", "SLURM_JOB_ID": "31", "CUDA_VISIBLE_DEVICES": "1"},
    )
    assert result.exit_code == 0, result.output
    assert "sim: done 0.3 units in 0.3 s; gpu0 " in result.output
    truth = json.loads((sim_dir / "runs" / "31.json").read_text())
    assert [g["minor"] for g in truth["gpus"]] == [0, 2]
    # synthetic at 300 W: 270 W for 0.3 s
    assert truth["gpus"][0]["energy_j"] == pytest.approx(81, rel=0.05)


def test_work_in_a_job_reports_its_progress(
    sim_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    progress_dir = tmp_path / "progress"
    progress_dir.mkdir()
    (progress_dir / "32").touch(mode=0o600)
    seen: list[bytes] = []

    def spy(*args: float | None, **kwargs: float | None) -> bool:
        written = progress(*args, **kwargs)
        seen.append((progress_dir / "32").read_bytes()[:8])
        return written

    monkeypatch.setattr(sim_cli, "PROGRESS_EVERY_S", 0.0)
    monkeypatch.setattr(sim_cli, "report_progress", spy)
    result = CliRunner().invoke(
        cli,
        ["sim", "work", "--dir", str(sim_dir), "--units", "0.3", "--tick", "0.05"],
        env={"SLURM_JOB_GPUS": "0", "SLURM_JOB_ID": "32", PROGRESS_DIR_ENV: str(progress_dir)},
    )
    assert result.exit_code == 0, result.output
    fractions = [float(record) for record in seen]
    assert len(fractions) >= 3
    assert 0 < fractions[0] < fractions[-2] < 1
    assert fractions[-1] == 1.0
    assert parse_progress_record((progress_dir / "32").read_bytes())[0] == 1.0


def test_zeus_profile_at_init(tmp_path: Path, shared_data: Callable[[str], Path]) -> None:
    csv_path = shared_data("gpu_power_profiles/zeus_nsdi23/summary_power_p100.csv")
    result = CliRunner().invoke(
        cli,
        [
            "sim",
            "init",
            "--dir",
            str(tmp_path),
            "--gpus",
            "1",
            "--profile",
            str(csv_path),
            "--workload",
            "cifar100/shufflenetv2",
        ],
    )
    assert result.exit_code == 0, result.output
    gpu = SimBackend(tmp_path).gpus()[0]
    assert gpu.info.model == "Simulated P100"
    assert gpu.power_limits().min_mw == 125_000


@pytest.mark.parametrize(
    ("arguments", "env", "message"),
    [
        (["--gpus", "7", "--units", "1"], {}, "Error: no simulated GPU [7] under "),
        (["--gpus", "x", "--units", "1"], {}, "Error: --gpus: expected minor numbers"),
        (["--units", "1"], {}, "Error: no --gpus given and neither"),
        (
            ["--gpus", "0", "--units", "1", "--profile", "/absent.csv"],
            {},
            "Error: cannot read power profile /absent.csv",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_1(
    sim_dir: Path, arguments: list[str], env: dict[str, str], message: str
) -> None:
    clean = {"SLURM_JOB_GPUS": "", "SLURM_STEP_GPUS": "", "CUDA_VISIBLE_DEVICES": ""}
    result = CliRunner().invoke(
        cli, ["sim", "work", "--dir", str(sim_dir), *arguments], env={**clean, **env}
    )
    assert result.exit_code == 1
    assert result.output.startswith(message)
    assert result.output.count("\n") == 1


def test_status_of_an_empty_directory(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["sim", "status", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "no simulated GPUs under" in result.output


def test_scancel_sigterm_returns_the_gpu_to_idle(sim_dir: Path, tmp_path: Path) -> None:
    result_path = tmp_path / "truth.json"
    work = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "slurm-carbon"),
            "sim",
            "work",
            "--dir",
            str(sim_dir),
            "--gpus",
            "1",
            "--units",
            "1000",
            "--result",
            str(result_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while json.loads(state_path(sim_dir, 1).read_text())["busy_pid"] != work.pid:
            assert work.poll() is None, work.communicate()
            assert time.monotonic() < deadline, "workload never marked the GPU busy"
            time.sleep(0.05)
        assert SimBackend(sim_dir).gpus()[1].power_mw() == 270_000
        time.sleep(0.3)
        work.send_signal(signal.SIGTERM)
        work.communicate(timeout=20)
    finally:
        if work.poll() is None:
            work.kill()
            work.communicate()
    assert work.returncode == 128 + signal.SIGTERM
    assert SimBackend(sim_dir).gpus()[1].power_mw() == 30_000
    truth = json.loads(result_path.read_text())
    assert truth["completed"] is False
    assert 0 < truth["units"] < 1000
