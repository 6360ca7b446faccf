"""``slurm-carbon report`` on SQLite and PostgreSQL: formats, filters, totals, permissions."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner, Result

from slurm_carbon.cli.main import cli
from slurm_carbon.cli.report import Caller
from slurm_carbon.cli.report_format import JOB_COLUMNS
from slurm_carbon.cli.report_json import REPORT_JSON_SCHEMA
from slurm_carbon.store import (
    get_or_create_cluster,
    make_engine,
    session_factory,
    upgrade,
    upsert_job,
)
from tests.unit.cli.test_report_data import (
    NOW,
    TOTAL_CO2E_G,
    TOTAL_FACILITY_KWH,
    WASTE_CO2E_G,
    seed,
)

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)]
ROOT = Caller("root", now=NOW)
ALICE = Caller("alice", frozenset({"alice", "users"}), now=NOW)
EVERYTHING = ["-S", "2024-01-01"]

pytestmark = pytest.mark.usefixtures("local_time_utc")


@pytest.fixture(scope="module", params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database holding the jobs of test_report_data, once per backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('report') / 'report.db'}"
    else:
        url = str(request.getfixturevalue("postgres_databases").create("report"))
    upgrade(url)
    engine = make_engine(url)
    with session_factory(engine).begin() as session:
        seed(session)
    engine.dispose()
    return url


def run(url: str, *args: str, caller: Caller = ROOT, config: Path | None = None) -> Result:
    env = {"SLURM_CARBON_CONFIG": None if config is None else str(config)}
    return CliRunner(env=env).invoke(cli, ["report", "--url", url, *args], obj=caller)


def site_config(tmp_path: Path, admins: str = "", regions: str = "[]") -> Path:
    path = tmp_path / "site.toml"
    path.write_text(
        'cluster = "tc"\n[regions]\ndefault = "FR"\n[pue]\ndefault = 1.5\n'
        f"[counterfactual]\nregions = {regions}\n[admins]\n{admins}\n"
    )
    return path


def parsable(result: Result) -> list[list[str]]:
    assert result.exit_code == 0, result.output
    return [line.split("|", len(JOB_COLUMNS) - 1) for line in result.stdout.splitlines()]


def ids(url: str, *args: str, caller: Caller = ROOT) -> list[str]:
    return [fields[0] for fields in parsable(run(url, "-P", "-n", *args, caller=caller))]


def as_json(url: str, *args: str, caller: Caller = ROOT) -> dict[str, Any]:
    result = run(url, "--json", *args, caller=caller)
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    jsonschema.validate(document, REPORT_JSON_SCHEMA)
    return document


def test_het_components_are_listed_and_selected_as_sacct_names_them(tmp_path: Path) -> None:
    """sacct 22.05 names het job 843's components 843+0 (raw 843) and 843+1 (raw 844)."""
    url = f"sqlite:///{tmp_path / 'het.db'}"
    upgrade(url)
    engine = make_engine(url)
    with session_factory(engine).begin() as session:
        cluster = get_or_create_cluster(session, "tc")
        for raw, offset in ((843, 0), (844, 1)):
            upsert_job(session, cluster.id, raw, het_job_id=843, het_job_offset=offset)
        upsert_job(session, cluster.id, 845, array_job_id=842, array_task_id=0)
    engine.dispose()

    assert ids(url, "-j", "843") == ["843+0", "843+1"]
    assert ids(url, "-j", "843+1,842") == ["843+1", "842_0"]
    assert ids(url, "-j", "844") == ["843+1"]
    assert [job["job_id"] for job in as_json(url, "-j", "843")["jobs"]] == ["843+0", "843+1"]
    helped = CliRunner().invoke(cli, ["report", "--help"]).output
    assert "12+1 (het job component)" in " ".join(helped.split())


# Formats


def test_parsable2_has_a_header_and_every_field_and_keeps_a_pipe_in_the_name(url: str) -> None:
    lines = parsable(run(url, "--parsable2", *EVERYTHING))

    assert lines[0] == list(JOB_COLUMNS)
    assert all(len(fields) == len(JOB_COLUMNS) for fields in lines)
    by_id = {fields[0]: dict(zip(JOB_COLUMNS, fields, strict=True)) for fields in lines[1:]}
    assert sorted(by_id) == ["100", "101", "102", "103", "200_1", "200_2", "300"]
    assert by_id["101"]["JobName"] == "train|v2 [x]"
    assert by_id["101"]["State"] == "FAILED"
    assert by_id["100"]["TotalkWh"] == "2.400000"
    assert by_id["100"]["GPUkWh"] == "1.000000"
    assert by_id["100"]["gCO2e"] == "600.000"
    assert by_id["100"]["Elapsed"] == "01:00:00"
    assert by_id["100"]["GPUs"] == "2"
    assert by_id["101"]["Quality"] == "estimated+annual-ci"


