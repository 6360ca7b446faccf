"""The browser tests skip only when nobody required them (tests/browser.py)."""

from __future__ import annotations

import pytest

from tests.browser import CHROMEDRIVER, CHROMIUM, REQUIRE_BROWSER, Verdict, browser_verdict


def installed(*programs: str) -> dict[str, str]:
    return {program: program for program in programs}


@pytest.mark.parametrize(
    ("environ", "present", "expected"),
    [
        ({}, (CHROMIUM, CHROMEDRIVER), Verdict.RUN),
        ({REQUIRE_BROWSER: "1"}, (CHROMIUM, CHROMEDRIVER), Verdict.RUN),
        ({}, (CHROMIUM,), Verdict.SKIP),
        ({REQUIRE_BROWSER: "0"}, (), Verdict.SKIP),
        ({REQUIRE_BROWSER: "1"}, (CHROMIUM,), Verdict.FAIL),
        ({REQUIRE_BROWSER: "1"}, (), Verdict.FAIL),
    ],
)
def test_a_missing_browser_fails_only_when_required(
    environ: dict[str, str], present: tuple[str, ...], expected: Verdict
) -> None:
    assert browser_verdict(environ, installed(*present).get).verdict is expected


def test_the_failure_names_the_missing_program_and_the_cure() -> None:
    decision = browser_verdict({REQUIRE_BROWSER: "1"}, installed(CHROMIUM).get)
    assert decision.reason == (
        f"{REQUIRE_BROWSER}=1 but {CHROMEDRIVER} missing:"
        " install Debian's chromium and chromium-driver (scripts/setup)"
    )
