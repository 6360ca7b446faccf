"""The comment's words (carbon_profile=, carbon_cap=, carbon_defer=, carbon_advice=,
carbon_defer_resolved=): job_submit.lua and job_words agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from slurm_carbon.accounting.job_words import (
    MAX_DEFER_S,
    MAX_PROFILE_NAME_CHARS,
    BadJobWord,
    JobWords,
    parse_job_words,
)
from tests.unit.slurm.lua_harness import assert_refused_on_submit_and_modify, needs_lua, run_lua

pytestmark = needs_lua

LONGEST = "a" * MAX_PROFILE_NAME_CHARS

# One table, run against job_submit.lua and slurm_carbon.accounting.job_words: the words
# accepted (profile name, caps allowed) or the reason of the refusal.
CASES: list[tuple[str, JobWords | str]] = [
    ("carbon_profile=resnet50", JobWords("resnet50", cap=True)),
    ("Carbon_Profile=ResNet-50_v1.5", JobWords("ResNet-50_v1.5", cap=True)),
    (f"carbon_profile={LONGEST}", JobWords(LONGEST, cap=True)),
    ("carbon_cap=off", JobWords(None, cap=False)),
    ("CARBON_CAP=OFF", JobWords(None, cap=False)),
    ("carbon_cap=on", JobWords(None, cap=True)),
    (
        "train carbon_profile=bert.large, carbon_cap=off; carbon_budget=5kg",
        JobWords("bert.large", cap=False),
    ),
    ("carbon_capture study, carbon_profiles", JobWords(None, cap=True)),
    ("", JobWords(None, cap=True)),
    ("carbon_profile=", "no name"),
    ("carbon_profile", "not carbon_profile=<name>"),
    ("carbon_profile = x", "not carbon_profile=<name>"),
    ("carbon_profile=a/b", 'not only letters, digits, ".", "_", "-"'),
    ("carbon_profile=a=b", 'not only letters, digits, ".", "_", "-"'),
    ("carbon_profile=caf\u00e9", 'not only letters, digits, ".", "_", "-"'),
    (f"carbon_profile={LONGEST}b", f"more than {MAX_PROFILE_NAME_CHARS} characters"),
    ("carbon_profile=a x carbon_profile=a", "given twice"),
    ("carbon_cap=maybe", "not carbon_cap=off or on"),
    ("carbon_cap=", "not carbon_cap=off or on"),
    ("carbon_cap", "not carbon_cap=off or on"),
    ("carbon_cap=off carbon_cap=on", "given twice"),
    ("carbon_defer=12h", JobWords(defer_s=12 * 3600)),
    ("Carbon_Defer=90M", JobWords(defer_s=90 * 60)),
    ("carbon_defer=7d", JobWords(defer_s=MAX_DEFER_S)),
    ("carbon_defer=10080m", JobWords(defer_s=MAX_DEFER_S)),
    ("carbon_defer=AUTO", JobWords(defer_s="auto")),
    ("carbon_advice=off", JobWords(advice=False)),
    ("CARBON_ADVICE=On", JobWords(advice=True)),
    (
        "carbon_deferral carbon_defer=2d, carbon_advice=off carbon_cap=off",
        JobWords(cap=False, defer_s=2 * 86400, advice=False),
    ),
    ("carbon_defer=0h", "not more than zero"),
    ("carbon_defer=8d", "more than 7 d"),
    ("carbon_defer=10081m", "more than 7 d"),
    ("carbon_defer=8y", 'unknown unit "y"'),
    ("carbon_defer=1.5h", 'unknown unit ".5h"'),
    ("carbon_defer=h", "no number"),
    ("carbon_defer=-1h", "no number"),
    ("carbon_defer=12", "no unit"),
    ("carbon_defer", "not carbon_defer=<number><unit> or carbon_defer=auto"),
    ("carbon_defer=", "no number"),
    ("carbon_defer=6h carbon_defer=auto", "given twice"),
    ("carbon_advice=maybe", "not carbon_advice=off or on"),
    ("carbon_advice=off carbon_advice=off", "given twice"),
    (
        "carbon_defer=auto carbon_defer_resolved=43200s",
        JobWords(defer_s="auto", defer_resolved_s=43200),
    ),
    (f"CARBON_DEFER_RESOLVED={MAX_DEFER_S}S", JobWords(defer_resolved_s=MAX_DEFER_S)),
    ("carbon_defer_resolvedx=1s", JobWords()),
    ("carbon_defer_resolved=0s", "not more than zero"),
    (f"carbon_defer_resolved={MAX_DEFER_S + 1}s", f"more than {MAX_DEFER_S} s"),
    ("carbon_defer_resolved=12h", "not carbon_defer_resolved=<seconds>s"),
    ("carbon_defer_resolved=s", "not carbon_defer_resolved=<seconds>s"),
    ("carbon_defer_resolved=-1s", "not carbon_defer_resolved=<seconds>s"),
    ("carbon_defer_resolved", "not carbon_defer_resolved=<seconds>s"),
    ("carbon_defer_resolved=1s carbon_defer_resolved=1s", "given twice"),
]

# Prints what slurm_carbon_job_words finds, or the refusal.
WORDS = """
local found, message = slurm_carbon_job_words(comment)
if found == nil then
   print("refused: " .. message)
