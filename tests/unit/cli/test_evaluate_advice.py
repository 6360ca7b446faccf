"""``slurm-carbon evaluate advice``: its JSON against the schema, its decisions, its table."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from slurm_carbon.cli.evaluate_advice import ADVICE_JSON_SCHEMA, DECISION_COLUMNS
from slurm_carbon.cli.main import cli

DAYS = 9
# Every day 400 g/kWh but 100 from 02:00 to 06:00 UTC, hourly, from 2020-01-01.
TRACE = "time,ci_g_per_kwh\n" + "".join(
    f"2020-01-{1 + hour // 24:02d}T{hour % 24:02d}:00:00+00:00,"
    f"{100 if 2 <= hour % 24 < 6 else 400}\n"
    for hour in range(DAYS * 24)
)
# Submitted at each hour of day 8 (after the week's warm-up) while submit + 24 h + the job
# fits in the 9 days: 24 jobs of 1 h, 21 of 4 h. The oracle runs each in the valley: for
# 1 h jobs 24 x 100 against 4 x 100 + 20 x 400 at once; for 4 h jobs 21 x 100 against the
# means of the 4 h windows from each hour 0..20 (250, 175, 100, 175, 250, 325, 15 x 400).
ORACLE_1H_PCT = 100 * (1 - 2400 / 8400)
ORACLE_4H_PCT = 100 * (1 - 2100 / 7275)


def run(tmp_path: Path, *extra: str, trace: str = TRACE) -> tuple[int, str]:
    (tmp_path / "trace.csv").write_text(trace)
    args = ["evaluate", "advice", "--trace", str(tmp_path / "trace.csv"), *extra]
    result = CliRunner().invoke(cli, args)
    return result.exit_code, result.output


def test_the_json_follows_its_schema_with_the_oracles_figures_computed_by_hand(
    tmp_path: Path,
) -> None:
    code, output = run(tmp_path, "--job-hours", "1,4", "--within", "24", "--json")

    assert code == 0, output
    data = json.loads(output)
    jsonschema.validate(data, ADVICE_JSON_SCHEMA)
    assert list(data) == ["1h", "4h"]
    assert data["1h"]["jobs"] == 24
    assert data["4h"]["jobs"] == 21
    assert data["1h"]["oracle_saving_pct"] == pytest.approx(ORACLE_1H_PCT, abs=1e-4)
    assert data["4h"]["oracle_saving_pct"] == pytest.approx(ORACLE_4H_PCT, abs=1e-4)
    # A week of the same day: the forecast knows the valley, the advice finds it (a 4 h
    # window from the forecast's slightly uneven valley may straddle its edge).
    assert data["1h"]["advice_saving_pct"] == pytest.approx(ORACLE_1H_PCT, abs=1e-4)
    assert 0.9 * ORACLE_4H_PCT < data["4h"]["advice_saving_pct"] <= ORACLE_4H_PCT


def test_the_decisions_are_one_row_per_job_in_iso_8601_with_offset(tmp_path: Path) -> None:
    out = tmp_path / "decisions.csv"
    code, output = run(tmp_path, "--job-hours", "1,1.5", "--decisions", str(out), "--json")

    assert code == 0, output
    with out.open(newline="") as stream:
        rows = list(csv.reader(stream))
    assert tuple(rows[0]) == DECISION_COLUMNS
    assert len(rows) - 1 == sum(figures["jobs"] for figures in json.loads(output).values())
    assert rows[1][:2] == ["2020-01-08T00:00:00+00:00", "1"]
    assert rows[1][2] in {f"2020-01-08T0{hour}:00:00+00:00" for hour in range(2, 6)}  # valley
    assert {row[1] for row in rows[1:]} == {"1", "1.5"}


def test_the_table_names_each_length_and_the_share_of_the_oracle(tmp_path: Path) -> None:
    code, output = run(tmp_path, "--job-hours", "1")

    assert code == 0, output
    assert "trace.csv" in output
    row = next(line for line in output.splitlines() if line.startswith("1h"))
    assert row.split() == ["1h", "24", f"{ORACLE_1H_PCT:.1f}", "%", f"{ORACLE_1H_PCT:.1f}", "%",
                           "100", "%"]  # fmt: skip


def test_a_trace_without_a_job_after_the_warm_up_is_one_line(tmp_path: Path) -> None:
    short = "".join(TRACE.splitlines(keepends=True)[: 7 * 24 + 10])

    code, output = run(tmp_path, "--job-hours", "12", trace=short)

    assert code == 1
    assert output.count("\n") == 1
    assert "no job" in output
