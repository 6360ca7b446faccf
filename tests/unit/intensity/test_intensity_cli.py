from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from slurm_carbon.cli.main import cli
from tests.unit.intensity.conftest import FIXTURES


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["intensity", *args])
    return result.exit_code, result.output


def test_import_real_trace_twice_and_show(db_url: str, shared_data: Callable[[str], Path]) -> None:
    path = shared_data("carbon_intensity/SE_direct_2020.csv")
    code, out = _run("import", str(path), "--region", "SE-cli", "--source", "dacf", "--url", db_url)
    assert code == 0, out
    assert "8784 rows" in out
    assert "step 3600 s; 8784 new, 0 already stored" in out
    code, out = _run("import", str(path), "--region", "SE-cli", "--source", "dacf", "--url", db_url)
    assert (code, "; 0 new, 8784 already stored" in out) == (0, True), out
    code, out = _run("show", "--region", "SE-cli", "--url", db_url)
    assert code == 0, out
    assert (
        "SE-cli dacf actual average: 8784 points, 2020-01-01T00:00:00+00:00 to"
        " 2020-12-31T23:00:00+00:00; mean 39.79, min 8.63, max 62.09 gCO2e/kWh"
    ) in out
    code, out = _run(
        "show",
        "--region",
        "SE-cli",
        "--start",
        "2020-12-31",
        "--end",
        "2021-01-01",
        "--url",
        db_url,
    )
    assert "24 points" in out


def test_import_small_fixture_marginal_and_show_annual(db_url: str) -> None:
    code, out = _run(
        "import",
        str(FIXTURES / "small_epoch.csv"),
        "--region",
        "DE-cli",
        "--signal",
        "marginal",
        "--url",
        db_url,
    )
    assert code == 0, out
    assert "3 new" in out
    code, out = _run("show", "--region", "DE-cli", "--url", db_url)
    assert "DE-cli trace actual marginal: 3 points" in out
    assert "mean 210.00" in out
    code, out = _run(
        "show", "--region", "DE", "--start", "1999-01-01", "--end", "1999-01-02", "--url", db_url
    )
    assert "DE: nothing stored in that range" in out
    assert "DE annual (Germany, 2023): 380.95 gCO2e/kWh" in out
    assert "Our World in Data (via codecarbon, MIT); data year 2023]" in out


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("bad_value.csv", "bad_value.csv, line 3: carbon intensity 'abc' is not a number"),
        ("no_ci_column.csv", "no carbon-intensity column"),
    ],
)
def test_import_bad_file_is_one_line_error(db_url: str, name: str, message: str) -> None:
    code, out = _run("import", str(FIXTURES / name), "--region", "BAD", "--url", db_url)
    assert code == 1
    assert message in out
    assert "Traceback" not in out


def test_annual_command() -> None:
    code, out = _run("annual", "US-CA")
    assert code == 0
    assert out.startswith("US-CA annual (California, 2023): ")
    code, out = _run("annual", "Atlantis")
    assert (code, out.strip()) == (
        1,
        "Error: no embedded annual carbon intensity for region 'Atlantis'",
    )


def test_show_needs_a_migrated_database(tmp_path: object) -> None:
    code, out = _run("show", "--region", "SE", "--url", f"sqlite:///{tmp_path}/empty.db")
    assert code == 1
    assert "has no schema" in out
