"""``slurm-carbon report`` shows each job's budgets and the action taken on them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner, Result

from slurm_carbon.cli.main import cli
from slurm_carbon.cli.report import Caller
from slurm_carbon.cli.report_json import REPORT_JSON_SCHEMA
from slurm_carbon.store import (
    get_or_create_cluster,
    make_engine,
    session_factory,
    upgrade,
    upsert_job,
)
from slurm_carbon.store.budgets import BudgetActionRecord, record_budget_action
from slurm_carbon.vocabulary import BudgetAction, BudgetKind, BudgetOutcome

NOW = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)
END = NOW - timedelta(hours=1)

pytestmark = pytest.mark.usefixtures("local_time_utc")


def action(job_id: int, what: BudgetAction, outcome: BudgetOutcome) -> BudgetActionRecord:
    return BudgetActionRecord(
        job_id=job_id,
        action=what,
        at=END - timedelta(minutes=30),
        kind=BudgetKind.CO2E,
        budget=5000.0,
        forecast=9000.0,
        forecast_low=8000.0,
        forecast_high=10000.0,
        progress=0.3,
        reason="forecast over budget",
        outcome=outcome,
    )


@pytest.fixture
def url(tmp_path: Path) -> str:
    """Jobs 1 (5 kg, cancelled), 2 (5 kg and 2 kWh, notified), 3 (5 kg, cancel failed), 4 (none)."""
    url = f"sqlite:///{tmp_path / 'report.db'}"
    upgrade(url)
    engine = make_engine(url)
    with session_factory(engine).begin() as session:
        cluster = get_or_create_cluster(session, "tc")
        budgets = {1: (5000.0, None), 2: (5000.0, 7.2e6), 3: (5000.0, None), 4: (None, None)}
        rows = {
            raw: upsert_job(
                session,
                cluster.id,
                raw,
                user_name="alice",
                start_time=END - timedelta(hours=1),
                end_time=END,
                state="COMPLETED",
                budget_co2e_g=co2e_g,
                budget_energy_j=energy_j,
            ).id
            for raw, (co2e_g, energy_j) in budgets.items()
        }
        record_budget_action(session, action(rows[1], BudgetAction.CANCEL, BudgetOutcome.DONE))
        record_budget_action(session, action(rows[2], BudgetAction.NOTIFY, BudgetOutcome.DONE))
        record_budget_action(session, action(rows[3], BudgetAction.CANCEL, BudgetOutcome.FAILED))
    engine.dispose()
    return url


def run(url: str, *args: str) -> Result:
    result = CliRunner().invoke(
        cli, ["report", "--url", url, "-S", "2026-11-01", *args], obj=Caller("root", now=NOW)
    )
    assert result.exit_code == 0, result.output
    return result


def test_the_table_has_a_budget_column_with_the_action(url: str) -> None:
    lines = run(url).stdout.splitlines()

    header = next(line for line in lines if "JobID" in line)
    assert "┃ Budget " in header
    cells = {line.split()[0]: line for line in lines if line.split() and line.split()[0].isdigit()}
    assert "│ 5,000 g cancel " in cells["1"]
    assert "│ 5,000 g 2,000 Wh notify " in cells["2"]
    assert "│ 5,000 g cancel failed " in cells["3"]
    assert "│ - " in cells["4"]


def test_json_rows_carry_the_budgets_and_the_action(url: str) -> None:
    document = json.loads(run(url, "--json").stdout)
    jsonschema.validate(document, REPORT_JSON_SCHEMA)

    budgets = {job["job_id"]: job["budget"] for job in document["jobs"]}
    assert budgets["4"] is None
    assert (budgets["2"]["co2e_g"], budgets["2"]["kwh"]) == (5000.0, 2.0)
    assert budgets["2"]["action"]["action"] == "notify"
    assert budgets["1"]["kwh"] is None
    assert budgets["1"]["action"] == {
        "action": "cancel",
        "at": "2026-12-01T16:30:00+00:00",
        "kind": "co2e",
        "unit": "g",
        "budget": 5000.0,
        "forecast": 9000.0,
        "forecast_low": 8000.0,
        "forecast_high": 10000.0,
        "progress": 0.3,
        "reason": "forecast over budget",
        "outcome": "done",
        "outcome_message": None,
    }
    assert budgets["3"]["action"]["outcome"] == "failed"


def test_the_detail_view_shows_the_budgets_and_the_action_with_its_reason(url: str) -> None:
    lines = [" ".join(line.split()) for line in run(url, "-j", "2").stdout.splitlines()]

    assert "Budget 5,000 g CO2e, 2,000 Wh energy" in lines
    assert "Action notify (done) 2026-12-01 16:30 at 30% of its work" in lines
    assert "forecast over budget" in lines
    untouched = [" ".join(line.split()) for line in run(url, "-j", "4").stdout.splitlines()]
    assert not [line for line in untouched if line.startswith(("Budget", "Action"))]
