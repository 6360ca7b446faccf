"""Slurm's time grammar: ``sacct -S/-E`` times, sacct's elapsed times, ``sbatch -t`` limits.

Every parse error is a :class:`~slurm_carbon.errors.ConfigError` with a one-line message.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

from slurm_carbon.errors import ConfigError
from slurm_carbon.text import quote_input

__all__ = [
    "TIME_LIMIT_MAX_S",
    "TIME_MAX",
    "TIME_MIN",
    "format_elapsed",
    "parse_time",
    "parse_time_limit",
]

TIME_MIN = datetime(1970, 1, 1, tzinfo=UTC)
"""Earliest -S/-E accepted: Slurm records times as Unix epoch seconds."""

TIME_MAX = datetime(9999, 1, 1, tzinfo=UTC)
"""Latest -S/-E accepted: a year's margin below Python's and the databases' year 9999, so that
any local time converts to UTC (``-E 9999-12-31`` is refused; ``-E 9998-12-31`` means "ever")."""

_UNITS_S = {
    "": 1,
    "s": 1,
    "sec": 1,
    "second": 1,
    "seconds": 1,
    "min": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
    "week": 604800,
    "weeks": 604800,
}
# ASCII digits only: int() would read other scripts' digits ("١٢" as 12).
_NOW = re.compile(r"now(?:([+-])(\d+)([a-z]*))?", re.ASCII)
_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[t ](\d{1,2}):(\d{2})(?::(\d{2}))?)?", re.ASCII)
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?(am|pm)?", re.ASCII)
_MMDD = re.compile(r"(\d{2})(\d{2})(\d{2})?", re.ASCII)
_SLASHED = re.compile(r"(\d{1,2})([/.])(\d{1,2})(?:\2(\d{2}))?", re.ASCII)
TIME_LIMIT_MAX_S = 365 * 86400
"""Longest time limit accepted: a year (sacct shows a longer limit as none)."""

# sbatch -t: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS (at most 6 digits a field).
_LIMIT = re.compile(
    r"(?:(?P<d>\d{1,6})-(?P<dh>\d{1,6})(?::(?P<dm>\d{1,6})(?::(?P<ds>\d{1,6}))?)?"
    r"|(?P<a>\d{1,6})(?::(?P<b>\d{1,6})(?::(?P<c>\d{1,6}))?)?)",
    re.ASCII,
)
# More digits than any offset within TIME_MIN .. TIME_MAX in seconds could need (12).
_MAX_OFFSET_DIGITS = 12


def parse_time(text: str, now: datetime) -> datetime:
    """A time as ``sacct -S/-E`` takes it, in ``now``'s time zone.

    Accepted: ``YYYY-MM-DD[THH:MM[:SS]]``, ``MMDD[YY]``, ``MM/DD[/YY]``,
    ``MM.DD[.YY]``, ``HH:MM[:SS][AM|PM]`` (today), ``now[{+|-}N[seconds|minutes|
    hours|days|weeks]]`` (e.g. ``now-7days``; no unit means seconds), ``today``
    and ``midnight`` (00:00 today), ``noon``, ``tomorrow``.

    Raises:
        ConfigError: anything else, a date that does not exist, or a time outside
            :data:`TIME_MIN` .. :data:`TIME_MAX`.
    """
    word = text.strip().lower()
    midnight = datetime.combine(now.date(), time(), tzinfo=now.tzinfo)
    named = {
        "today": midnight,
        "midnight": midnight,
        "noon": midnight + timedelta(hours=12),
        "tomorrow": midnight + timedelta(days=1),
    }
    try:
        found = named.get(word) or _relative(word, now) or _absolute(word, now, midnight)
    except ValueError:  # a date that does not exist
        found = None
    except OverflowError:  # now +- N beyond what a datetime holds
        found = TIME_MAX
    if found is None:
        raise ConfigError(
            f"invalid time {quote_input(text)} (use YYYY-MM-DD[THH:MM[:SS]], HH:MM[:SS],"
            " MM/DD[/YY], now[-N[minutes|hours|days|weeks]], today, ...)"
        )
    if not TIME_MIN <= found < TIME_MAX:
        raise ConfigError(
            f"time {quote_input(text)} is out of range ({TIME_MIN:%Y-%m-%d} to {TIME_MAX:%Y-%m-%d})"
        )
    return found


def _relative(word: str, now: datetime) -> datetime | None:
    match = _NOW.fullmatch(word)
    if match is None:
        return None
    sign, count, unit = match.groups()
    if sign is None:
        return now
    if unit not in _UNITS_S or len(count) > _MAX_OFFSET_DIGITS:
        return None
    delta = timedelta(seconds=int(count) * _UNITS_S[unit])
    return now + delta if sign == "+" else now - delta


def _absolute(word: str, now: datetime, midnight: datetime) -> datetime | None:
    """A date or clock time; ValueError for a date that does not exist."""
    if match := _ISO.fullmatch(word):
        year, month, day, hour, minute, second = (int(g) if g else 0 for g in match.groups())
        return datetime(year, month, day, hour, minute, second, tzinfo=now.tzinfo)
    if match := _CLOCK.fullmatch(word):
        hour, minute, second = (int(g) if g else 0 for g in match.groups()[:3])
        meridian = match.group(4)
        if meridian is not None:
            if not 1 <= hour <= 12:
                return None
            hour = hour % 12 + (12 if meridian == "pm" else 0)
        return midnight.replace(hour=hour, minute=minute, second=second)
    if match := _MMDD.fullmatch(word):
        month, day = int(match.group(1)), int(match.group(2))
        year = 2000 + int(match.group(3)) if match.group(3) else now.year
        return datetime(year, month, day, tzinfo=now.tzinfo)
    if match := _SLASHED.fullmatch(word):
        month, day = int(match.group(1)), int(match.group(3))
        year = 2000 + int(match.group(4)) if match.group(4) else now.year
        return datetime(year, month, day, tzinfo=now.tzinfo)
    return None


def format_elapsed(elapsed: timedelta | None) -> str:
    """The elapsed time as sacct prints it, ``[D-]HH:MM:SS``; empty when unknown."""
    if elapsed is None:
        return ""
    total = max(0, int(elapsed.total_seconds()))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    return f"{days}-{clock}" if days else clock


def parse_time_limit(text: str) -> int:
    """A time limit as ``sbatch -t`` takes it, in seconds.

    ``MM``, ``MM:SS``, ``HH:MM:SS``, ``D-HH``, ``D-HH:MM`` or ``D-HH:MM:SS``; more
    than ``TIME_LIMIT_MAX_S``, 0 and ``UNLIMITED`` are refused (no length).

    Raises:
        ConfigError: Not one of these forms, 0 or longer than a year (one line).
    """
    match = _LIMIT.fullmatch(text.strip())
    if match is None:
        raise ConfigError(
            f"time limit {quote_input(text)}: use MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS"
        )
    fields = {key: int(value) for key, value in match.groupdict().items() if value is not None}
    if "d" in fields:
        seconds = (
            fields["d"] * 86400
            + fields["dh"] * 3600
            + fields.get("dm", 0) * 60
            + fields.get("ds", 0)
        )
    elif "c" in fields:
        seconds = fields["a"] * 3600 + fields["b"] * 60 + fields["c"]
    else:
        seconds = fields["a"] * 60 + fields.get("b", 0)
    if not 0 < seconds <= TIME_LIMIT_MAX_S:
        raise ConfigError(
            f"time limit {quote_input(text)}: must be more than 0 and at most 365 days"
        )
    return seconds