def test_parsable2_has_no_trailing_pipe_and_noheader_drops_the_header(url: str) -> None:
    result = run(url, "-P", "-n", *EVERYTHING)

    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 7
    assert not any(line.endswith("|") for line in lines if not line.startswith("101|"))
    assert lines[0].startswith("100|alice|physics|gpu|COMPLETED|")


def test_a_pending_job_is_pending_not_zero(url: str) -> None:
    (row,) = [fields for fields in parsable(run(url, "-P", "-j", "103")) if fields[0] == "103"]
    figures = dict(zip(JOB_COLUMNS, row, strict=True))

    assert figures["Quality"] == "pending"
    assert figures["gCO2e"] == figures["TotalkWh"] == figures["GPUkWh"] == ""
    (job,) = as_json(url, "-j", "103")["jobs"]
    assert job["pending"] is True
    assert job["co2e_g"] is None
    assert job["facility_kwh"] is None


def test_json_validates_and_its_totals_are_the_hand_computed_sums(url: str) -> None:
    document = as_json(url, *EVERYTHING)

    assert len(document["jobs"]) == 7
    by_id = {job["job_id"]: job for job in document["jobs"]}
    assert by_id["101"]["name"] == "train|v2 [x]"
    assert by_id["101"]["estimate"] is True
    assert by_id["101"]["waste"] is True
    assert by_id["100"]["estimate"] is False
    assert by_id["100"]["facility_kwh"] == pytest.approx(2.4)
    totals = document["totals"]
    assert totals["jobs"] == 7
    assert totals["pending_jobs"] == 1
    assert totals["estimated_jobs"] == 1
    assert totals["co2e_g"] == pytest.approx(TOTAL_CO2E_G)
    assert totals["waste_co2e_g"] == pytest.approx(WASTE_CO2E_G)
    assert totals["facility_kwh"] == pytest.approx(TOTAL_FACILITY_KWH)
    assert totals["gpu_kwh"] == pytest.approx(1.0 + 2.0 + 1.0 + 0.5)
    assert document["window"]["start"].startswith("2024-01-01T00:00:00")


def test_csv_round_trips(url: str) -> None:
    result = run(url, "--csv", *EVERYTHING)

    assert result.exit_code == 0
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == list(JOB_COLUMNS)
    assert all(len(row) == len(JOB_COLUMNS) for row in rows)
    assert rows[1:] == parsable(run(url, "-P", "-n", *EVERYTHING))
    assert {row[-1] for row in rows} >= {"train|v2 [x]"}


def test_the_table_marks_pending_estimates_and_waste(url: str) -> None:
    result = run(url, *EVERYTHING)

    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "pending" in out
    assert "│ ~1,200 Wh │  ~100 g │" in out  # job 101: estimated
    assert "│ 1,000 Wh │   500 Wh │ 100 Wh │     - │  2,400 Wh │   600 g │" in out  # job 100
    assert "train|v2 [x]" in out
    assert "Waste: 1,250 g CO2e (55.6 %)" in out
    assert "Total: 7 jobs (1 pending, 1 estimated): 2,250 g CO2e, 8,200 Wh at the facility" in out
    sources = "codecarbon-annual (FR): 1 job(s); electricitymaps (FR): 5 job(s)."
    assert f"Carbon intensity from {sources}" in out
    assert "SYNTHETIC" not in out


# Filters


def test_default_window_is_today_from_midnight_to_now(url: str) -> None:
    assert ids(url) == ["100", "101", "102", "103", "200_1", "200_2"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["-u", "bob"], ["102", "103"]),
        (["-u", "bob,carol"], ["102", "103", "300"]),
        (["-A", "physics"], ["100", "101", "200_1", "200_2"]),
        (["-r", "cpu"], ["101", "300"]),
        (["-s", "CA"], ["102"]),
        (["-s", "f,TO"], ["101", "200_2"]),
        (["-s", "OOM"], ["300"]),
        (["-s", "cancelled,completed", "-u", "bob"], ["102", "103"]),
        (["-S", "2024-03-14T11:30", "-E", "2024-03-14T14:00:00"], ["101", "102", "103"]),
        (["-S", "now-7days"], ["100", "101", "102", "103", "200_1", "200_2"]),
        (["-E", "2024-02-02"], ["300"]),
    ],
)
def test_filters(url: str, args: list[str], expected: list[str]) -> None:
    assert ids(url, *EVERYTHING, *args) == expected


