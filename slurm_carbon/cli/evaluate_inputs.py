"""What the ``evaluate`` commands read alike: a trace, a power profile, durations.

A regular carbon-intensity trace, a power profile, and durations such as ``30m``,
``6h`` or ``7d``.

The trace is a CSV ``time,ci_g_per_kwh`` (or any format
:func:`~slurm_carbon.intensity.trace.read_trace` reads) at a regular step of
15 min, 30 min or 1 h (:data:`~slurm_carbon.forecast.intensity.ALLOWED_STEPS_S`);
a gap, a time that repeats or goes back, or a bad value is refused with its line.
"""

from __future__ import annotations

import csv
import itertools
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import click

from slurm_carbon.cli.params import workload_options
from slurm_carbon.errors import ConfigError
from slurm_carbon.forecast.intensity import ALLOWED_STEPS_S
from slurm_carbon.intensity.trace import Trace, read_trace
from slurm_carbon.text import escape_control
from slurm_carbon.vocabulary import CiSignal

__all__ = [
    "duration_label",
    "duration_s",
    "output_file",
    "profile_options",
    "read_regular_trace",
    "regular_file",
]

_UNITS_S = {"m": 60, "h": 3600, "d": 86_400}
_DURATION = re.compile(r"([0-9]{1,6})([mhd])")

F = TypeVar("F", bound=Callable[..., object])


def duration_s(text: str) -> int | None:
    """``30m``, ``6h``, ``7d`` in seconds; None for anything else."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        return None
    return int(match[1]) * _UNITS_S[match[2]]


def duration_label(seconds: int) -> str:
    """Seconds as ``30m`` or ``6h``."""
    if seconds % 3600:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"


def regular_file(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Path | None:
    """A click callback: the path of a regular file, else a usage error.

    A FIFO or a device would block the read or never end. (The option is a string,
    not ``click.Path``, which stats the name and fails on a NUL.)
    """
    if value is None:
        return None
    path = Path(value)
    if "\x00" in value or not path.is_file():
        raise click.BadParameter(f"{escape_control(value)} is not a regular file")
    return path


#: The help of every ``--trace`` of the evaluate commands.
TRACE_HELP = "CSV trace 'time,ci_g_per_kwh' (ISO 8601 with offset; steps of 15 min, 30 min or 1 h)."
#: The required ``--trace`` of ``evaluate control`` and ``evaluate advice``.
trace_option = click.option(
    "--trace", "trace_file", required=True, callback=regular_file, help=TRACE_HELP
)


def output_file(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Path | None:
    """A click callback: the path of a regular file or a new one, else a usage error.

    Opening a FIFO to write would block.
    """
    if value is None:
        return None
    path = Path(value)
    if "\x00" in value or (path.exists() and not path.is_file()):
        raise click.BadParameter(f"{escape_control(value)} is not a regular file")
    return path


def iso_time(seconds: float) -> str:
    """Seconds since the epoch as ISO 8601 in UTC, with its offset."""
    return datetime.fromtimestamp(seconds, UTC).isoformat()


def write_rows(path: Path, columns: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """Write a CSV with a header line (``--decisions``); an OS error is one line.

    Raises:
        click.ClickException: The file cannot be written.
    """
    try:
        with path.open("w", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(columns)
            writer.writerows(rows)
    except OSError as err:
        raise click.ClickException(
            f"cannot write {escape_control(str(path))}: {err.strerror}"
        ) from None


def _data_lines(path: Path) -> list[int] | None:
    """The line number of each data row of a CSV file (blank lines skipped), if it is one."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    numbers = [number for number, line in enumerate(lines, 1) if line.strip()]
    return numbers[1:]


def read_regular_trace(path: Path) -> Trace:
    """The trace at ``path``, refused unless its steps are regular.

    Raises:
        ConfigError: unreadable, or a step not allowed, a gap or a repeated time (its line).
    """
    trace = read_trace(path, region="trace", source="trace", signal=CiSignal.AVERAGE)
    step_s = trace.step_s
    if step_s not in ALLOWED_STEPS_S:
        raise ConfigError(f"{path}: a step of {step_s} s is not 15 min, 30 min or 1 h")
    times_s = [point.time.timestamp() for point in trace.points]
    for index, (before, after) in enumerate(itertools.pairwise(times_s), 1):
        if after - before != step_s:
            lines = _data_lines(path)
            where = (
                f"line {lines[index]}"
                if lines is not None and index < len(lines)
                else f"row {index + 1}"
            )
            raise ConfigError(
                f"{path}, {where}: {after - before:g} s after the previous row, not the"
                f" trace's step of {step_s} s (a gap or a repeated time)"
            )
    return trace


def profile_options(command: F) -> F:
    """``--profile FILE`` (our CSV or Zeus's summary) and its row selection (workload_options)."""
    command = workload_options(command)
    return click.option(
        "--profile",
        "profile_path",
        required=True,
        type=str,  # click.Path's stat raises on a NUL; load_profile refuses what is not a file
        help="power_limit_w,throughput,power_w CSV, or Zeus's summary_power_<gpu>.csv.",
    )(command)
