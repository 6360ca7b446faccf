"""The site file's [storage] section: when intervals roll up, how long they are kept."""

from __future__ import annotations

import tomllib

import pytest

from slurm_carbon.config import parse_config
from slurm_carbon.config.site import (
    DEFAULT_ROLLUP_AFTER_DAYS,
    MAX_STORAGE_DAYS,
    MIN_RETENTION_DAYS,
    MIN_ROLLUP_AFTER_DAYS,
)
from slurm_carbon.errors import ConfigError

MINIMAL = 'cluster = "c1"\n[regions]\ndefault = "DE"\n[pue]\ndefault = 1.25\n'


def _storage(extra: str) -> tuple[int, int | None]:
    site = parse_config(tomllib.loads(MINIMAL + extra))
    return site.storage.rollup_after_days, site.storage.retention_days


def test_defaults_roll_up_after_a_month_and_keep_for_ever() -> None:
    assert _storage("") == (DEFAULT_ROLLUP_AFTER_DAYS, None) == (30, None)
    assert _storage("[storage]\nrollup_after_days = 2\nretention_days = 400\n") == (2, 400)


def test_rolled_days_are_compacted_unless_the_site_says_not() -> None:
    compact = parse_config(tomllib.loads(MINIMAL)).storage.compact_rolled_days
    off = tomllib.loads(MINIMAL + "[storage]\ncompact_rolled_days = false\n")
    assert (compact, parse_config(off).storage.compact_rolled_days) == (True, False)


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        (f"rollup_after_days = {MIN_ROLLUP_AFTER_DAYS - 1}", "storage.rollup_after_days"),
        (f"rollup_after_days = {MAX_STORAGE_DAYS + 1}", "storage.rollup_after_days"),
        (f"retention_days = {MIN_RETENTION_DAYS - 1}", "storage.retention_days"),
        ('retention_days = "never"', "storage.retention_days"),
        ("keep = 3", "storage.keep"),
        ('compact_rolled_days = "yes"', "storage.compact_rolled_days"),
    ],
)
def test_out_of_bounds_names_the_key(extra: str, key: str) -> None:
    with pytest.raises(ConfigError, match=f"{key}: "):
        parse_config(tomllib.loads(f"{MINIMAL}[storage]\n{extra}\n"))