@pytest.mark.parametrize(
    ("jobs", "expected"),
    [("200", ["200_1", "200_2"]), ("200_2", ["200_2"]), ("100,200_1", ["100", "200_1"])],
)
def test_jobs_by_id_and_array_task_whenever_they_ended(
    url: str, jobs: str, expected: list[str]
) -> None:
    assert ids(url, "-j", jobs) == expected


# Totals


def test_by_user_sums_each_user(url: str) -> None:
    groups = {g["key"]: g for g in as_json(url, "--by", "user", *EVERYTHING)["groups"]}

    assert sorted(groups) == ["alice", "bob", "carol"]
    assert groups["alice"]["jobs"] == 4
    assert groups["alice"]["co2e_g"] == pytest.approx(600 + 100 + 400 + 200)
    assert groups["alice"]["waste_co2e_g"] == pytest.approx(100 + 200)
    assert groups["alice"]["facility_kwh"] == pytest.approx(2.4 + 1.2 + 1.0 + 0.5)
    assert groups["bob"]["pending_jobs"] == 1
    assert groups["bob"]["co2e_g"] == pytest.approx(900)
    assert groups["bob"]["waste_co2e_g"] == pytest.approx(900)
    assert groups["carol"]["waste_co2e_g"] == pytest.approx(50)


def test_by_job_puts_an_arrays_tasks_together_in_parsable2(url: str) -> None:
    result = run(url, "-P", "--by", "job", *EVERYTHING)

    assert result.exit_code == 0
    lines = [line.split("|") for line in result.stdout.splitlines()]
    header, rows = lines[0], {row[0]: dict(zip(lines[0], row, strict=True)) for row in lines[1:]}
    assert header[0] == "Group"
    assert sorted(rows) == ["100", "101", "102", "103", "200", "300"]
    assert rows["200"]["Jobs"] == "2"
    assert rows["200"]["gCO2e"] == "600.000"
    assert rows["200"]["WastegCO2e"] == "200.000"
    assert rows["103"]["Pending"] == "1"


def test_by_account_table_and_csv_agree(url: str) -> None:
    table = run(url, "--by", "account", *EVERYTHING)
    rows = list(csv.reader(io.StringIO(run(url, "--csv", "--by", "account", *EVERYTHING).stdout)))

    assert table.exit_code == 0
    assert "chemistry" in table.stdout
    assert [row[0] for row in rows] == ["Group", "bio", "chemistry", "physics"]
    assert rows[2][rows[0].index("gCO2e")] == "900.000"
    assert rows[2][rows[0].index("OtherkWh")] == "0.000000"


# Detail


def test_one_job_shows_its_split_and_its_energy_and_intensity_over_time(url: str) -> None:
    result = run(url, "-j", "100")

    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Job 100" in out
    assert "Energy GPU   1,000 Wh (62 %)" in out  # GPU: 1.0 of 1.6 kWh
    assert "Energy CPU   500 Wh (31 %)" in out
    assert "Facility     2,400 Wh" in out
    assert "CO2e         600 g" in out
    assert "Energy over time" in out
    lines = [line for line in out.splitlines() if line.startswith("03-14 10:")]
    assert len(lines) == 2
    assert lines[0].split()[-1] == "200"  # CI in force at 10:00 (set at 09:45)
    assert lines[1].split()[-1] == "300"  # CI set at 10:30


def test_one_job_shows_the_cleanest_start_other_regions_and_its_energy_card(
    url: str, tmp_path: Path
) -> None:
    result = run(url, "-j", "100", config=site_config(tmp_path, regions='["SE", "PL"]'))

    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())
    # Actual: 1.125 facility kWh at 200 then at 300 g/kWh = 562.5 g; at 13:00, 2 x 1.125 x 50.
    assert "Cleanest start within 24 h (stored CI): 2024-03-14 13:00," in out
    assert "112 g CO2e instead of 562 g (saves 450 g, 80 %)" in out
    # SE at 20 g/kWh: 2.25 kWh x 20 = 45 g; PL has no stored CI and is left out.
    assert "Same job in SE (electricitymaps): 45.0 g CO2e (-518 g)" in out
    assert "Same job in PL" not in out
    assert "### Energy card: job" in out
    assert "| Emissions | 562 g CO2e |" in out


