"""Times as the providers write them."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any

from slurm_carbon.errors import IntensityUnavailable

__all__ = ["iso_utc", "iso_z", "parse_api_time"]


def iso_z(time: datetime, *, seconds: bool = True) -> str:
    """``2024-03-01T12:00:00Z`` (or ``2024-03-01T12:00Z`` without seconds) in UTC."""
    utc = time.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ" if seconds else "%Y-%m-%dT%H:%MZ")


def iso_utc(text: str, tz: tzinfo | None = None) -> datetime:
    """An aware UTC datetime from ISO 8601 text; no offset means ``tz`` (default UTC).

    Raises:
        ValueError: the text is not ISO 8601, or its UTC time is outside years 1..9999.
    """
    parsed = datetime.fromisoformat(text.strip())  # accepts "Z" since Python 3.11
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz or UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{text.strip()!r} is outside years 1..9999 in UTC") from None


def parse_api_time(value: Any, provider: str) -> datetime:
    """An aware UTC datetime from an API's ISO 8601 text.

    Raises:
        IntensityUnavailable: the value is not such a time (message names the provider).
    """
    if not isinstance(value, str):
        raise IntensityUnavailable(f"{provider}: unexpected answer shape (time {value!r})")
    try:
        return iso_utc(value)
    except ValueError:
        raise IntensityUnavailable(f"{provider}: unexpected time {value!r} in the answer") from None
