"""``slurm-carbon evaluate forecast``: its JSON, the traces it refuses, the real traces."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from slurm_carbon.cli.main import cli
from slurm_carbon.forecast import DEFAULT_METHOD, METHODS

START = datetime(2024, 3, 1, tzinfo=UTC)
#: Days in the hand-made trace: one week of warm-up, one scored.
TRACE_DAYS = 14
REAL_TRACES = ["CISO_direct_2020.csv", "ERCO_direct_2020.csv", "SE_direct_2020.csv"]


def _value(hour: int) -> float:
    return 300 + 80 * math.sin(2 * math.pi * hour / 24) + 10 * math.sin(hour / 7)


def write_trace(
    path: Path, hours: int = TRACE_DAYS * 24, step: timedelta = timedelta(hours=1)
) -> Path:
    lines = ["time,ci_g_per_kwh"]
    lines += [f"{(START + i * step).isoformat()},{_value(i):.2f}" for i in range(hours)]
    path.write_text("\n".join(lines) + "\n")
    return path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["evaluate", "forecast", *args])
    return result.exit_code, result.stdout, result.stderr


def test_json_has_exactly_the_default_every_method_and_the_points(tmp_path: Path) -> None:
    trace = write_trace(tmp_path / "t.csv")

    code, out, _err = run("--trace", str(trace), "--horizons", "1h,6h,24h", "--json")

    assert code == 0, out
    document = json.loads(out)
    assert list(document) == ["default", "methods", "points"]
    assert document["default"] == DEFAULT_METHOD
    assert list(document["methods"]) == list(METHODS)
    for scores in document["methods"].values():
        assert list(scores) == ["1h", "6h", "24h"]
        assert all(score >= 0 for score in scores.values())
    # Origins from hour 168 to the last hour whose target is in the trace.
    assert document["points"] == {"1h": 167, "6h": 162, "24h": 144}


def test_half_hourly_trace_scores_30_minutes(tmp_path: Path) -> None:
    trace = write_trace(tmp_path / "t.csv", hours=TRACE_DAYS * 48, step=timedelta(minutes=30))

    code, out, _err = run("--trace", str(trace), "--horizons", "30m,24h", "--json")

    assert code == 0, out
    assert json.loads(out)["points"] == {"30m": 7 * 48 - 1, "24h": 7 * 48 - 48}


def test_without_json_a_table_names_each_method(tmp_path: Path) -> None:
    trace = write_trace(tmp_path / "t.csv")

    code, out, _err = run("--trace", str(trace), "--horizons", "1h")

    assert code == 0, out
    lines = out.splitlines()
    assert lines[1].split() == ["method", "1h"]
    assert [line.split()[0] for line in lines[2:5]] == list(METHODS)
    assert lines[-1].split() == ["points", "167"]


def _edit(path: Path, line: int, text: str | None) -> None:
    lines = path.read_text().splitlines()
    if text is None:
        del lines[line - 1]
    else:
        lines[line - 1] = text
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("line", "text", "message"),
    [
        (50, None, "line 50: 7200 s after the previous row"),  # row 49 missing: a gap
        (
            50,
            "2024-03-01T00:00:00+00:00,300",
            "line 50: time 2024-03-01T00:00:00+00:00 is not after",
        ),
        (50, "2024-03-03T00:00:00+00:00,abc", "line 50: carbon intensity 'abc' is not a number"),
        (50, "2024-03-03T00:00:00+00:00,-5", "line 50: carbon intensity '-5' is not"),
        (50, "2024-03-03T00:00:00+00:00,nan", "line 50: carbon intensity 'nan' is not"),
        (50, "yesterday,300", "line 50: not an ISO 8601 time"),
    ],
)
def test_a_bad_trace_is_refused_with_its_line(
    tmp_path: Path, line: int, text: str | None, message: str
) -> None:
    trace = write_trace(tmp_path / "t.csv")
    _edit(trace, line, text)

    code, out, err = run("--trace", str(trace), "--json")

    assert code == 1
    assert out == ""
    assert err.strip().startswith("Error: ")
    assert len(err.strip().splitlines()) == 1
    assert message in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--horizons", "90s"), "is not a horizon"),
        (("--horizons", "49h"), "is not a horizon"),
        (("--horizons", "1h,1h"), "given twice"),
        (("--horizons", "30m"), "not a multiple of the trace's step"),
        (("--warmup", "6d"), "must be at least 7d"),
        (("--warmup", "soon"), "not a duration"),
        (("--warmup", "13d"), "too short"),
    ],
)
def test_bad_options_are_refused(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    trace = write_trace(tmp_path / "t.csv")

    code, _out, err = run("--trace", str(trace), *args)

    assert code in {1, 2}
    assert message in err


def test_a_two_hour_step_is_refused(tmp_path: Path) -> None:
    trace = write_trace(tmp_path / "t.csv", hours=TRACE_DAYS * 12, step=timedelta(hours=2))

    code, _out, err = run("--trace", str(trace))

    assert code == 1
    assert "7200 s is not 15 min, 30 min or 1 h" in err


@pytest.mark.parametrize("name", REAL_TRACES)
def test_on_real_traces_the_default_beats_both_baselines(
    name: str, shared_data: Callable[[str], Path]
) -> None:
    trace = shared_data(f"carbon_intensity/{name}")

    code, out, _err = run("--trace", str(trace), "--horizons", "1h,6h,24h", "--json")

    assert code == 0, out
    document = json.loads(out)
    methods = document["methods"]
    for horizon in ("1h", "6h", "24h"):
        better = min(methods["persistence"][horizon], methods["seasonal_naive"][horizon])
        assert methods[document["default"]][horizon] < better, (horizon, methods)
    assert document["points"]["24h"] == 8784 - 7 * 24 - 24
