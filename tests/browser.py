"""Whether the browser tests run, skip or fail: they may skip only where nobody asked for them.

``scripts/test`` (what CI runs) sets ``SLURM_CARBON_REQUIRE_BROWSER=1``, so a
missing chromium or chromium-driver fails the run there instead of skipping
the tests silently; a developer's bare ``pytest`` without them still skips.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum

import pytest

__all__ = [
    "CHROMEDRIVER",
    "CHROMIUM",
    "REQUIRE_BROWSER",
    "BrowserVerdict",
    "Verdict",
    "browser_verdict",
    "require_browser",
]

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
#: Set to 1 by scripts/test: the browser tests must run, a missing browser is a failure.
REQUIRE_BROWSER = "SLURM_CARBON_REQUIRE_BROWSER"


class Verdict(Enum):
    """What the browser tests do."""

    RUN = "run"
    SKIP = "skip"
    FAIL = "fail"


@dataclass(frozen=True)
class BrowserVerdict:
    """The decision and, unless it is RUN, the one line that explains it."""

    verdict: Verdict
    reason: str = ""


def browser_verdict(
    environ: Mapping[str, str], which: Callable[[str], str | None]
) -> BrowserVerdict:
    """RUN when both programs are there; else FAIL if REQUIRE_BROWSER is 1, SKIP if not."""
    missing = [program for program in (CHROMIUM, CHROMEDRIVER) if which(program) is None]
    if not missing:
        return BrowserVerdict(Verdict.RUN)
    reason = (
        f"{' and '.join(missing)} missing:"
        " install Debian's chromium and chromium-driver (scripts/setup)"
    )
    if environ.get(REQUIRE_BROWSER) == "1":
        return BrowserVerdict(Verdict.FAIL, f"{REQUIRE_BROWSER}=1 but {reason}")
    return BrowserVerdict(Verdict.SKIP, reason)


def require_browser() -> None:
    """Skip or fail the calling test as browser_verdict decides for this machine."""
    decision = browser_verdict(os.environ, shutil.which)
    if decision.verdict is Verdict.FAIL:
        pytest.fail(decision.reason, pytrace=False)
    if decision.verdict is Verdict.SKIP:
        pytest.skip(decision.reason)
