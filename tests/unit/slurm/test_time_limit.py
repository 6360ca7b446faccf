"""``sbatch -t`` time limits: every form Slurm takes, in seconds; the rest refused in one line."""

from __future__ import annotations

import pytest

from slurm_carbon.errors import ConfigError
from slurm_carbon.slurm.times import TIME_LIMIT_MAX_S, parse_time_limit


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 5400),
        ("90:30", 5430),
        ("2:03:04", 7384),
        ("1-2", 93600),
        ("1-02:30", 95400),
        ("1-02:30:05", 95405),
        ("365-0", TIME_LIMIT_MAX_S),
    ],
)
def test_forms(text: str, seconds: int) -> None:
    assert parse_time_limit(text) == seconds


@pytest.mark.parametrize(
    "text", ["", "0", "0:00", "UNLIMITED", "1h", "-5", "1-2-3", "365-1", "1:2:3:4", "١٢", "9" * 40]
)
def test_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="time limit") as caught:
        parse_time_limit(text)
    assert "\n" not in str(caught.value)
