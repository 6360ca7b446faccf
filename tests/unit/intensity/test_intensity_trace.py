from __future__ import annotations

import statistics
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from slurm_carbon.errors import ConfigError, IntensityUnavailable
from slurm_carbon.intensity.trace import TraceProvider, count_rows, parse_time, read_trace
from slurm_carbon.vocabulary import CiKind, CiSignal
from tests.unit.intensity.conftest import FIXTURES

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def test_iso_trace_with_other_column_names_and_a_blank_line() -> None:
    calls = []
    trace = read_trace(
        FIXTURES / "small_iso.csv", region="X", source="fx", on_row=lambda: calls.append(1)
    )
    assert trace.step_s == 1800
    assert [p.ci_g_per_kwh for p in trace.points] == [100.5, 110.0, 120.25, 90.0]
    assert [p.time for p in trace.points] == [T0 + timedelta(minutes=30 * i) for i in range(4)]
    assert {(p.kind, p.signal, p.source, p.region) for p in trace.points} == {
        (CiKind.ACTUAL, CiSignal.AVERAGE, "fx", "X")
    }
    assert len(calls) == 5  # the blank line too
    assert count_rows(FIXTURES / "small_iso.csv") == 4


def test_epoch_trace_case_insensitive_columns() -> None:
    trace = read_trace(
        FIXTURES / "small_epoch.csv", region="Y", source="s", signal=CiSignal.MARGINAL
    )
    assert trace.step_s == 3600
    assert trace.points[0].time == T0
    assert trace.points[0].signal is CiSignal.MARGINAL


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("bad_value.csv", r"bad_value.csv, line 3: carbon intensity 'abc' is not a number"),
        (
            "bad_time.csv",
            r"bad_time.csv, line 4: not an ISO 8601 time or epoch seconds: 'yesterday'",
        ),
        ("no_ci_column.csv", r"no carbon-intensity column \(known: carbon_intensity_gco2"),
        ("backwards.csv", r"backwards.csv, line 3: time 2024-03-01T00:00:00\+00:00 is not after"),
    ],
)
def test_bad_files_name_the_line(name: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        read_trace(FIXTURES / name, region="X", source="s")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read trace"):
        read_trace(tmp_path / "nope.csv", region="X", source="s")


def test_parse_time_forms() -> None:
    assert parse_time("2024-03-01T01:00:00+01:00") == T0
    assert parse_time("2024-03-01 00:00") == T0
    assert parse_time("1709251200.0") == T0
    with pytest.raises(ValueError, match="not an ISO 8601"):
        parse_time("March")


def test_trace_provider_slices_by_overlap() -> None:
    provider = TraceProvider.from_file(FIXTURES / "small_iso.csv", region="X")
    points = provider.history("X", T0 + timedelta(minutes=45), T0 + timedelta(minutes=61))
    assert [p.ci_g_per_kwh for p in points] == [110.0, 120.25]
    with pytest.raises(IntensityUnavailable, match="no region 'Z'"):
        provider.history("Z", T0, T0 + timedelta(hours=1))
    with pytest.raises(IntensityUnavailable, match="no figures"):
        provider.history("X", T0 + timedelta(days=1), T0 + timedelta(days=2))
    with pytest.raises(IntensityUnavailable, match="no forecast"):
        provider.forecast("X", T0, 1)


def test_real_dacf_trace_matches_the_readme(shared_data: Callable[[str], Path]) -> None:
    path = shared_data("carbon_intensity/SE_direct_2020.csv")
    trace = read_trace(path, region="SE", source="dacf")
    values = [p.ci_g_per_kwh for p in trace.points]
    assert (len(values), trace.step_s) == (8784, 3600)
    assert round(statistics.fmean(values), 2) == 39.79
    assert (min(values), max(values)) == (8.63, 62.09)


def test_parquet_trace_with_timestamp_and_text_times(tmp_path: Path) -> None:
    start = datetime(2024, 3, 1, tzinfo=UTC)
    times = [start + timedelta(hours=h) for h in range(3)]
    stamped = tmp_path / "stamped.parquet"
    pq.write_table(pa.table({"datetime_utc": times, "ci_g_per_kwh": [10.0, 20.0, 30.0]}), stamped)
    texts = tmp_path / "texts.parquet"
    pq.write_table(
        pa.table({"time": [t.isoformat() for t in times], "carbon_intensity": [1.0, 2.0, 3.0]}),
        texts,
    )

    trace = read_trace(stamped, region="SE", source="parquet")
    assert [(p.time, p.ci_g_per_kwh) for p in trace.points] == list(
        zip(times, [10.0, 20.0, 30.0], strict=True)
    )
    assert trace.step_s == 3600
    assert count_rows(stamped) == 3
    assert [p.ci_g_per_kwh for p in read_trace(texts, region="SE", source="p").points] == [1, 2, 3]


def test_a_bad_parquet_row_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.parquet"
    pq.write_table(
        pa.table({"time": ["2024-03-01T00:00Z", "soon"], "ci_g_per_kwh": [1.0, 2.0]}), bad
    )

    with pytest.raises(ConfigError, match=r"bad\.parquet, row 2: not an ISO 8601 time"):
        read_trace(bad, region="SE", source="p")
