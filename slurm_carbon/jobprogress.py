"""A running job says how far it is: ``slurm_carbon.progress(0.42)``.

The Prolog shim creates ``$SLURM_CARBON_PROGRESS_DIR/<jobid>`` (default
:data:`DEFAULT_PROGRESS_DIR`), an empty regular file owned by the job's user,
mode 0600, in a root-owned directory; the agent removes it once it has accounted the
job (its last record read). The job overwrites
it with one fixed-format line, ``<fraction> <time>`` (e.g.
``0.420000 1764600000.123``: the fraction of its work done, 0..1, with six
decimals, and seconds since the epoch with three), in one ``pwrite`` at offset
0, so a reader never sees two records mixed. The node agent reads it (as root,
without following links, at most :data:`PROGRESS_MAX_BYTES`) with
:func:`parse_progress_record`.

Writing is cheap (the standard library only; one open, one pwrite, one close)
and never hurts the job: outside a managed job (no ``SLURM_JOB_ID``, or no file
made by the Prolog: it is never created here) or when anything goes wrong,
nothing is written and :func:`progress` returns False.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Mapping

__all__ = [
    "DEFAULT_PROGRESS_DIR",
    "PROGRESS_DIR_ENV",
    "PROGRESS_MAX_BYTES",
    "parse_progress_record",
    "progress",
    "progress_record",
    "record_progress",
]

#: Where the Prolog creates the jobs' progress files (a tmpfs: gone at reboot, as the jobs).
DEFAULT_PROGRESS_DIR = "/run/slurm-carbon-progress"
#: The environment variable that names another directory (the shims read it too).
PROGRESS_DIR_ENV = "SLURM_CARBON_PROGRESS_DIR"
#: A record is 24 bytes (``0.420000 1764600000.123`` and a newline) until the year 2286; a larger
#: file was not written by :func:`progress`, and the agent does not read it.
PROGRESS_MAX_BYTES = 64

_JOB_ID = re.compile(r"[0-9]{1,10}")
_RECORD = re.compile(rb"([01]\.[0-9]{6}) ([0-9]{1,10}\.[0-9]{3})\n")
_OPEN_FLAGS = os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} {number} is not a finite number")
    return number


def _fraction(fraction: object, step: object, total: object) -> float:
    """The fraction of the work done, from ``fraction`` or ``step``/``total``.

    Raises:
        ValueError: Not a number in 0..1, both or neither form given, ``total``
            not positive, ``step`` negative or above ``total``.
    """
    if fraction is not None:
        if step is not None or total is not None:
            raise ValueError("give a fraction or step and total, not both")
        value = _number(fraction, "fraction")
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"fraction {value:g} is not between 0 and 1")
        return value
    if step is None or total is None:
        raise ValueError("give a fraction (0..1), or step and total")
    done, whole = _number(step, "step"), _number(total, "total")
    if whole <= 0:
        raise ValueError(f"total {whole:g} is not positive")
    if not 0.0 <= done <= whole:
        raise ValueError(f"step {done:g} is not between 0 and total {whole:g}")
    return done / whole


def progress_record(fraction: float, time_s: float) -> bytes:
    """The file's record for ``fraction`` (0..1) at ``time_s`` (seconds since the epoch)."""
    return f"{fraction:.6f} {time_s:.3f}\n".encode("ascii")


def parse_progress_record(data: bytes) -> tuple[float, float]:
    """``(fraction, time_s)`` of a record, exactly as :func:`progress_record` writes one.

    Raises:
        ValueError: Anything else, or a fraction above 1.
    """
    match = _RECORD.fullmatch(data)
    if match is None:
        raise ValueError(f"not a progress record: {data[:PROGRESS_MAX_BYTES]!r}")
    fraction = float(match[1])
    if fraction > 1.0:
        raise ValueError(f"fraction {fraction:g} is above 1")
    return fraction, float(match[2])


def record_progress(
    fraction: object = None,
    *,
    step: object = None,
    total: object = None,
    environ: Mapping[str, str] = os.environ,
) -> bool:
    """Write the job's progress; what ``slurm-carbon progress`` calls.

    Returns:
        True when written; False outside a managed job or when the file cannot
        be written.

    Raises:
        ValueError: A bad fraction, step or total (see :func:`progress`).
        TypeError: One of them is not a number.
    """
    value = _fraction(fraction, step, total)
    job_id = environ.get("SLURM_JOB_ID", "")
    if not _JOB_ID.fullmatch(job_id):
        return False
    path = os.path.join(environ.get(PROGRESS_DIR_ENV) or DEFAULT_PROGRESS_DIR, job_id)
    record = progress_record(value, time.time())
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError:
        return False
    try:
        return os.pwrite(fd, record, 0) == len(record)
    except OSError:
        return False
    finally:
        os.close(fd)


def progress(
    fraction: float | None = None, *, step: float | None = None, total: float | None = None
) -> bool:
    """Say how far this job is: ``progress(0.42)`` or ``progress(step=420, total=1000)``.

    A no-op that never raises: outside a job managed by slurm_carbon, or when
    anything goes wrong, nothing is written. Bad arguments (NaN, a fraction
    below 0 or above 1, ``step`` above ``total``, ``total`` <= 0, both forms or
    neither) are ignored too: the call returns False.

    Returns:
        True when the progress was written for the node agent to read.
    """
    try:
        return record_progress(fraction, step=step, total=total)
    except Exception:  # a job is never hurt by us, whatever happens
        return False
