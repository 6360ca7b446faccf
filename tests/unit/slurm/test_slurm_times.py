"""Slurm's time grammar: sacct's -S/-E times and its elapsed format."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from slurm_carbon.errors import ConfigError
from slurm_carbon.slurm.times import TIME_MAX, format_elapsed, parse_time

NOW = datetime(2026, 12, 1, 15, 30, 45, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("now-7days", NOW - timedelta(days=7)),
        ("now+90", NOW + timedelta(seconds=90)),
        ("today", datetime(2026, 12, 1, tzinfo=UTC)),
        ("noon", datetime(2026, 12, 1, 12, tzinfo=UTC)),
        ("tomorrow", datetime(2026, 12, 2, tzinfo=UTC)),
        ("2026-11-30T08:15", datetime(2026, 11, 30, 8, 15, tzinfo=UTC)),
        ("1130", datetime(2026, 11, 30, tzinfo=UTC)),
        ("11/30/25", datetime(2025, 11, 30, tzinfo=UTC)),
        ("11.30", datetime(2026, 11, 30, tzinfo=UTC)),
        ("1:05pm", datetime(2026, 12, 1, 13, 5, tzinfo=UTC)),
    ],
)
def test_parse_time_forms(text: str, expected: datetime) -> None:
    assert parse_time(text, NOW) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("yesterday", "invalid time 'yesterday'"),
        ("2026-02-30", "invalid time"),
        ("13:00pm", "invalid time"),
        ("now+99999999999w", "out of range"),
        ("9999-06-01", "out of range"),
        ("x" * 100, "invalid time '" + "x" * 60 + "...'"),
    ],
)
def test_parse_time_refuses(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        parse_time(text, NOW)
    assert TIME_MAX.year == 9999


def test_format_elapsed_as_sacct() -> None:
    assert format_elapsed(None) == ""
    assert format_elapsed(timedelta(seconds=59)) == "00:00:59"
    assert format_elapsed(timedelta(days=2, hours=3, minutes=4, seconds=5)) == "2-03:04:05"
    assert format_elapsed(timedelta(seconds=-5)) == "00:00:00"
