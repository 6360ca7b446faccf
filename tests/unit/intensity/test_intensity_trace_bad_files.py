"""Bad trace files (issue 8, item 11): one line naming the file, exit 1, never a traceback.

Each case is run through ``intensity import`` and ``demo --trace`` (which reads
its trace before it touches Slurm or the database).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result

from slurm_carbon.cli.main import cli
from slurm_carbon.errors import ConfigError
from slurm_carbon.intensity import trace as trace_module
from slurm_carbon.intensity.traceformat import MAX_TRACE_BYTES

GOOD = "time,ci_g_per_kwh\n2024-03-01T00:00:00Z,100\n2024-03-01T01:00:00Z,110\n"


def _write(data: bytes, name: str = "t.csv") -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        path = tmp / name
        path.write_bytes(data)
        return path

    return make


def _big_sparse(tmp: Path) -> Path:
    path = tmp / "huge.csv"
    with path.open("wb") as handle:
        handle.truncate(MAX_TRACE_BYTES + 1)  # sparse: costs no disk and no time
    return path


def _dir(tmp: Path) -> Path:
    (tmp / "adir").mkdir()
    return tmp / "adir"


def _corrupt_parquet(tmp: Path) -> Path:
    good = tmp / "good.parquet"
    pq.write_table(pa.table({"time": ["2024-03-01T00:00Z"], "ci_g_per_kwh": [1.0]}), good)
    data = bytearray(good.read_bytes())
    data[8:40] = b"\xff" * 32  # inside the column chunk and its header
    path = tmp / "corrupt.parquet"
    path.write_bytes(bytes(data[:-12]) + data[-4:])  # footer length no longer matches
    return path


CASES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "binary": (
        _write(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "image.csv"),
        r"image\.csv, line 3: a NUL byte: a binary file",
    ),
    "utf16_without_bom": (
        _write(GOOD.encode("utf-16-le")),
        r"t\.csv, line 1: a NUL byte: a binary file \(or UTF-16 without a BOM\)",
    ),
    "latin1": (
        _write("time,ci_g_per_kwh,note\n2024-03-01T00:00Z,100,café\n".encode("latin-1")),
        r"t\.csv, line 2: not UTF-8 text \(byte 0xe9\); save the trace as UTF-8",
    ),
    "field_over_131072": (
        _write(b'time,ci_g_per_kwh\n2024-03-01T00:00Z,100\n"' + b"x" * 131_073 + b'",1\n'),
        r"t\.csv, line 3: field larger than field limit \(131072\)",
    ),
    "long_value_is_cut": (
        _write(b"time,ci_g_per_kwh\n2024-03-01T00:00Z," + b"9" * 100_000 + b"\n"),
        r"t\.csv, line 2: carbon intensity '9{40}\.\.\.' is not a number from 0 to 5000",
    ),
    "empty": (_write(b""), r"t\.csv: empty file, expected a CSV header"),
    "header_only": (_write(b"time,ci_g_per_kwh\n"), r"t\.csv: no data rows"),
    "json_not_uk": (
        _write(b'{"zone": "DE", "history": [1, 2]}', "t.json"),
        r"t\.json: JSON, but not in the UK Carbon Intensity API's shape",
    ),
    "json_all_regions": (
        _write(b'{"data": [{"from": "2024-03-01T00:00Z", "regions": []}]}', "t.json"),
        r"t\.json: JSON, but not in the UK Carbon Intensity API's shape",
    ),
    "json_nested_deep": (_write(b"[" * 100_000, "t.json"), r"t\.json: JSON nested too deeply"),
    "json_broken": (_write(b'{"data": [', "t.json"), r"t\.json: not valid JSON"),
    "json_huge_integer": (
        _write(b'{"data": [{"from": "2024-03-01T00:00Z", "actual": ' + b"9" * 5000 + b"}]}"),
        r"t\.csv: not valid JSON: Exceeds the limit \(4300 digits\)",
    ),
    "parquet_corrupt": (_corrupt_parquet, r"cannot read Parquet trace .*corrupt\.parquet"),
    "parquet_not_parquet": (
        _write(b"PAR1 this is not parquet", "t.parquet"),
        r"cannot read Parquet trace .*t\.parquet",
    ),
    "directory": (_dir, r"adir: is a directory, expected a trace file"),
    "nonexistent": (lambda tmp: tmp / "nope.csv", r"cannot read trace .*nope\.csv: No such file"),
    "huge": (_big_sparse, r"huge\.csv: 67,108,865 bytes, more than the 67,108,864 a trace may"),
    "time_overflows_utc": (
        _write(b"time,ci_g_per_kwh\n0001-01-01T00:00:00+01:00,100\n"),
        r"t\.csv, line 2: not an ISO 8601 time or epoch seconds: '0001-01-01T00:00:00\+01:00'",
    ),
    "epoch_overflow": (
        _write(b"time,ci_g_per_kwh\n1e300,100\n"),
        r"t\.csv, line 2: not a time: '1e300'",
    ),
    "epoch_milliseconds": (
        _write(b"time,ci_g_per_kwh\n1709251200000,100\n"),
        r"t\.csv, line 2: not a time: '1709251200000'",
    ),
    "year_1970": (
        _write(b"time,ci_g_per_kwh\n2024,100\n"),
        r"t\.csv, line 2: time 1970-01-01T00:33:44\+00:00 is outside 1990\.\.2099",
    ),
    "infinite_value": (
        _write(b"time,ci_g_per_kwh\n2024-03-01T00:00Z,1e999\n"),
        r"t\.csv, line 2: carbon intensity '1e999' is not a number from 0 to 5000 g/kWh",
    ),
    "nan_value": (
        _write(b"time,ci_g_per_kwh\n2024-03-01T00:00Z,nan\n"),
        r"t\.csv, line 2: carbon intensity 'nan' is not a number",
    ),
    "control_characters_in_header": (
        _write(b"\x1b[2Jtime\n2024-03-01T00:00Z\n"),
        r"no time column .*found '\\\\x1b\[2Jtime'\)",
    ),
}


def _one_line_error(result: Result, pattern: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.exc_info is not None
    assert result.exc_info[0] is SystemExit, result.exc_info  # not an uncaught exception
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert len(lines[0]) < 600, lines[0]
    assert re.search(pattern, lines[0]), lines[0]


@pytest.mark.parametrize("case", sorted(CASES))
def test_import_refuses_bad_trace_in_one_line(tmp_path: Path, case: str) -> None:
    make, pattern = CASES[case]
    path = make(tmp_path)
    url = f"sqlite:///{tmp_path}/db.sqlite"
    assert CliRunner().invoke(cli, ["db", "upgrade", "--url", url]).exit_code == 0
    result = CliRunner().invoke(
        cli, ["intensity", "import", str(path), "--region", "X", "--url", url]
    )
    _one_line_error(result, pattern)


@pytest.mark.parametrize("case", sorted(CASES))
def test_demo_refuses_bad_trace_in_one_line(tmp_path: Path, case: str) -> None:
    make, pattern = CASES[case]
    path = make(tmp_path)
    result = CliRunner().invoke(
        cli,
        [
            "demo",
            *("--url", f"sqlite:///{tmp_path}/demo.db", "--work-dir", str(tmp_path / "w")),
            *("--spool", str(tmp_path / "spool"), "--trace", str(path), "--region", "X"),
        ],
    )
    _one_line_error(result, pattern)
    assert not (tmp_path / "demo.db").exists()  # refused before anything was set up


def test_utf16_and_utf8_with_bom_are_read(tmp_path: Path) -> None:
    for encoding in ("utf-16", "utf-8-sig"):
        path = tmp_path / f"{encoding}.csv"
        path.write_bytes(GOOD.encode(encoding))
        points = trace_module.read_trace(path, region="X", source="s").points
        assert [p.ci_g_per_kwh for p in points] == [100.0, 110.0]


def test_more_rows_than_the_bound_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(trace_module, "MAX_TRACE_ROWS", 2)
    path = tmp_path / "long.csv"
    path.write_text(GOOD + "2024-03-01T02:00:00Z,120\n")
    with pytest.raises(ConfigError, match=r"long\.csv, line 4: more than the 2 rows"):
        trace_module.read_trace(path, region="X", source="s")
