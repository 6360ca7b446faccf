"""``slurm-carbon evaluate control``: its JSON against the schema, its decisions, its targets."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from slurm_carbon.cli.evaluate_control import CONTROL_JSON_SCHEMA, DECISION_COLUMNS
from slurm_carbon.cli.main import cli
from slurm_carbon.control.replay import POLICIES

# The hand-made profile of tests/unit/control at 250, 275, 300 W (the 25 W grid's
# points) and its dirty-then-clean trace: the figures computed there by hand.
PROFILE = "power_limit_w,throughput,power_w\n250,0.6,100\n275,0.9,180\n300,1.0,250\n"
TRACE = "time,ci_g_per_kwh\n" + "".join(
    f"2020-01-01T0{hour}:00:00+00:00,{ci}\n" for hour, ci in enumerate([400, 100, 100, 100])
)
SMALL = ["--max-slowdown", "0.06", "--job-hours", "2", "--period", "1h"]
V100 = "gpu_power_profiles/zeus_nsdi23/summary_power_v100.csv"


def run(tmp_path: Path, *extra: str) -> tuple[int, str]:
    (tmp_path / "profile.csv").write_text(PROFILE)
    (tmp_path / "trace.csv").write_text(TRACE)
    args = ["evaluate", "control", "--profile", str(tmp_path / "profile.csv")]
    result = CliRunner().invoke(cli, [*args, "--trace", str(tmp_path / "trace.csv"), *extra])
    return result.exit_code, result.output


def test_the_json_follows_its_schema_with_the_figures_computed_by_hand(tmp_path: Path) -> None:
    code, output = run(tmp_path, *SMALL, "--json")

    assert code == 0, output
    data = json.loads(output)
    jsonschema.validate(data, CONTROL_JSON_SCHEMA)
    assert list(data["policies"]) == list(POLICIES)
    assert data["jobs"] == 1
    assert data["limits_w"] == [250.0, 275.0, 300.0]
    assert data["node_overhead_w"] is None
    assert data["known_hours"] is None
    assert data["policies"]["carbon"]["carbon_reduction_pct"] == pytest.approx(4.0)
    assert data["policies"]["carbon_oracle"]["premium_pp"] == pytest.approx(8.4)
    assert data["policies"]["chase"]["mean_slowdown_pct"] == pytest.approx(5.0)
    assert [cap["carbon_reduction_pct"] for cap in data["static_caps"]] == pytest.approx(
        [49.3333, 24.8, 0.0]
    )


def test_node_overhead_shrinks_the_saving_of_lower_caps(tmp_path: Path) -> None:
    code, output = run(tmp_path, *SMALL, "--node-overhead-w", "100", "--json")

    assert code == 0, output
    data = json.loads(output)
    assert data["node_overhead_w"] == 100.0
    # 200 W for 8000 s over 94 g worth of intensity against 350 W for 7200 s over 125:
    # 1 - 280 x 1.88e6 / (350 x 1.8e6), where without overhead it saves 24.8 %.
    assert data["static_caps"][1]["carbon_reduction_pct"] == pytest.approx(16.4444, abs=1e-3)


def test_the_decisions_csv_has_one_row_per_period(tmp_path: Path) -> None:
    out = tmp_path / "decisions.csv"

    code, output = run(tmp_path, *SMALL, "--decisions", str(out))

    assert code == 0, output
    with out.open(newline="") as stream:
        rows = list(csv.reader(stream))
    start = "2020-01-01T00:00:00+00:00"
    assert rows == [
        list(DECISION_COLUMNS),
        [start, start, "300"],
        [start, "2020-01-01T01:00:00+00:00", "275"],
        [start, "2020-01-01T02:00:00+00:00", "275"],
    ]


def test_the_table_names_every_policy(tmp_path: Path) -> None:
    code, output = run(tmp_path, *SMALL)

    assert code == 0, output
    rows = {line.split()[0]: line.split() for line in output.splitlines()[2:7]}
    assert list(rows) == list(POLICIES)
    assert rows["carbon_oracle"][-2:] == ["8.40", "pp"]


def test_known_hours_add_a_row_with_the_oracle_figures_when_they_cover_the_job(
    tmp_path: Path,
) -> None:
    code, output = run(tmp_path, *SMALL, "--known-hours", "3", "--json")

    assert code == 0, output
    data = json.loads(output)
    jsonschema.validate(data, CONTROL_JSON_SCHEMA)
    assert data["known_hours"] == 3.0
    assert list(data["policies"]) == [*POLICIES, "carbon_partial"]
    assert data["policies"]["carbon_partial"] == data["policies"]["carbon_oracle"]
    code, table = run(tmp_path, *SMALL, "--known-hours", "3")
    assert "carbon_partial: ours with the actual intensity for the first 3 h" in table


def test_a_trace_too_short_for_a_job_is_one_line(tmp_path: Path) -> None:
    code, output = run(tmp_path, "--job-hours", "24")

    assert code == 1
    assert output == "Error: trace.csv: the trace is shorter than 1.3 x the job's 24 h\n"


@pytest.mark.parametrize("region", ["CISO", "ERCO", "SE"])
def test_the_v100_resnet50_targets(shared_data: Callable[[str], Path], region: str) -> None:
    trace = shared_data(f"carbon_intensity/{region}_direct_2020.csv")
    args = ["--profile", str(shared_data(V100)), "--workload", "imagenet/resnet50/128"]

    result = CliRunner().invoke(
        cli, ["evaluate", "control", *args, "--trace", str(trace), "--json"]
    )

    assert result.exit_code == 0, result.output
    policies = json.loads(result.output)["policies"]
    assert policies["carbon"]["mean_slowdown_pct"] <= 2.5
    assert policies["carbon"]["worst_slowdown_pct"] <= 2.5 + 1e-9
    assert policies["carbon"]["premium_pp"] > 0


def test_workload_and_a_filter_flag_together_are_one_error_line(tmp_path: Path) -> None:
    code, output = run(tmp_path, "--workload", "imagenet/resnet50", "--network", "resnet50")

    assert (code, output) == (1, "Error: --workload or --network: give one form, not both\n")
