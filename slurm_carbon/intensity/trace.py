"""Carbon-intensity traces from files: a reader, and a provider over one trace.

A trace is a file in one of its sources' formats (CSV, Parquet, the UK Carbon
Intensity API's or WattTime's JSON; see :mod:`.traceformat` for the columns
recognised and :class:`~.traceformat.TraceColumns` to name others) with one
time and one carbon-intensity column; other columns are ignored. Times are ISO
8601 (a time without an offset is in ``TraceColumns.tz``, UTC by default) or
Unix epoch seconds (in Parquet also timestamp columns); values are converted
to gCO2e/kWh. The step is the most common gap between consecutive rows.

Units: gCO2e/kWh::

    trace = read_trace(Path("SE_direct_2020.csv"), region="SE", source="dacf")
    trace.step_s, len(trace.points)            # (3600, 8784)
    trace.columns.describe()                   # "time from column 'datetime_utc', ..."
"""

from __future__ import annotations

import bisect
import itertools
import logging
import math
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from slurm_carbon.errors import ConfigError, IntensityUnavailable
from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.intensity.series import overlapping
from slurm_carbon.intensity.timefmt import iso_utc
from slurm_carbon.intensity.traceformat import (
    MAX_TRACE_ROWS,
    ColumnChoice,
    TraceColumns,
    choose_columns,
    file_bytes,
    is_parquet,
    load_table,
    shorten,
)
from slurm_carbon.text import escape_control
from slurm_carbon.vocabulary import CiKind, CiSignal

__all__ = [
    "MAX_CI_G_PER_KWH",
    "Trace",
    "TraceColumns",
    "TraceProvider",
    "count_rows",
    "parse_time",
    "read_trace",
]

logger = logging.getLogger(__name__)

# A step that cannot be inferred (a one-row trace): one hour.
DEFAULT_STEP_S = 3600
#: The largest carbon intensity accepted, in gCO2e/kWh: lignite, the dirtiest
#: generation, is about 1,200 (life cycle); a figure several times that is a
#: wrong unit (g/MWh, or lb/MWh read as g/kWh would still pass: WattTime's is
#: converted by name) or a wrong column.
MAX_CI_G_PER_KWH = 5000.0
#: Times a trace may hold. Grid carbon-intensity records begin in the 1990s at the
#: earliest; a time outside this window is a misread column (epoch milliseconds
#: read as seconds land far in the future, small numbers in 1970).
EARLIEST_TRACE_TIME = datetime(1990, 1, 1, tzinfo=UTC)
LATEST_TRACE_TIME = datetime(2100, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Trace:
    """The points of one trace file, oldest first, its step, and the columns read.

    Units: seconds.
    """

    points: list[CiPoint]
    step_s: int
    columns: ColumnChoice


def parse_time(text: str, tz: tzinfo | None = None) -> datetime:
    """An aware UTC datetime from ISO 8601 or epoch seconds.

    A time without an offset is in ``tz`` (default UTC).

    Raises:
        ValueError: neither, or out of Python's range of dates.
    """
    value = text.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"not a time: {shorten(text)}") from None
    try:
        return iso_utc(value, tz)
    except ValueError:
        raise ValueError(f"not an ISO 8601 time or epoch seconds: {shorten(text)}") from None


def count_rows(path: Path) -> int:
    """About how many data rows a trace has (a CSV file's lines less the header); for progress.

    Raises:
        ConfigError: the file cannot be read or is too large.
    """
    data = file_bytes(path)
    if is_parquet(path, data):
        try:
            return int(pq.ParquetFile(pa.BufferReader(data)).metadata.num_rows)
        except (OSError, pa.ArrowException) as err:
            raise ConfigError(f"cannot read Parquet trace {path}: {err}") from None
    return max(0, sum(1 for line in data.splitlines() if line.strip()) - 1)


