"""``slurm-carbon report -j`` and ``--json`` show each job's power caps: when, which, and why."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner, Result

from slurm_carbon.cli.main import cli
from slurm_carbon.cli.report import Caller
from slurm_carbon.cli.report_detail import MAX_CAP_ROWS
from slurm_carbon.cli.report_json import REPORT_JSON_SCHEMA
from slurm_carbon.store import (
    get_or_create_cluster,
    make_engine,
    session_factory,
    upgrade,
    upsert_job,
)
from slurm_carbon.store.caps import CapDecisionRecord, record_decision
from slurm_carbon.store.figures import JobFigures
from slurm_carbon.store.results import save_result
from slurm_carbon.vocabulary import EnergyMethod, Sharing

NOW = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)
START = NOW - timedelta(hours=2)
HALF = timedelta(minutes=30)
REASON = "carbon: 175 W, CI 412 g/kWh now vs 180 mean ahead, slowdown 1.1% of 2.5%"

pytestmark = pytest.mark.usefixtures("local_time_utc")


def decision(job_id: int, period: int, limit_w: float, reason: str) -> CapDecisionRecord:
    return CapDecisionRecord(
        job_id=job_id,
        device=None,
        period_start=START + period * HALF,
        period_end=START + (period + 1) * HALF,
        power_limit_w=limit_w,
        policy=reason.split(":", 1)[0],
        reason=reason,
        decided_at=START + period * HALF + timedelta(seconds=5),
    )


@pytest.fixture
def url(tmp_path: Path) -> str:
    """Job 1 ended with two caps (the later first, to see them sorted), job 2 ended uncapped."""
    url = f"sqlite:///{tmp_path / 'report.db'}"
    upgrade(url)
    engine = make_engine(url)
    with session_factory(engine).begin() as session:
        cluster = get_or_create_cluster(session, "tc")
        rows = {
            raw: upsert_job(
                session,
                cluster.id,
                raw,
                user_name="alice",
                start_time=START,
                end_time=NOW - HALF,
                state="COMPLETED",
            ).id
            for raw in (1, 2)
        }
        record_decision(session, decision(rows[1], 1, 175.0, REASON))
        record_decision(session, decision(rows[1], 0, 250.0, "static: 250 W, least energy\x1b[2J"))
    engine.dispose()
    return url


def run(url: str, *args: str) -> Result:
    result = CliRunner().invoke(
        cli, ["report", "--url", url, "-S", "2026-11-01", *args], obj=Caller("root", now=NOW)
    )
    assert result.exit_code == 0, result.output
    return result


def test_the_detail_view_lists_the_caps_in_order_with_their_reasons(url: str) -> None:
    lines = [" ".join(line.split()) for line in run(url, "-j", "1").stdout.splitlines()]

    title = lines.index("Power caps")
    rows = [line for line in lines[title:] if "│" in line and "W" in line][:2]
    assert rows[0].startswith(
        "12-01 16:00 │ 12-01 16:30 │ 250 │ static │ static: 250 W, least energy"
    )
    assert rows[0].endswith("least energy\\x1b[2J")  # outside text escaped
    assert rows[1].startswith("12-01 16:30 │ 12-01 17:00 │ 175 │ carbon │ carbon: 175 W, CI 412")


def test_an_uncapped_job_says_so(url: str) -> None:
    lines = [" ".join(line.split()) for line in run(url, "-j", "2").stdout.splitlines()]

    assert "Power caps" not in lines
    assert "No power cap was decided for this job (the GPUs kept their limits)." in lines


def test_json_items_carry_the_caps(url: str) -> None:
    document = json.loads(run(url, "--json").stdout)
    jsonschema.validate(document, REPORT_JSON_SCHEMA)

    caps = {job["job_id"]: job["caps"] for job in document["jobs"]}
    assert caps["2"] == []
    assert [cap["power_limit_w"] for cap in caps["1"]] == [250.0, 175.0]
    assert caps["1"][1] == {
        "period_start": "2026-12-01T16:30:00+00:00",
        "period_end": "2026-12-01T17:00:00+00:00",
        "power_limit_w": 175.0,
        "device": None,
        "policy": "carbon",
        "reason": REASON,
        "decided_at": "2026-12-01T16:30:05+00:00",
    }


def test_back_to_back_periods_at_one_limit_are_one_run_and_the_table_is_bounded(
    tmp_path: Path,
) -> None:
    """Job 3: 60 alternating periods (60 runs: the latest MAX_CAP_ROWS shown), then 10
    periods at one static limit (one run)."""
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    upgrade(url)
    engine = make_engine(url)
    with session_factory(engine).begin() as session:
        cluster = get_or_create_cluster(session, "tc")
        row = upsert_job(
            session,
            cluster.id,
            3,
            user_name="alice",
            start_time=START - 70 * HALF,
            end_time=START,
            state="COMPLETED",
        ).id
        for period in range(-70, -10):
            limit_w = 175.0 if period % 2 else 250.0
            record_decision(session, decision(row, period, limit_w, REASON))
        for period in range(-10, 0):
            record_decision(session, decision(row, period, 275.0, "static: 275 W"))
    engine.dispose()

    document = json.loads(run(url, "--json", "-j", "3").stdout)
    caps = document["jobs"][0]["caps"]
    assert len(caps) == 61
    assert (caps[-1]["power_limit_w"], caps[-1]["reason"]) == (275.0, "static: 275 W")
    assert caps[-1]["period_start"] == (START - 10 * HALF).isoformat()
    assert caps[-1]["period_end"] == START.isoformat()
    lines = [" ".join(line.split()) for line in run(url, "-j", "3").stdout.splitlines()]
    assert f"({61 - MAX_CAP_ROWS} earlier runs of power caps not shown)" in lines
    assert sum("│ carbon │" in line or "│ static │" in line for line in lines) == MAX_CAP_ROWS


PROFILE_LABEL = "Simulated V100 / resnet\x1b[2J, learned"


@pytest.fixture
def measured(tmp_path: Path) -> str:
    """Job 4 ended capped with its slowdown stored (5.26 %: 570 s of work in 600 s)."""
    url = f"sqlite:///{tmp_path / 'slowdown.db'}"
    upgrade(url)
    engine = make_engine(url)
    with session_factory(engine).begin() as session:
        cluster = get_or_create_cluster(session, "tc")
        row = upsert_job(
            session,
            cluster.id,
            4,
            user_name="alice",
            start_time=START,
            end_time=START + timedelta(minutes=10),
            state="COMPLETED",
        ).id
        record_decision(session, decision(row, 0, 200.0, "static: 200 W"))
        save_result(
            session,
            row,
            JobFigures(
                gpu_energy_j=108_000.0,
                cpu_energy_j=0.0,
                dram_energy_j=0.0,
                co2e_g=3.6,
                ci_mean_g_per_kwh=100.0,
                ci_region="SE",
                ci_source="flat",
                pue=1.2,
                quality=EnergyMethod.COUNTER,
                sharing=Sharing.EXCLUSIVE,
                computed_at=NOW,
                slowdown=600 / 570 - 1,
                nominal_s=570.0,
                slowdown_profile=PROFILE_LABEL,
            ),
        )
    engine.dispose()
    return url


def test_the_detail_view_says_the_slowdown_against_the_jobs_own_profile(measured: str) -> None:
    lines = [" ".join(line.split()) for line in run(measured, "-j", "4").stdout.splitlines()]

    assert (
        "Slowdown 5.3 % against its own profile (Simulated V100 / resnet\\x1b[2J, learned),"
        " an estimate: 00:10:00 run for 00:09:30 of work at the profile's highest limit."
    ) in lines


def test_an_uncapped_job_shows_no_slowdown(url: str) -> None:
    output = run(url, "-j", "2").stdout

    assert "Slowdown" not in output
    assert "own profile" not in output


def test_json_items_carry_the_slowdown(measured: str, url: str) -> None:
    document = json.loads(run(measured, "--json").stdout)
    jsonschema.validate(document, REPORT_JSON_SCHEMA)
    uncapped = json.loads(run(url, "--json").stdout)
    jsonschema.validate(uncapped, REPORT_JSON_SCHEMA)

    assert document["jobs"][0]["slowdown"] == {
        "fraction": pytest.approx(600 / 570 - 1),
        "nominal_s": 570.0,
        "profile": PROFILE_LABEL,
    }
    assert [job["slowdown"] for job in uncapped["jobs"]] == [None, None]
