"""The capping words (carbon_profile=, carbon_cap=): job_submit.lua and job_words agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from slurm_carbon.accounting.job_words import (
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
]

# Prints what slurm_carbon_job_words finds, or the refusal.
WORDS = """
local found, message = slurm_carbon_job_words(comment)
if found == nil then
   print("refused: " .. message)
else
   print("profile=" .. tostring(found.carbon_profile))
   print("cap=" .. tostring(found.carbon_cap))
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
    said_cap = {None: "nil", True: "on", False: "off"}
    cap = None if "carbon_cap=" not in comment.lower() else expected.cap
    assert f"cap={said_cap[cap]}" in lines
    assert "submit=0" in lines
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
