"""The cleanest start over a regular series, and the advice file's text read and written."""

from __future__ import annotations

from dataclasses import replace

import pytest

from slurm_carbon.forecast.advice import (
    ADVICE_FUTURE_S,
    ADVICE_MAX_BYTES,
    ADVICE_MAX_POINTS,
    ADVICE_STALE_S,
    ADVICE_TIE_G_PER_KWH,
    Advice,
    CiSteps,
    cleanest_start,
    format_advice,
    parse_advice,
)
from tests.unit.forecast.advice_cases import CASES, T0, TIE_G_PER_KWH, AdviceCase


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_cleanest_start_answers_every_case_of_the_shared_table(case: AdviceCase) -> None:
    found = cleanest_start(
        CiSteps(case["start"], case["step_s"], tuple(case["ci"])),
        now=case["now"],
        length_s=case["length_s"],
        within_s=case["within_s"],
    )
    if case["best_start"] is None:
        assert found is None
        return
    assert found is not None
    assert found.start == case["best_start"]
    assert found.saving_pct == pytest.approx(case["saving_pct"], abs=1e-9)


def test_the_table_has_the_cases_the_lua_tests_need() -> None:
    assert len(CASES) >= 8
    assert sum(case["best_start"] is None for case in CASES) >= 3


def test_the_table_and_the_module_agree_on_the_tie() -> None:
    assert TIE_G_PER_KWH == ADVICE_TIE_G_PER_KWH


def test_a_tie_within_the_tolerance_keeps_the_earlier_start() -> None:
    found = cleanest_start(CiSteps(T0, 3600, (300.0, 300.0 - TIE_G_PER_KWH / 2)), T0, 3600, 3600)
    assert found is not None
    assert found.start == T0


def test_the_means_now_and_at_the_best_start_are_returned() -> None:
    found = cleanest_start(CiSteps(T0, 3600, (400.0, 400.0, 100.0, 100.0)), T0, 7200, 7200)
    assert found is not None
    assert (found.mean_now, found.mean_best) == (400.0, 100.0)


@pytest.mark.parametrize(
    ("step_s", "length_s", "within_s"), [(0, 3600, 0), (3600, 0, 0), (3600, 3600, -1)]
)
def test_nonsense_arguments_are_refused(step_s: int, length_s: int, within_s: int) -> None:
    with pytest.raises(ValueError, match="cleanest_start"):
        cleanest_start(CiSteps(T0, step_s, (1.0,)), T0, length_s, within_s)


ADVICE = Advice(
    generated=T0,
    partition="gpu",
    region="DE",
    source="slurm_carbon:blend",
    issued=T0 - 3600,
    hint=True,
    threshold_pct=10.0,
    defer_default_s=43200,
    step_s=3600,
    start=T0,
    ci=(412.1, 398.0, 377.5),
    hint_min_s=3600,
)

TEXT = """version=1
generated=1764633600
partition=gpu
region=DE
source=slurm_carbon:blend
issued=1764630000
hint=on
threshold_pct=10
defer_default_s=43200
step_s=3600
start=1764633600
ci=412.1,398,377.5
hint_min_s=3600
"""


def test_the_file_is_written_in_the_contract_order() -> None:
    assert format_advice(ADVICE) == TEXT


def test_the_file_reads_back() -> None:
    assert parse_advice(TEXT, T0 + 60) == ADVICE


def test_unknown_keys_are_ignored() -> None:
    assert parse_advice(TEXT + "later=1\n", T0) == ADVICE


def test_a_file_without_the_hints_minimum_means_every_length() -> None:
    text = TEXT.replace("hint_min_s=3600\n", "")

    assert parse_advice(text, T0) == replace(ADVICE, hint_min_s=0)


def _with(key: str, value: str) -> str:
    return "".join(
        f"{key}={value}\n" if line.startswith(f"{key}=") else line + "\n"
        for line in TEXT.splitlines()
    )


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("version", "2"),
        ("generated", "soon"),
        ("issued", "-5"),
        ("hint", "yes"),
        ("threshold_pct", "nan"),
        ("threshold_pct", "101"),
        ("defer_default_s", "0"),
        ("step_s", "600"),
        ("start", "1764633601"),
        ("ci", "412.1,inf"),
        ("ci", "412.1,-1"),
        ("ci", "412.1,,3"),
        ("ci", ""),
        ("ci", ",".join(["1"] * (ADVICE_MAX_POINTS + 1))),
        ("partition", ""),
        ("region", "D E"),
        ("hint_min_s", "-60"),
        ("hint_min_s", "1h"),
        ("hint_min_s", ""),
    ],
)
def test_a_malformed_value_makes_the_file_absent(key: str, value: str) -> None:
    assert parse_advice(_with(key, value), T0) is None


@pytest.mark.parametrize("key", ["version", "generated", "region", "hint", "ci", "start"])
def test_a_missing_key_makes_the_file_absent(key: str) -> None:
    text = "".join(line + "\n" for line in TEXT.splitlines() if not line.startswith(f"{key}="))
    assert parse_advice(text, T0) is None


@pytest.mark.parametrize(
    ("now", "read"),
    [
        (T0 + ADVICE_STALE_S, True),
        (T0 + ADVICE_STALE_S + 1, False),
        (T0 - ADVICE_FUTURE_S, True),
        (T0 - ADVICE_FUTURE_S - 1, False),
    ],
)
def test_a_stale_or_future_file_is_absent(now: int, read: bool) -> None:
    assert (parse_advice(TEXT, now) is not None) is read


def test_a_repeated_hints_minimum_makes_the_file_absent() -> None:
    assert parse_advice(TEXT + "hint_min_s=0\n", T0) is None


def test_an_oversized_or_non_ascii_file_is_absent() -> None:
    assert parse_advice(TEXT + "#" * ADVICE_MAX_BYTES, T0) is None
    assert parse_advice(TEXT.replace("DE", "DÉ"), T0) is None
    assert parse_advice(TEXT.replace("version=1", "version = 1"), T0) is None
