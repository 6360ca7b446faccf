"""``slurm-carbon report -j`` and ``--json`` show a deferred job's expected and measured saving."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner, Result

from slurm_carbon.cli.main import cli
from slurm_carbon.cli.report import Caller
from slurm_carbon.cli.report_format import DEFERRAL_COLUMNS
from slurm_carbon.cli.report_json import REPORT_JSON_SCHEMA
from slurm_carbon.store import get_or_create_cluster, make_engine, session_factory, upgrade
from slurm_carbon.store import upsert_job as store_job
from slurm_carbon.store.deferrals import DeferralRecord, record_deferral, set_measured_saving

NOW = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)
START = NOW - timedelta(hours=2)
SUBMIT = START - timedelta(hours=6)
ISSUED = SUBMIT - timedelta(minutes=15)

pytestmark = pytest.mark.usefixtures("local_time_utc")


@pytest.fixture
def url(tmp_path: Path) -> str:
    """Job 7 deferred 6 h of 12 h and measured; job 8 deferred without a forecast, unmeasured;
    job 9 not deferred."""
    url = f"sqlite:///{tmp_path / 'deferral.db'}"
    upgrade(url)
    engine = make_engine(url)
    with session_factory(engine).begin() as session:
        cluster = get_or_create_cluster(session, "tc")
        rows = {
            raw: store_job(
                session,
                cluster.id,
                raw,
                user_name="alice",
                account="physics",
                submit_time=SUBMIT,
                start_time=START,
                end_time=NOW - timedelta(minutes=30),
                state="COMPLETED",
            ).id
            for raw in (7, 8, 9)
        }
        record_deferral(
            session,
            DeferralRecord(
                rows[7],
                12 * 3600,
                SUBMIT,
                START,
                SUBMIT,
                31.2,
                "slurm_carbon:blend\x1b[2J",
                ISSUED,
                NOW,
            ),
        )
        set_measured_saving(session, rows[7], 1200.0, 27.0)
        record_deferral(
            session,
            # Recorded before the job ended: when it was first seen.
            DeferralRecord(rows[8], 90 * 60, SUBMIT, None, SUBMIT, None, None, None, SUBMIT),
        )
    engine.dispose()
    return url


def run(url: str, *args: str) -> Result:
    result = CliRunner().invoke(
        cli, ["report", "--url", url, "-S", "2026-11-01", *args], obj=Caller("root", now=NOW)
    )
    assert result.exit_code == 0, result.output
    return result


def shown(url: str, job: str) -> str:
    """The detail view on one line (rich wraps it at the console's width)."""
    return " ".join(run(url, "-j", job).stdout.split())


def test_the_detail_view_says_the_expected_and_measured_saving(url: str) -> None:
    assert (
        "Deferred 06:00:00 by carbon_defer=12h: expected ~31 % less (recomputed from the"
        " forecast slurm_carbon:blend\\x1b[2J issued 2026-12-01 09:45), measured 27 % less"
        " (1,200 g) than starting at submission (2026-12-01 10:00), an estimate: the job's"
        " energy profile moved in time."
    ) in shown(url, "7")


def test_a_deferral_without_forecast_or_measure_says_so(url: str) -> None:
    assert (
        "Deferred (begin time not known) by carbon_defer=90m: no expected saving (no"
        " forecast stored at submission), not measured yet."
    ) in shown(url, "8")


def test_a_job_not_deferred_shows_no_deferral(url: str) -> None:
    assert "eferred" not in shown(url, "9")


def test_json_items_carry_the_deferral(url: str) -> None:
    document = json.loads(run(url, "--json").stdout)
    jsonschema.validate(document, REPORT_JSON_SCHEMA)

    deferrals = {job["job_id"]: job["deferral"] for job in document["jobs"]}
    assert deferrals["9"] is None
    assert deferrals["7"] == {
        "asked_s": 43200,
        "submit": "2026-12-01T10:00:00+00:00",
        "eligible": "2026-12-01T16:00:00+00:00",
        "counterfactual_start": "2026-12-01T10:00:00+00:00",
        "expected_saving_pct": 31.2,
        "forecast_source": "slurm_carbon:blend\x1b[2J",
        "forecast_issued": "2026-12-01T09:45:00+00:00",
        "first_seen": False,  # recorded after the job ended: recomputed
        "measured_saving_g": 1200.0,
        "measured_saving_pct": 27.0,
    }
    assert deferrals["8"]["expected_saving_pct"] is None
    assert deferrals["8"]["first_seen"] is True
    assert deferrals["8"]["measured_saving_g"] is None


def test_the_totals_sum_the_measured_savings_of_deferred_jobs(url: str) -> None:
    text = " ".join(run(url).stdout.split())

    assert (
        "Deferred: 2 jobs with carbon_defer (1 measured), 1,200 g CO2e less than starting at"
        " submission (an estimate)."
    ) in text


def test_json_totals_sum_the_measured_savings_of_deferred_jobs(url: str) -> None:
    document = json.loads(run(url, "--json").stdout)
    jsonschema.validate(document, REPORT_JSON_SCHEMA)
    alone = json.loads(run(url, "--json", "-j", "9").stdout)
    jsonschema.validate(alone, REPORT_JSON_SCHEMA)

    # Job 7's result is not stored here: 0 g as it ran, its 1,200 g saving from submit time.
    assert document["deferrals"] == {
        "jobs": 2,
        "measured_jobs": 1,
        "measured_saving_g": 1200.0,
        "co2e_at_start_g": 0.0,
        "co2e_at_submit_g": 1200.0,
    }
    assert alone["deferrals"] == dict.fromkeys(document["deferrals"], 0)


@pytest.mark.parametrize("by", ["user", "account"])
def test_by_user_or_account_a_second_table_gives_each_groups_deferrals(url: str, by: str) -> None:
    lines = run(url, "--by", by).stdout.splitlines()

    title = lines.index(f"Deferred jobs (carbon_defer) by {by}: an estimate")
    header, row = (
        [cell.strip() for cell in line.replace("┃", "│").split("│")]
        for line in (lines[title + 1], lines[title + 3])
    )
    assert header == [by.capitalize(), "Deferred", "Measured", "CO2e at start",
                      "CO2e at submit", "Saved"]  # fmt: skip
    key = "alice" if by == "user" else "physics"
    assert row == [key, "2", "1", "0 g", "1,200 g", "1,200 g"]


def test_no_deferral_no_second_table(url: str) -> None:
    assert "Deferred jobs" not in run(url, "--by", "user", "-j", "9").stdout


def test_json_by_user_or_account_carries_each_groups_deferrals(url: str) -> None:
    by_user = json.loads(run(url, "--json", "--by", "user").stdout)
    by_partition = json.loads(run(url, "--json", "--by", "partition").stdout)
    jsonschema.validate(by_user, REPORT_JSON_SCHEMA)
    jsonschema.validate(by_partition, REPORT_JSON_SCHEMA)

    assert by_user["deferral_groups"] == [{"key": "alice", **by_user["deferrals"]}]
    assert by_user["deferral_groups"][0]["co2e_at_submit_g"] == 1200.0
    assert "deferral_groups" not in by_partition


@pytest.mark.parametrize("form", ["-P", "--csv"])
def test_parsable_by_user_ends_each_group_with_its_deferrals(url: str, form: str) -> None:
    lines = run(url, form, "--by", "user").stdout.splitlines()
    by_partition = run(url, form, "--by", "partition").stdout.splitlines()

    separator = "|" if form == "-P" else ","
    header, row = (line.split(separator) for line in lines)
    assert header[-5:] == list(DEFERRAL_COLUMNS)
    fields = dict(zip(header, row, strict=True))
    assert {key: fields[key] for key in ("Group", *DEFERRAL_COLUMNS)} == {
        "Group": "alice",
        "DeferredJobs": "2",
        "DeferredMeasured": "1",
        "DeferredgCO2eAtStart": "0.000",
        "DeferredgCO2eAtSubmit": "1200.000",
        "DeferredSavedgCO2e": "1200.000",
    }
    assert "DeferredJobs" not in by_partition[0]
