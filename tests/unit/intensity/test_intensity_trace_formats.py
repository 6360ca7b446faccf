"""Traces in their sources' own formats (issue 8, item 3): columns by name, units converted."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from slurm_carbon.cli.main import cli
from slurm_carbon.errors import ConfigError
from slurm_carbon.intensity.trace import TraceColumns, read_trace
from tests.unit.intensity.conftest import FIXTURES

LB_PER_MWH = 453.59237 / 1000  # g/kWh in one lb/MWh


def _read(name: str, columns: TraceColumns | None = None) -> list[tuple[datetime, float]]:
    trace = read_trace(FIXTURES / name, region="X", source="s", columns=columns)
    return [(p.time, p.ci_g_per_kwh) for p in trace.points]


def _hours(first: datetime, values: list[float], step: timedelta) -> list[tuple[datetime, float]]:
    return [(first + i * step, value) for i, value in enumerate(values)]


@pytest.mark.parametrize(
    ("name", "expected", "described"),
    [
        (
            "time_carbon_intensity.csv",
            _hours(datetime(2024, 3, 1, tzinfo=UTC), [120, 110.5, 98], timedelta(hours=1)),
            "column 'Time', carbon intensity from column 'Carbon Intensity' in g/kWh",
        ),
        (
            "em_portal_SE_hourly.csv",
            _hours(datetime(2023, 1, 1, tzinfo=UTC), [12.05, 11.84, 12.21], timedelta(hours=1)),
            "column 'Datetime (UTC)', carbon intensity from column"
            " 'Carbon Intensity gCO₂eq/kWh (direct)' in g/kWh [Electricity Maps, direct]",
        ),
        (
            "uk_national_range.json",
            _hours(datetime(2024, 3, 1, 10, tzinfo=UTC), [176, 179], timedelta(minutes=30)),
            "column 'from', carbon intensity from column 'actual' in g/kWh",
        ),
        (
            "uk_regional_range.json",
            _hours(datetime(2024, 3, 1, 10, tzinfo=UTC), [201, 205], timedelta(minutes=30)),
            "carbon intensity from column 'forecast' in g/kWh [UK Carbon Intensity, forecast]",
        ),
        (
            "wt_historical.csv",
            _hours(
                datetime(2020, 1, 1, tzinfo=UTC),
                [936 * LB_PER_MWH, 1000 * LB_PER_MWH, 0],
                timedelta(minutes=5),
            ),
            "column 'point_time', carbon intensity from column 'value' in lb/MWh"
            " (x 0.453592 to g/kWh) [WattTime]",
        ),
        (
            "wt_historical.json",
            _hours(
                datetime(2024, 3, 1, 12, tzinfo=UTC),
                [v * LB_PER_MWH for v in (870.0, 866.0, 912.5, 1002.0, 998.0, 934.0)],
                timedelta(minutes=5),
            ),
            "from column 'value' in lb/MWh",
        ),
        (
            "small_iso.csv",
            _hours(
                datetime(2024, 3, 1, tzinfo=UTC), [100.5, 110, 120.25, 90], timedelta(minutes=30)
            ),
            "column 'time', carbon intensity from column 'ci_g_per_kwh' in g/kWh",
        ),
    ],
)
def test_each_sources_format_is_read_in_g_per_kwh(
    name: str, expected: list[tuple[datetime, float]], described: str
) -> None:
    trace = read_trace(FIXTURES / name, region="X", source="s")

    got = [(p.time, p.ci_g_per_kwh) for p in trace.points]
    assert [t for t, _ in got] == [t for t, _ in expected]
    assert [v for _, v in got] == pytest.approx([v for _, v in expected])
    assert described in trace.columns.describe()


def test_one_lb_per_mwh_is_0_45359237_g_per_kwh() -> None:
    assert _read("wt_historical.csv")[1][1] == pytest.approx(453.59237)


def test_electricity_maps_lca_by_value_column_in_ascii_and_any_case() -> None:
    columns = TraceColumns(value_column="carbon intensity gco2eq/kwh (LCA)")
    assert [v for _, v in _read("em_portal_SE_hourly.csv", columns)] == [33.91, 33.52, 33.97]


def test_uk_actual_missing_is_refused_naming_the_entry_and_forecast_can_be_chosen() -> None:
    with pytest.raises(ConfigError, match=r"uk_intensity\.json, entry 3: no value in column"):
        _read("uk_intensity.json")
    values = _read("uk_intensity.json", TraceColumns(value_column="forecast"))
    assert [v for _, v in values] == [180, 182, 185]


def test_other_layouts_by_time_and_value_column_unit_and_zone() -> None:
    columns = TraceColumns(
        time_column="When_Local",
        value_column="kg_per_mwh",
        unit="kg/MWh",
        tz=ZoneInfo("Europe/Berlin"),
    )
    trace = read_trace(FIXTURES / "custom_local.csv", region="X", source="s", columns=columns)

    # 02:00 in Berlin in July (CEST, UTC+2) is 00:00 UTC
    assert [(p.time, p.ci_g_per_kwh) for p in trace.points] == [
        (datetime(2024, 7, 1, 0, tzinfo=UTC), 250.0),
        (datetime(2024, 7, 1, 1, tzinfo=UTC), 240.0),
    ]
    assert "from column 'kg_per_mwh' in kg/MWh [named on the command line]" in (
        trace.columns.describe()
    )
    with pytest.raises(ConfigError, match=r"no carbon-intensity column .*found 'when_local'"):
        _read("custom_local.csv", TraceColumns(time_column="when_local"))
    with pytest.raises(ConfigError, match=r"no column 'watts' \(found 'when_local', 'price_eur'"):
        _read("custom_local.csv", TraceColumns(time_column="when_local", value_column="watts"))


def test_value_without_point_time_is_not_taken_for_wattime(tmp_path: Path) -> None:
    generic = tmp_path / "generic.csv"
    generic.write_text("time,value\n2024-03-01T00:00Z,100\n")
    with pytest.raises(ConfigError, match="no carbon-intensity column"):
        read_trace(generic, region="X", source="s")


def _import(db_url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["intensity", "import", *args, "--url", db_url])
    return result.exit_code, result.stdout, result.stderr


def test_import_says_on_stderr_which_column_and_unit_it_used(db_url: str) -> None:
    code, out, err = _import(db_url, str(FIXTURES / "wt_historical.csv"), "--region", "CAISO-fmt")
    assert code == 0, out + err
    assert "3 new" in out
    assert err.strip() == (
        "wt_historical.csv: time from column 'point_time', carbon intensity from column 'value'"
        " in lb/MWh (x 0.453592 to g/kWh) [WattTime]"
    )


def test_import_takes_the_column_options(db_url: str) -> None:
    code, out, err = _import(
        db_url,
        str(FIXTURES / "custom_local.csv"),
        *("--region", "DE-fmt", "--time-column", "when_local", "--value-column", "kg_per_mwh"),
        *("--unit", "kg/MWh", "--tz", "Europe/Berlin"),
    )
    assert code == 0, out + err
    assert "2 rows, 2024-07-01T00:00:00+00:00 to 2024-07-01T01:00:00+00:00" in out
    code, out, err = _import(
        db_url, str(FIXTURES / "custom_local.csv"), "--region", "DE-fmt", "--tz", "Mars/Olympus"
    )
    assert code == 2
    assert "unknown time zone 'Mars/Olympus'" in err


def test_real_dacf_traces_say_their_columns(shared_data: Callable[[str], Path]) -> None:
    for name, mean in (("SE", 39.79), ("CISO", 200.62), ("ERCO", 301.86)):
        trace = read_trace(
            shared_data(f"carbon_intensity/{name}_direct_2020.csv"), region=name, source="d"
        )
        values = [p.ci_g_per_kwh for p in trace.points]
        assert round(sum(values) / len(values), 2) == mean
        assert trace.columns.describe() == (
            "time from column 'datetime_utc', carbon intensity from column"
            " 'carbon_intensity_gco2_per_kwh' in g/kWh [DACF]"
        )
