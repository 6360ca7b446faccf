"""Carbon-intensity traces from CSV or Parquet files: a reader, and a provider over one trace.

A trace has a time column (``datetime_utc``, ``time`` or ``timestamp``) and an
intensity column (``carbon_intensity_gco2_per_kwh``, ``ci_g_per_kwh`` or
``carbon_intensity``), matched case-insensitively; other columns are ignored.
Times are ISO 8601 (a time without an offset is taken as UTC) or Unix epoch
seconds (in Parquet also timestamp columns). The step is the most common gap
between consecutive rows. A file ending in ``.parquet`` is read as Parquet.

Units: gCO2e/kWh::

    trace = read_trace(Path("SE_direct_2020.csv"), region="SE", source="dacf")
    trace.step_s, len(trace.points)            # (3600, 8784)
"""

from __future__ import annotations

import bisect
import csv
import itertools
import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from slurm_carbon.errors import ConfigError, IntensityUnavailable
from slurm_carbon.intensity.base import CiKind, CiPoint, CiSignal
from slurm_carbon.intensity.timefmt import iso_utc

__all__ = [
    "CI_COLUMNS",
    "TIME_COLUMNS",
    "Trace",
    "TraceProvider",
    "count_rows",
    "parse_time",
    "read_trace",
]

TIME_COLUMNS = ("datetime_utc", "time", "timestamp")
CI_COLUMNS = ("carbon_intensity_gco2_per_kwh", "ci_g_per_kwh", "carbon_intensity")
# A step that cannot be inferred (a one-row trace): one hour.
DEFAULT_STEP_S = 3600


@dataclass(frozen=True, slots=True)
class Trace:
    """The points of one trace file, oldest first, and its step. Units: seconds."""

    points: list[CiPoint]
    step_s: int


def parse_time(text: str) -> datetime:
    """An aware UTC datetime from ISO 8601 (``Z`` or an offset; none means UTC) or epoch seconds.

    Raises:
        ValueError: neither.
    """
    value = text.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds):
            raise ValueError(f"not a time: {text!r}")
        return datetime.fromtimestamp(seconds, tz=UTC)
    try:
        return iso_utc(value)
    except ValueError:
        raise ValueError(f"not an ISO 8601 time or epoch seconds: {text!r}") from None


def count_rows(path: Path) -> int:
    """The number of data rows in a trace (a CSV file's lines, less the header); for progress."""
    try:
        if path.suffix.lower() in PARQUET_SUFFIXES:
            return int(pq.ParquetFile(path).metadata.num_rows)
        with path.open("rb") as handle:
            lines = sum(1 for line in handle if line.strip())
    except (OSError, pa.ArrowException) as err:
        raise ConfigError(f"cannot read trace {path}: {err}") from err
    return max(0, lines - 1)


def _pick(header: Sequence[str], names: Sequence[str], what: str, path: Path) -> int:
    lowered = [column.strip().lower() for column in header]
    for name in names:
        if name in lowered:
            return lowered.index(name)
    raise ConfigError(
        f"{path}: no {what} column (expected one of {', '.join(names)}; found {', '.join(header)})"
    )


PARQUET_SUFFIXES = frozenset({".parquet", ".pq"})


def _parquet_cells(path: Path) -> tuple[list[str], Iterator[tuple[str, list[str]]]]:
    """The column names and (where, cells) of each row of a Parquet file, as text."""
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as err:
        raise ConfigError(f"cannot read Parquet trace {path}: {err}") from err
    header = list(table.column_names)
    columns = [table.column(name).to_pylist() for name in header]

    def text(value: object) -> str:
        return value.isoformat() if isinstance(value, datetime) else str(value)

    def rows() -> Iterator[tuple[str, list[str]]]:
        for index, values in enumerate(zip(*columns, strict=True)):
            yield f"row {index + 1}", [text(value) for value in values]

    return header, rows()


def _rows(path: Path, on_row: Callable[[], None] | None) -> Iterator[tuple[str, datetime, float]]:
    """(where, time, ci) for each data row, validated; Parquet by the file's suffix."""
    if path.suffix.lower() in PARQUET_SUFFIXES:
        header, rows = _parquet_cells(path)
        yield from _validated(path, header, rows, on_row)
        return
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as err:
        raise ConfigError(f"cannot read trace {path}: {err.strerror or err}") from err
    with handle:
        reader = csv.reader(handle)
        first: list[str] | None = next(reader, None)
        if first is None:
            raise ConfigError(f"{path}: empty file, expected a CSV header")
        lines = ((f"line {reader.line_num}", row) for row in reader)
        yield from _validated(path, first, lines, on_row)


