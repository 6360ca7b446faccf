"""``slurm-carbon advise``: a job's cleanest start from the stored CI ahead, table and JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from slurm_carbon.cli.advise import NO_ADVICE_EXIT
from slurm_carbon.cli.main import cli
from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.slurm.fake import FakeSlurm
from slurm_carbon.store import make_engine, session_factory, transaction, upgrade
from slurm_carbon.store.intensity import add_ci_points
from slurm_carbon.vocabulary import CiKind, CiSignal
from tests.builders import slurm_job

MODEL = "NVIDIA A100-SXM4-80GB"
SITE = f"""
cluster = "c1"
[regions]
default = "DE"
partitions = {{ cpu = "FR", empty = "PL" }}
[pue]
default = 1.25
[advice]
gpu_power_w = {{ "{MODEL}" = 300 }}
partition_gpu = {{ gpu = "{MODEL}" }}
"""
#: The forecast from the current hour: clean in the fourth hour.
VALUES = [400.0, 400.0, 400.0, 100.0] + [400.0] * 8


@pytest.fixture
def setup(tmp_path: Path, local_time_utc: None) -> tuple[list[str], datetime]:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    issued = hour - timedelta(hours=1)
    engine = make_engine(url)
    with transaction(session_factory(engine)) as session:
        add_ci_points(
            session,
            [
                CiPoint("DE", hour + timedelta(hours=i), 3600, v, "ours", CiKind.FORECAST,
                        CiSignal.AVERAGE, issued)
                for i, v in enumerate(VALUES)
            ]
            + [CiPoint("FR", issued, 3600, 55.0, "uk", CiKind.ACTUAL, CiSignal.AVERAGE, issued)],
        )  # fmt: skip
    engine.dispose()
    (tmp_path / "site.toml").write_text(SITE)
    return ["advise", "--url", url, "--config", str(tmp_path / "site.toml")], hour


def test_json_gives_the_valley_the_co2e_and_the_sbatch_options(
    setup: tuple[list[str], datetime],
) -> None:
    args, hour = setup
    result = CliRunner().invoke(cli, [*args, "-t", "60", "-p", "gpu", "--gres=gpu:2", "--json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    best = hour + timedelta(hours=3)
    assert found["best"]["start"] == best.isoformat()
    assert found["saving_pct"] == pytest.approx(75.0)
    # 300 W x 2 GPUs x 1 h = 0.6 kWh, x PUE 1.25, at 400 and at 100 g/kWh.
    assert found["now"]["co2e_g"] == pytest.approx(300.0)
    assert found["best"]["co2e_g"] == pytest.approx(75.0)
    assert found["power"] == {"power_w_per_gpu": 300.0, "basis": f"site default ({MODEL})"}
    assert found["series"]["source"] == "ours"
    assert found["begin"] == f"--begin={best.strftime('%Y-%m-%dT%H:%M:%S')}"
    assert found["comment"].startswith("--comment carbon_defer=")


def test_the_table_names_the_series_and_the_begin_value(
    setup: tuple[list[str], datetime],
) -> None:
    args, hour = setup
    result = CliRunner().invoke(cli, [*args, "-t", "1:00:00", "-p", "gpu", "-N", "2"])
    assert result.exit_code == 0, result.output
    assert "forecast ours, issued" in result.output
    assert f"--begin={(hour + timedelta(hours=3)).strftime('%Y-%m-%dT%H:%M:%S')}" in result.output
    assert "75 %" in result.output
    assert "site default" in result.output


def test_a_carried_actual_is_said_in_words(setup: tuple[list[str], datetime]) -> None:
    args, _ = setup
    result = CliRunner().invoke(cli, [*args, "-t", "60", "-p", "cpu"])
    assert result.exit_code == 0, result.output
    assert "no forecast: the last actual value held" in result.output
    assert "now is the cleanest start" in result.output
    assert "unknown (no GPUs" in result.output


def test_nothing_stored_or_a_job_beyond_the_series_is_no_advice(
    setup: tuple[list[str], datetime],
) -> None:
    args, _ = setup
    result = CliRunner().invoke(cli, [*args, "-t", "60", "-p", "empty"])
    assert result.exit_code == NO_ADVICE_EXIT
    assert result.output.strip() == "no advice: no carbon intensity is stored for region PL"
    result = CliRunner().invoke(cli, [*args, "-t", "1-0", "-p", "gpu"])
    assert result.exit_code == NO_ADVICE_EXIT
    assert "before a job of 24 h started now would end" in result.output


def test_a_job_shorter_than_the_hints_minimum_is_advised_and_told_no_hint_is_shown(
    setup: tuple[list[str], datetime],
) -> None:
    args, _ = setup
    table = CliRunner().invoke(cli, [*args, "-t", "30", "-p", "gpu"])
    found = CliRunner().invoke(cli, [*args, "-t", "30", "-p", "gpu", "--json"])
    long = CliRunner().invoke(cli, [*args, "-t", "60", "-p", "gpu"])

    assert table.exit_code == 0, table.output
    assert "no hint at sbatch for a job shorter than 60 min" in table.output
    assert "75 %" in table.output  # the advice itself is given
    assert json.loads(found.output)["hint_min_s"] == 3600  # [advice] hint_min_minutes default
    assert "no hint at sbatch" not in long.output


@pytest.fixture
def slurm(monkeypatch: pytest.MonkeyPatch) -> FakeSlurm:
    """Slurm as advise -j asks it: a fake in place of the command-line client."""
    fake = FakeSlurm(
        slurm_job(7, state="PENDING", partition="gpu", time_limit_s=7200.0, req_gpus=2,
                  name="train", start_time=None, end_time=None),
        slurm_job(8, state="RUNNING", partition="gpu", end_time=None),
    )  # fmt: skip
    monkeypatch.setattr("slurm_carbon.cli.advise.CommandLineSlurm", lambda runner: fake)
    return fake


def test_a_pending_jobs_shape_comes_from_slurm(
    setup: tuple[list[str], datetime], slurm: FakeSlurm
) -> None:
    args, hour = setup
    result = CliRunner().invoke(cli, [*args, "-j", "7"])
    assert result.exit_code == 0, result.output
    cells = [line.split("│")[1:3] for line in result.output.splitlines() if "│" in line]
    rows = {name.strip(): value.strip() for name, value in cells}
    assert rows["Job"] == "2 h, 2 GPU(s), partition gpu"  # sacct's, not a default
    # 300 W x 2 GPUs x 2 h = 1.2 kWh, x PUE 1.25 = 1.5 kWh: 600 g at 400 g/kWh now,
    # 375 g at the mean 250 g/kWh of the two hours from the valley's eve.
    assert rows["Power (estimate)"].startswith("300 W per GPU, site default")
    assert rows["Start now"].endswith(": 400 g/kWh, ~600 g")
    best = (hour + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S")
    assert rows["Cleanest start"] == f"{best}: 250 g/kWh, ~375 g"
    assert rows["sbatch"] == f"--begin={best}"


@pytest.mark.parametrize(
    ("job", "error"),
    [
        ("8", "Error: job 8 is RUNNING, not pending: nothing to advise"),
        ("9", "Error: job '9': not found (or an array: name one task)"),
    ],
)
def test_a_job_that_is_not_pending_is_refused_in_one_line(
    setup: tuple[list[str], datetime], slurm: FakeSlurm, job: str, error: str
) -> None:
    args, _ = setup
    result = CliRunner().invoke(cli, [*args, "-j", job])
    assert result.exit_code == 1
    assert result.output.strip() == error
