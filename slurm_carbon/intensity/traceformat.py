"""Trace files as their sources write them: bytes to a table, and which columns hold what.

:func:`load_table` turns a file into a header and rows of text cells, whatever
it is: CSV (UTF-8, with or without a BOM, or UTF-16 with a BOM), Parquet, or
JSON in the UK Carbon Intensity API's shape (national, or one region's) or
WattTime's. Anything else (a binary file, another text encoding, a field
longer than the csv module allows, a file over :data:`MAX_TRACE_BYTES`) is a
:class:`~slurm_carbon.errors.ConfigError` naming the file and, where there is
one, the line.

:func:`choose_columns` finds the time and carbon-intensity columns by name,
matched case-, space- and punctuation-insensitively after Unicode
normalisation (``CO₂`` is ``CO2``), in each source's own spelling:

- ours and DACF's: ``datetime_utc``, ``time`` or ``timestamp``, and
  ``carbon_intensity_gco2_per_kwh``, ``ci_g_per_kwh`` or ``carbon_intensity`` (g/kWh);
- the Electricity Maps data portal: ``Datetime (UTC)``, and
  ``Carbon Intensity gCO₂eq/kWh (direct)``, else ``(LCA)`` (g/kWh);
- the UK Carbon Intensity API (JSON): ``from``, and ``actual``, else ``forecast`` (g/kWh);
- WattTime's historical data: ``point_time``, and ``value`` (lb/MWh).

:class:`TraceColumns` names other columns, their unit and the zone of naive times.
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from slurm_carbon.errors import ConfigError
from slurm_carbon.text import escape_control

__all__ = [
    "MAX_TRACE_BYTES",
    "MAX_TRACE_ROWS",
    "UNITS",
    "ColumnChoice",
    "Table",
    "TraceColumns",
    "choose_columns",
    "load_table",
    "normalise",
    "shorten",
]

#: The largest trace file read, in bytes. Five years of 5-minute points (WattTime's
#: finest step) in the longest CSV rows we read (Electricity Maps', ~110 bytes) are
#: about 58 MB, and a year of the UK API's regional JSON is about 10 MB; a larger file
#: is read whole into memory for nothing anyone needs.
MAX_TRACE_BYTES = 64 * 1024 * 1024
#: The most data rows read from one trace: five years of 5-minute points is 525,960.
#: Each row costs about 0.5 kB while it is read and stored (~300 MB at the bound).
MAX_TRACE_ROWS = 600_000
#: Characters of a cell quoted in an error message; a longer cell is cut.
QUOTE_CHARS = 40

#: Grams CO2e per kWh in one unit of each accepted unit (lower case, no spaces).
UNITS = {"g/kwh": 1.0, "kg/mwh": 1.0, "lb/mwh": 453.59237 / 1000, "lbs/mwh": 453.59237 / 1000}
_UNIT_LABEL = {"g/kwh": "g/kWh", "kg/mwh": "kg/MWh", "lb/mwh": "lb/MWh", "lbs/mwh": "lb/MWh"}

_PARQUET_SUFFIXES = frozenset({".parquet", ".pq"})
_PARQUET_MAGIC = b"PAR1"
_BOMS = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)


def normalise(name: str) -> str:
    """A column name as matched: NFKC, case-folded, letters and digits only."""
    return "".join(c for c in unicodedata.normalize("NFKC", name).casefold() if c.isalnum())


def shorten(text: str) -> str:
    """Outside text quoted for a message: control characters escaped, cut to QUOTE_CHARS."""
    cut = text if len(text) <= QUOTE_CHARS else text[:QUOTE_CHARS] + "..."
    return repr(escape_control(cut))


@dataclass(frozen=True, slots=True)
class _Known:
    """A column a source writes: its normalised name, unit and source; the time column it needs."""

    name: str
    unit: str
    source: str
    needs_time: str | None = None


TIME_COLUMNS = ("datetimeutc", "time", "timestamp", "pointtime", "from")
_VALUE_COLUMNS = (
    _Known("carbonintensitygco2perkwh", "g/kwh", "DACF"),
    _Known("cigperkwh", "g/kwh", "slurm_carbon"),
    _Known("carbonintensity", "g/kwh", "carbon-intensity CSV"),
    _Known("carbonintensitygco2eqkwhdirect", "g/kwh", "Electricity Maps, direct"),
    _Known("carbonintensitygco2eqkwhlca", "g/kwh", "Electricity Maps, life cycle"),
    _Known("actual", "g/kwh", "UK Carbon Intensity, actual", needs_time="from"),
    _Known("forecast", "g/kwh", "UK Carbon Intensity, forecast", needs_time="from"),
    _Known("value", "lb/mwh", "WattTime", needs_time="pointtime"),
)


@dataclass(frozen=True, slots=True)
class TraceColumns:
    """What a person says about a trace whose columns are not recognised.

    Attributes:
        time_column: The time column's name (matched as the known ones are).
        value_column: The carbon-intensity column's name.
        unit: Its unit, a key of :data:`UNITS` (default: the known column's, else g/kWh).
        tz: The zone of times written without an offset (None: UTC).
    """

    time_column: str | None = None
    value_column: str | None = None
    unit: str | None = None
    tz: tzinfo | None = None


@dataclass(frozen=True, slots=True)
class ColumnChoice:
    """The columns read, and how. Units: ``to_g_per_kwh`` in (gCO2e/kWh) per file unit."""

    time_at: int
    value_at: int
    time_name: str
    value_name: str
    unit: str
    to_g_per_kwh: float
    source: str

    def describe(self) -> str:
        """One line: which columns and unit were used, e.g. for stderr."""
        converted = "" if self.to_g_per_kwh == 1 else f" (x {self.to_g_per_kwh:g} to g/kWh)"
        return (
            f"time from column {shorten(self.time_name)}, carbon intensity from column"
            f" {shorten(self.value_name)} in {_UNIT_LABEL[self.unit]}{converted} [{self.source}]"
        )


@dataclass(frozen=True, slots=True)
class Table:
    """A trace file as text: its column names and ``(where, cells)`` rows (lazy for CSV)."""

    header: list[str]
    rows: Iterator[tuple[str, list[str]]]
    kind: str


def _find(header: Sequence[str], name: str) -> int | None:
    wanted = normalise(name)
    found = [i for i, column in enumerate(header) if normalise(column) == wanted]
    return found[0] if found else None


def _columns_text(header: Sequence[str]) -> str:
    return ", ".join(shorten(column) for column in header[:20]) + (
        ", ..." if len(header) > 20 else ""
    )


def choose_columns(header: Sequence[str], given: TraceColumns, path: Path) -> ColumnChoice:
    """The time and carbon-intensity columns of ``header``, given names first, then known ones.

    Raises:
        ConfigError: a given column is absent, or no known one is found (the
            message lists the file's columns).
    """
    found = _columns_text(header)
    if given.time_column is not None:
        time_at = _find(header, given.time_column)
        if time_at is None:
            raise ConfigError(f"{path}: no column {shorten(given.time_column)} (found {found})")
    else:
        time_at = next(
            (at for name in TIME_COLUMNS if (at := _find(header, name)) is not None), None
        )
        if time_at is None:
            raise ConfigError(
                f"{path}: no time column (known: datetime_utc, time, timestamp, Datetime (UTC),"
                f" point_time, from; found {found}); name it with --time-column"
            )
    time_key = normalise(header[time_at])
    known: _Known | None
    if given.value_column is not None:
        value_at = _find(header, given.value_column)
        if value_at is None:
            raise ConfigError(f"{path}: no column {shorten(given.value_column)} (found {found})")
        known = next((k for k in _VALUE_COLUMNS if k.name == normalise(header[value_at])), None)
    else:
        value_at, known = None, None
        for candidate in _VALUE_COLUMNS:
            at = _find(header, candidate.name)
            if at is not None and candidate.needs_time in {None, time_key}:
                value_at, known = at, candidate
                break
        if value_at is None:
            raise ConfigError(
                f"{path}: no carbon-intensity column (known: carbon_intensity_gco2_per_kwh,"
                f" ci_g_per_kwh, carbon_intensity, Carbon Intensity gCO2eq/kWh (direct) or"
                f" (LCA), actual/forecast with from, value with point_time; found {found});"
                " name it with --value-column and --unit"
            )
    unit = given.unit.lower().replace(" ", "") if given.unit else None
    if unit is not None and unit not in UNITS:
        raise ConfigError(f"unknown unit {shorten(given.unit or '')}: one of g/kWh, kg/MWh, lb/MWh")
    unit = unit or (known.unit if known is not None else "g/kwh")
    return ColumnChoice(
        time_at=time_at,
        value_at=value_at,
        time_name=header[time_at],
        value_name=header[value_at],
        unit=unit,
        to_g_per_kwh=UNITS[unit],
        source=known.source if known is not None else "named on the command line",
    )


def file_bytes(path: Path) -> bytes:
    """The whole file, once it is known to be a readable file within :data:`MAX_TRACE_BYTES`.

    Raises:
        ConfigError: no such file, a directory, unreadable, or too large.
    """
    try:
        if path.is_dir():
            raise ConfigError(f"{path}: is a directory, expected a trace file")
        size = path.stat().st_size
        if size > MAX_TRACE_BYTES:
            raise ConfigError(
                f"{path}: {size:,} bytes, more than the {MAX_TRACE_BYTES:,} a trace may have"
                " (split it by year)"
            )
        with path.open("rb") as handle:
            return handle.read(MAX_TRACE_BYTES + 1)[:MAX_TRACE_BYTES]
    except OSError as err:
        raise ConfigError(f"cannot read trace {path}: {err.strerror or err}") from None


def is_parquet(path: Path, data: bytes) -> bool:
    """Whether the file is Parquet, by its suffix or its magic bytes."""
    return path.suffix.lower() in _PARQUET_SUFFIXES or data[:4] == _PARQUET_MAGIC


def load_table(path: Path) -> Table:
    """The file's header and rows as text, by its kind (Parquet, JSON, else CSV).

    Raises:
        ConfigError: as the module docstring says.
    """
    data = file_bytes(path)
    if is_parquet(path, data):
        return _parquet(path, data)
    text = _decode(path, data)
    if text.lstrip()[:1] in {"{", "["}:
        return _json(path, text)
    return _csv(path, text)


def _decode(path: Path, data: bytes) -> str:
    encoding = next((name for bom, name in _BOMS if data.startswith(bom)), "utf-8")
    nul = data.find(b"\x00") if encoding != "utf-16" else -1
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise ConfigError(
            f"{path}, line {line}: a NUL byte: a binary file (or UTF-16"
            " without a BOM), not a CSV, JSON or Parquet trace"
        )
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise ConfigError(
            f"{path}, line {line}: not {encoding.upper()} text (byte {data[err.start]:#04x});"
            " save the trace as UTF-8"
        ) from None
    if "\x00" in text:
        raise ConfigError(f"{path}: a NUL character: not a CSV or JSON trace")
    return text


def _csv(path: Path, text: str) -> Table:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as err:
        raise ConfigError(f"{path}, line {reader.line_num}: {err}") from None
    if header is None:
        raise ConfigError(f"{path}: empty file, expected a CSV header")

    def rows() -> Iterator[tuple[str, list[str]]]:
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                raise ConfigError(f"{path}, line {reader.line_num}: {err}") from None
            yield f"line {reader.line_num}", row

    return Table(header, rows(), "CSV")


def _parquet(path: Path, data: bytes) -> Table:
    try:
        parquet = pq.ParquetFile(pa.BufferReader(data))
        if parquet.metadata.num_rows > MAX_TRACE_ROWS:
            raise ConfigError(
                f"{path}: {parquet.metadata.num_rows:,} rows, more than the"
                f" {MAX_TRACE_ROWS:,} a trace may have (split it by year)"
            )
        table = parquet.read()
        header = list(table.column_names)
        columns = [table.column(name).to_pylist() for name in header]
    except (OSError, pa.ArrowException) as err:
        raise ConfigError(f"cannot read Parquet trace {path}: {err}") from None

    def text(value: object) -> str:
        if value is None:
            return ""
        return value.isoformat() if isinstance(value, datetime) else str(value)

    def rows() -> Iterator[tuple[str, list[str]]]:
        for index, values in enumerate(zip(*columns, strict=True)):
            yield f"row {index + 1}", [text(value) for value in values]

    return Table(header, rows(), "Parquet")


def _records(document: Any) -> list[Any] | None:
    """The list of half-hours (UK) or points (WattTime) in a decoded JSON document."""
    data = document.get("data") if isinstance(document, dict) else None
    if isinstance(data, dict):  # one region of the UK API: {"data": {"regionid": .., "data": []}}
        data = data.get("data")
    elif (  # a region by postcode: {"data": [{"regionid": .., "data": []}]}
        isinstance(data, list)
        and len(data) == 1
        and isinstance(data[0], dict)
        and isinstance(data[0].get("data"), list)
    ):
        data = data[0]["data"]
    if isinstance(data, list) and all(isinstance(item, dict) for item in data):
        return data
    return None


def _json(path: Path, text: str) -> Table:
    try:
        document = json.loads(text)
    except RecursionError:
        raise ConfigError(f"{path}: JSON nested too deeply") from None
    except ValueError as err:  # JSONDecodeError, and integers too long to convert
        raise ConfigError(f"{path}: not valid JSON: {err}") from None
    records = _records(document)
    if records is None or (records and "regions" in records[0]):
        raise ConfigError(
            f"{path}: JSON, but not in the UK Carbon Intensity API's shape"
            ' ({"data": [{"from": .., "intensity": {"actual": ..}}]}, or one region\'s)'
            " nor WattTime's historical one"
        )
    if len(records) > MAX_TRACE_ROWS:
        raise ConfigError(
            f"{path}: {len(records):,} entries, more than the {MAX_TRACE_ROWS:,} a trace may have"
        )
    flat = [_flatten(record) for record in records]
    header = list(dict.fromkeys(key for record in flat for key in record))

    def rows() -> Iterator[tuple[str, list[str]]]:
        for index, record in enumerate(flat):
            yield f"entry {index + 1}", [record.get(key, "") for key in header]

    return Table(header, rows(), "JSON")


def _flatten(record: dict[str, Any]) -> dict[str, str]:
    """Scalars of a record, and those of its nested objects by their own names (``actual``)."""
    cells: dict[str, str] = {}
    for key, value in record.items():
        inner = value.items() if isinstance(value, dict) else [(key, value)]
        for name, cell in inner:
            if cell is None:
                cells[str(name)] = ""
            elif isinstance(cell, str | int | float):
                cells[str(name)] = str(cell)
    return cells
