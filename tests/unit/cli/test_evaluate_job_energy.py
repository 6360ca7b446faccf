"""``slurm-carbon evaluate job-energy``: its JSON, its targets on a Zeus profile, bad profiles."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from slurm_carbon.cli.main import cli
from slurm_carbon.forecast.energy_eval import CHECKPOINTS, SCENARIOS

#: Issue 10's targets after 10 % of the work: MAPE in percent.
TARGET_CONSTANT_CAP_PCT = 2.0
TARGET_CAP_CHANGES_PCT = 5.0


def test_job_energy_json_shape(tmp_path: Path) -> None:
    profile = tmp_path / "profile.csv"
    profile.write_text("power_limit_w,throughput,power_w\n100,0.6,80\n200,1.0,190\n300,1.1,250\n")

    result = CliRunner().invoke(
        cli, ["evaluate", "job-energy", "--profile", str(profile), "--jobs", "20", "--json"]
    )

    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    names = ["10%", "25%", "50%"]
    assert len(names) == len(CHECKPOINTS)
    assert data["profile"] == "profile"
    assert data["jobs"] == 20
    assert sorted(data["mape_percent"]) == sorted(SCENARIOS)
    for scenario in SCENARIOS:
        assert sorted(data["mape_percent"][scenario]) == ["baseline", "ours"]
        for row in data["mape_percent"][scenario].values():
            assert sorted(row) == sorted(names)
        assert sorted(data["coverage_percent"][scenario]) == sorted(names)


def test_job_energy_on_a_zeus_profile_meets_the_targets(
    shared_data: Callable[[str], Path],
) -> None:
    path = shared_data("gpu_power_profiles/zeus_nsdi23/summary_power_v100.csv")

    result = CliRunner().invoke(
        cli, ["evaluate", "job-energy", "--profile", str(path), "--json", "--jobs", "100"]
    )

    assert result.exit_code == 0, result.output
    mape = json.loads(result.output)["mape_percent"]
    assert mape["constant_cap"]["ours"]["10%"] <= TARGET_CONSTANT_CAP_PCT
    assert mape["cap_changes"]["ours"]["10%"] <= TARGET_CAP_CHANGES_PCT
    assert mape["cap_changes"]["ours"]["10%"] < mape["cap_changes"]["baseline"]["10%"]


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("power_limit_w,throughput,power_w\n100,nan,80\n", "line 2"),
        ("power_limit_w,throughput,power_w\n100,0.5\n", "line 2"),
        ("power_limit_w,throughput,power_w\n100,0.5,80\n200,-1,90\n", "line 3"),
        ("power_limit_w,throughput,power_w\n", "no profile rows"),
        ("power_limit_w,throughput,power_w\n100,0.5,80\n100,0.6,90\n", "sorted and distinct"),
    ],
)
def test_a_bad_plain_profile_is_one_error_line(tmp_path: Path, text: str, shown: str) -> None:
    profile = tmp_path / "bad.csv"
    profile.write_text(text)

    result = CliRunner().invoke(cli, ["evaluate", "job-energy", "--profile", str(profile)])

    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert result.output.startswith("Error: ")
    assert shown in result.output


def test_the_filter_flags_select_what_workload_does(shared_data: Callable[[str], Path]) -> None:
    path = shared_data("gpu_power_profiles/zeus_nsdi23/summary_power_v100.csv")
    args = ["evaluate", "job-energy", "--profile", str(path), "--json", "--jobs", "5"]
    flags = ["--dataset", "cifar100", "--network", "shufflenetv2", "--batch-size", "1024"]
    workload = ["--workload", "cifar100/shufflenetv2/1024/adam"]

    by_flags = CliRunner().invoke(cli, [*args, *flags, "--optimizer", "adam"])
    by_workload = CliRunner().invoke(cli, [*args, *workload])
    default = CliRunner().invoke(cli, [*args, *flags])  # adadelta: first alphabetically

    assert by_flags.exit_code == 0, by_flags.output
    assert by_flags.output == by_workload.output
    assert json.loads(by_flags.output)["profile"] == "v100 cifar100/shufflenetv2/1024/adam"
    assert json.loads(default.output)["profile"] == "v100 cifar100/shufflenetv2/1024/adadelta"