def test_totals_have_equivalents_with_their_sources(url: str) -> None:
    out = run(url, *EVERYTHING).stdout
    document = as_json(url, *EVERYTHING)

    car = next(eq for eq in document["equivalents"] if eq["name"] == "car_km")
    assert car["quantity"] == pytest.approx(TOTAL_CO2E_G / car["factor_g"])
    assert f"About as much as {car['quantity']:.1f} km driven" in out
    assert "or 274 smartphone full charges" in out  # 2,250 / 8.22 = 273.7
    assert "EEA 2022" in out
    assert "US EPA" in out


def test_one_pending_job_says_so(url: str) -> None:
    result = run(url, "-j", "103")

    assert result.exit_code == 0
    assert "pending: no result computed yet" in result.stdout
    assert "No energy intervals stored" in result.stdout


# Permissions


def test_a_user_sees_only_their_own_jobs(url: str) -> None:
    assert ids(url, *EVERYTHING, caller=ALICE) == ["100", "101", "200_1", "200_2"]
    assert as_json(url, *EVERYTHING, caller=ALICE)["totals"]["co2e_g"] == pytest.approx(1300)


@pytest.mark.parametrize(
    "args", [["-u", "bob"], ["-u", "alice,bob"], ["-j", "102"], ["-j", "100,103"]]
)
def test_a_user_asking_for_another_users_jobs_is_refused(url: str, args: list[str]) -> None:
    result = run(url, "-P", *EVERYTHING, *args, caller=ALICE)

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.output.startswith("Error: permission denied: alice ")
    assert result.output.count("\n") == 1


def test_a_user_may_name_their_own_jobs(url: str) -> None:
    assert ids(url, "-j", "200", caller=ALICE) == ["200_1", "200_2"]
    assert ids(url, "-u", "alice", *EVERYTHING, caller=ALICE) == ["100", "101", "200_1", "200_2"]


@pytest.mark.parametrize(
    "admins", ['users = ["alice"]', 'groups = ["users"]', 'users = ["x"]\ngroups = ["z", "users"]']
)
def test_configured_admins_see_every_job(url: str, tmp_path: Path, admins: str) -> None:
    config = site_config(tmp_path, admins)
    result = run(url, "-P", "-n", "-u", "bob", *EVERYTHING, caller=ALICE, config=config)

    assert result.exit_code == 0, result.output
    assert [line.split("|")[0] for line in result.stdout.splitlines()] == ["102", "103"]


def test_the_config_option_works_like_the_variable(url: str, tmp_path: Path) -> None:
    config = site_config(tmp_path, 'groups = ["users"]')
    result = run(url, "-P", "-n", "--config", str(config), *EVERYTHING, caller=ALICE)

    assert len(result.stdout.splitlines()) == 7


def test_a_config_naming_others_leaves_alice_a_user(url: str, tmp_path: Path) -> None:
    config = site_config(tmp_path, 'users = ["carol"]\ngroups = ["hpc-admins"]')
    result = run(url, "-P", "-u", "bob", *EVERYTHING, caller=ALICE, config=config)

    assert result.exit_code == 1
    assert "permission denied" in result.output


@pytest.mark.parametrize("admins", ["", 'users = ["carol"]\ngroups = ["hpc-admins"]'])
def test_root_sees_every_job_whoever_the_config_names(
    url: str, tmp_path: Path, admins: str
) -> None:
    config = site_config(tmp_path, admins)
    result = run(url, "-P", "-n", "-u", "bob", *EVERYTHING, caller=ROOT, config=config)

    assert result.exit_code == 0, result.output
    assert [line.split("|")[0] for line in result.stdout.splitlines()] == ["102", "103"]


def test_a_bad_config_is_one_line(url: str, tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("cluster = \n")

    result = run(url, "-P", caller=ALICE, config=config)

    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {config}: invalid TOML")
    assert result.output.count("\n") == 1


# Bad input


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-S", "yesterdayish"], "Error: invalid time 'yesterdayish'"),
        (["-S", "2024-02-30"], "Error: invalid time '2024-02-30'"),
        (["-E", "now-3fortnights"], "Error: invalid time 'now-3fortnights'"),
        (["-S", "2024-03-14", "-E", "2024-03-01"], "Error: start 2024-03-14T00:00:00 is after end"),
        (["-s", "DONE"], "Error: unknown job state 'DONE'"),
        (["-j", "12.batch"], "Error: invalid job id '12.batch'"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(url: str, args: list[str], message: str) -> None:
    result = run(url, *args)

    assert result.exit_code == 1
    assert result.output.startswith(message)
    assert result.output.count("\n") == 1


def test_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    result = run(f"sqlite:///{tmp_path}/missing/dir/x.db", "-P")

    assert result.exit_code == 1
    assert result.output.startswith("Error: cannot open database")
    assert result.output.count("\n") == 1