else
   print("profile=" .. tostring(found.carbon_profile))
   print("cap=" .. tostring(found.carbon_cap))
   print("defer=" .. tostring(found.carbon_defer))
   print("advice=" .. tostring(found.carbon_advice))
   print("resolved=" .. tostring(found.carbon_defer_resolved))
end
"""


@pytest.mark.parametrize(("comment", "expected"), CASES)
def test_lua_and_python_accept_and_refuse_the_same_words(
    comment: str, expected: JobWords | str, tmp_path: Path
) -> None:
    lines = run_lua(WORDS, comment, tmp_path)

    if isinstance(expected, str):
        with pytest.raises(BadJobWord) as refused:
            parse_job_words(comment)
        message = str(refused.value)
        assert f": {expected}; write e.g. " in message
        assert_refused_on_submit_and_modify(lines, message)
        return
    assert parse_job_words(comment) == expected
    assert f"profile={expected.profile or 'nil'}" in lines
    said = {None: "nil", True: "on", False: "off"}
    cap = None if "carbon_cap=" not in comment.lower() else expected.cap
    assert f"cap={said[cap]}" in lines
    advice = None if "carbon_advice=" not in comment.lower() else expected.advice
    assert f"advice={said[advice]}" in lines
    assert f"defer={expected.defer_s or 'nil'}" in lines
    assert f"resolved={expected.defer_resolved_s or 'nil'}" in lines
    # carbon_defer_resolved is the lua's own word: refused on submit (see test_advice_lua).
    assert f"submit={-1 if expected.defer_resolved_s else 0}" in lines
    assert "modify=0" in lines


def test_a_refusal_names_the_word_and_a_good_example() -> None:
    with pytest.raises(BadJobWord) as refused:
        parse_job_words("job=a carbon_profile=my/model")
    assert str(refused.value) == (
        'bad carbon_profile "carbon_profile=my/model": not only letters, digits, ".", "_", "-";'
        ' write e.g. carbon_profile=resnet50-imagenet (letters, digits, ".", "_", "-";'
        " at most 64 characters)"
    )
    with pytest.raises(BadJobWord) as refused:
        parse_job_words("carbon_cap=no")
    assert str(refused.value) == (
        'bad carbon_cap "carbon_cap=no": not carbon_cap=off or on;'
        " write e.g. carbon_cap=off (off or on)"
    )
    with pytest.raises(BadJobWord) as refused:
        parse_job_words("carbon_defer=8y")
    assert str(refused.value) == (
        'bad carbon_defer "carbon_defer=8y": unknown unit "y"; write e.g. carbon_defer=12h'
        " or carbon_defer=auto (a whole number of m, h or d; more than 0, at most 7 d)"
    )