def _validated(
    path: Path,
    header: Sequence[str],
    rows: Iterable[tuple[str, list[str]]],
    on_row: Callable[[], None] | None,
) -> Iterator[tuple[str, datetime, float]]:
    time_at = _pick(header, TIME_COLUMNS, "time", path)
    ci_at = _pick(header, CI_COLUMNS, "carbon-intensity", path)
    for where, row in rows:
        if on_row is not None:
            on_row()
        if not any(cell.strip() for cell in row):
            continue
        try:
            time = parse_time(row[time_at])
            ci = float(row[ci_at])
        except IndexError:
            raise ConfigError(f"{path}, {where}: too few columns") from None
        except ValueError as err:
            raise ConfigError(f"{path}, {where}: {err}") from None
        if not math.isfinite(ci) or ci < 0:
            raise ConfigError(
                f"{path}, {where}: carbon intensity {row[ci_at]!r} is not a number >= 0"
            )
        yield where, time, ci


def read_trace(
    path: Path,
    *,
    region: str,
    source: str,
    signal: CiSignal = CiSignal.AVERAGE,
    on_row: Callable[[], None] | None = None,
) -> Trace:
    """Read a CSV trace into actual points of ``region`` from ``source``.

    ``on_row`` is called once per data row read (a progress bar's update).

    Raises:
        ConfigError: the file cannot be read, lacks a known column, or a row is
            bad (the message names the line), or times repeat or go backwards.
    """
    rows: list[tuple[str, datetime, float]] = []
    for where, time, ci in _rows(path, on_row):
        if rows and time <= rows[-1][1]:
            raise ConfigError(
                f"{path}, {where}: time {time.isoformat()} is not after the previous row's"
            )
        rows.append((where, time, ci))
    if not rows:
        raise ConfigError(f"{path}: no data rows")
    gaps = Counter(int((b[1] - a[1]).total_seconds()) for a, b in itertools.pairwise(rows))
    step_s = gaps.most_common(1)[0][0] if gaps else DEFAULT_STEP_S
    points = [
        CiPoint(
            region=region,
            time=time,
            step_s=step_s,
            ci_g_per_kwh=ci,
            source=source,
            kind=CiKind.ACTUAL,
            signal=signal,
            issued_at=time,
        )
        for _where, time, ci in rows
    ]
    return Trace(points=points, step_s=step_s)


class TraceProvider:
    """A provider that answers from one trace held in memory (tests, demos, replays).

    Args:
        trace: The points; their region is the only region served.
        name: The provider's name; the points keep their own ``source``.
    """

    def __init__(self, trace: Trace, *, name: str = "trace") -> None:
        self.name = name
        self._points = trace.points
        self._times = [point.time for point in trace.points]
        self._region = trace.points[0].region if trace.points else ""

    @classmethod
    def from_csv(cls, path: Path, *, region: str, source: str = "trace") -> TraceProvider:
        """A provider over the CSV trace at ``path`` (see :func:`read_trace`)."""
        return cls(read_trace(path, region=region, source=source), name=source)

    def history(self, region: str, start: datetime, end: datetime) -> Sequence[CiPoint]:
        """The points overlapping ``[start, end)``.

        Raises:
            IntensityUnavailable: another region, or the trace does not cover the range.
        """
        if region != self._region:
            raise IntensityUnavailable(f"trace {self.name!r} has no region {region!r}")
        first = max(0, bisect.bisect_right(self._times, start) - 1)
        last = bisect.bisect_left(self._times, end)
        found = [
            point
            for point in self._points[first:last]
            if point.time + timedelta(seconds=point.step_s) > start
        ]
        if not found:
            raise IntensityUnavailable(
                f"trace {self.name!r} has no figures for {region} from {start.isoformat()}"
                f" to {end.isoformat()}"
            )
        return found

    def forecast(self, region: str, start: datetime, hours: int) -> Sequence[CiPoint]:
        """A trace forecasts nothing (replay the history of a later range instead).

        Raises:
            IntensityUnavailable: always.
        """
        raise IntensityUnavailable(f"trace {self.name!r} has no forecast")