def _rows(
    path: Path, columns: TraceColumns, on_row: Callable[[], None] | None
) -> tuple[ColumnChoice, Iterator[tuple[str, datetime, float]]]:
    """The columns chosen, and (where, time, ci in g/kWh) for each data row, validated."""
    table = load_table(path)
    choice = choose_columns(table.header, columns, path)

    def validated() -> Iterator[tuple[str, datetime, float]]:
        for count, (where, row) in enumerate(table.rows, 1):
            if count > MAX_TRACE_ROWS:
                raise ConfigError(
                    f"{path}, {where}: more than the {MAX_TRACE_ROWS:,} rows a trace may have"
                    " (split it by year)"
                )
            if on_row is not None:
                on_row()
            if not any(cell.strip() for cell in row):
                continue
            yield where, *_point(path, where, row, choice, columns.tz)

    return choice, validated()


def _point(
    path: Path, where: str, row: list[str], choice: ColumnChoice, tz: tzinfo | None
) -> tuple[datetime, float]:
    try:
        time_text, value_text = row[choice.time_at], row[choice.value_at]
    except IndexError:
        raise ConfigError(f"{path}, {where}: too few columns") from None
    try:
        time = parse_time(time_text, tz)
    except ValueError as err:
        raise ConfigError(f"{path}, {where}: {err}") from None
    if not EARLIEST_TRACE_TIME <= time < LATEST_TRACE_TIME:
        raise ConfigError(
            f"{path}, {where}: time {time.isoformat()} is outside"
            f" {EARLIEST_TRACE_TIME.year}..{LATEST_TRACE_TIME.year - 1} (a wrong column or unit?)"
        )
    if not value_text.strip():
        raise ConfigError(
            f"{path}, {where}: no value in column {shorten(choice.value_name)}"
            " (choose another with --value-column)"
        )
    try:
        ci = float(value_text) * choice.to_g_per_kwh
    except ValueError:
        ci = math.nan
    if not (math.isfinite(ci) and 0 <= ci <= MAX_CI_G_PER_KWH):
        raise ConfigError(
            f"{path}, {where}: carbon intensity {shorten(value_text)} is not a number from 0 to"
            f" {MAX_CI_G_PER_KWH:g} g/kWh"
        )
    return time, ci


def read_trace(  # noqa: PLR0913 (the file, what to label its points with, and how to read it)
    path: Path,
    *,
    region: str,
    source: str,
    signal: CiSignal = CiSignal.AVERAGE,
    columns: TraceColumns | None = None,
    on_row: Callable[[], None] | None = None,
) -> Trace:
    """Read a trace file into actual points of ``region`` from ``source``.

    ``columns`` names columns, unit and zone the file does not make plain;
    ``on_row`` is called once per data row read (a progress bar's update).

    Raises:
        ConfigError: the file cannot be read, lacks a known column, or a row is
            bad (the message names the line), or times repeat or go backwards.
    """
    choice, validated = _rows(path, columns or TraceColumns(), on_row)
    rows: list[tuple[str, datetime, float]] = []
    for where, time, ci in validated:
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
    return Trace(points=points, step_s=step_s, columns=choice)


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
    def from_file(cls, path: Path, *, region: str, source: str = "trace") -> TraceProvider:
        """A provider over the trace file at ``path`` (see :func:`read_trace`); logs its columns."""
        trace = read_trace(path, region=region, source=source)
        logger.info("trace %s: %s", escape_control(str(path)), trace.columns.describe())
        return cls(trace, name=source)

    def history(self, region: str, start: datetime, end: datetime) -> Sequence[CiPoint]:
        """The points overlapping ``[start, end)``.

        Raises:
            IntensityUnavailable: another region, or the trace does not cover the range.
        """
        if region != self._region:
            raise IntensityUnavailable(f"trace {self.name!r} has no region {region!r}")
        first = max(0, bisect.bisect_right(self._times, start) - 1)
        last = bisect.bisect_left(self._times, end)
        found = overlapping(self._points[first:last], start, end)
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
