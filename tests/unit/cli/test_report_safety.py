"""``slurm-carbon report`` with hostile names and corrupt figures in the store.

A job name (and user, account, partition names) holding terminal escape
sequences must reach no terminal raw, in any output; figures that are not
finite (PostgreSQL stores ``inf`` and ``NaN``) must not make ``--json`` invalid.
"""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner, Result

from slurm_carbon.cli.main import cli
from slurm_carbon.cli.report import Caller
from slurm_carbon.cli.report_format import JOB_COLUMNS
from slurm_carbon.cli.report_json import REPORT_JSON_SCHEMA
from slurm_carbon.store import (
    JobResult,
    get_or_create_cluster,
    make_engine,
    session_factory,
    upgrade,
    upsert_job,
)
from slurm_carbon.text import escape_control, has_control
from slurm_carbon.vocabulary import EnergyMethod, Sharing

NOW = datetime(2024, 3, 14, 18, 0, tzinfo=UTC)
ROOT = Caller("root", now=NOW)
HOSTILE = "\x1b]0;owned\x07\x1b[2Jx\ny"
SHOWN = r"\x1b]0;owned\x07\x1b[2Jx\x0ay"
KWH = 3.6e6
WINDOW = ["-S", "2024-03-14"]


def _result(job_id: int, gpu_energy_j: float, co2e_g: float) -> JobResult:
    return JobResult(
        job_id=job_id,
        gpu_energy_j=gpu_energy_j,
        cpu_energy_j=0.0,
        dram_energy_j=0.0,
        co2e_g=co2e_g,
        ci_mean_g_per_kwh=250.0,
        ci_region="FR",
        ci_source="electricitymaps",
        pue=1.0,
        quality=EnergyMethod.COUNTER,
        sharing=Sharing.EXCLUSIVE,
        computed_at=NOW,
    )


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)]
)
def url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Job 500 with hostile names; job 501 with an infinite CO2e (and NaN energy on PostgreSQL)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('safety') / 'r.db'}"
    else:
        url = str(request.getfixturevalue("postgres_databases").create("safety"))
    upgrade(url)
    engine = make_engine(url)
    with session_factory(engine).begin() as session:
        cluster = get_or_create_cluster(session, "tc")
        end = NOW - timedelta(hours=2)
        hostile = upsert_job(
            session, cluster.id, 500, name=HOSTILE, user_name="ev\x1b[31mil",
            account="acc\x9bt", partition="p\u202eart", start_time=end - timedelta(hours=1),
            end_time=end, state="COMPLETED", requested_gpus=1,
        )  # fmt: skip
        broken = upsert_job(
            session, cluster.id, 501, name="broken", user_name="bob", account="a", partition="p",
            start_time=end - timedelta(hours=1), end_time=end, state="COMPLETED",
            requested_gpus=1,
        )  # fmt: skip
        session.add(_result(hostile.id, 1.0 * KWH, 250.0))
        # SQLite turns NaN into NULL (refused by NOT NULL); PostgreSQL keeps it.
        nan_or_inf = math.inf if request.param == "sqlite" else math.nan
        session.add(_result(broken.id, nan_or_inf, math.inf))
    engine.dispose()
    return url


def run(url: str, *args: str) -> Result:
    result = CliRunner(env={"SLURM_CARBON_CONFIG": None}).invoke(
        cli, ["report", "--url", url, *args], obj=ROOT
    )
    assert result.exit_code == 0, result.output
    return result


def assert_no_raw_control(text: str) -> None:
    assert not has_control(text.replace("\n", "")), repr(text)


@pytest.mark.parametrize(
    "args",
    [
        pytest.param([*WINDOW], id="table"),
        pytest.param(["-j", "500"], id="detail"),
        pytest.param(["-P", *WINDOW], id="parsable2"),
        pytest.param(["--csv", *WINDOW], id="csv"),
        pytest.param(["--by", "user", *WINDOW], id="by-user"),
        pytest.param(["--by", "account", "-P", *WINDOW], id="by-account-parsable2"),
        pytest.param(["--by", "partition", "--csv", *WINDOW], id="by-partition-csv"),
        pytest.param(["--json", *WINDOW], id="json"),
        pytest.param(["--json", "--by", "user", *WINDOW], id="json-by-user"),
    ],
)
def test_no_output_carries_a_control_character(url: str, args: list[str]) -> None:
    assert_no_raw_control(run(url, *args).stdout)


def test_the_table_and_the_detail_show_the_name_escaped(url: str) -> None:
    table = run(url, *WINDOW).stdout
    detail = run(url, "-j", "500").stdout

    assert SHOWN in table
    assert r"ev\x1b[31mil" in table
    assert f"Job 500 ({SHOWN})" in detail
    assert r"acc\x9bt" in detail
    assert r"p\u202eart" in detail


def test_parsable2_and_csv_keep_one_line_per_job_with_the_name_escaped(url: str) -> None:
    lines = run(url, "-P", "-n", *WINDOW).stdout.splitlines()
    rows = list(csv.reader(io.StringIO(run(url, "--csv", "-n", *WINDOW).stdout)))

    assert len(lines) == 2
    fields = lines[0].split("|", len(JOB_COLUMNS) - 1)
    assert fields[:4] == ["500", r"ev\x1b[31mil", r"acc\x9bt", r"p\u202eart"]
    assert fields[-1] == SHOWN
    assert [row[0] for row in rows] == ["500", "501"]
    assert rows[0][-1] == SHOWN


def test_json_escapes_the_name_and_gives_it_back_exactly(url: str) -> None:
    document = json.loads(run(url, "--json", *WINDOW).stdout)

    job = document["jobs"][0]
    assert (job["name"], job["user"], job["account"]) == (HOSTILE, "ev\x1b[31mil", "acc\x9bt")


def _strict(text: str) -> Any:
    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} in the JSON")

    return json.loads(text, parse_constant=refuse)


def test_json_holds_no_nan_or_infinity_and_names_what_was_not_finite(url: str) -> None:
    document = _strict(run(url, "--json", *WINDOW).stdout)

    jsonschema.validate(document, REPORT_JSON_SCHEMA)
    good, broken = document["jobs"]
    assert "non_finite" not in good
    assert good["co2e_g"] == 250.0
    assert broken["co2e_g"] is None
    assert broken["gpu_kwh"] is None
    assert broken["facility_kwh"] is None
    assert broken["non_finite"] == ["co2e_g", "facility_kwh", "gpu_kwh"]
    assert document["totals"]["co2e_g"] is None
    assert "co2e_g" in document["totals"]["non_finite"]
    assert document["totals"]["jobs"] == 2
    assert document["equivalents"] == []


def test_json_by_group_holds_no_nan_or_infinity(url: str) -> None:
    groups = _strict(run(url, "--json", "--by", "user", *WINDOW).stdout)["groups"]

    by_key = {escape_control(group["key"]): group for group in groups}
    assert by_key["bob"]["co2e_g"] is None
    assert by_key[r"ev\x1b[31mil"]["co2e_g"] == 250.0


def test_the_table_says_not_finite_instead_of_a_number(url: str) -> None:
    out = run(url, *WINDOW).stdout

    assert "not finite" in out
    assert "About as much as" not in out  # no equivalents of an infinite total
