"""deploy/slurm/job_submit.lua run by lua5.1 against a stand-in for slurmctld's ``slurm`` table."""

from __future__ import annotations

from pathlib import Path

import pytest

from slurm_carbon.accounting.budget import (
    MAX_CO2E_G,
    MAX_ENERGY_WH,
    BadBudget,
    Budgets,
    parse_budgets,
)
from tests.unit.slurm.lua_harness import assert_refused_on_submit_and_modify, needs_lua, run_lua

pytestmark = needs_lua


def run(comment: bytes, tmp_path: Path) -> list[str]:
    """Submit and modify with ``comment`` (none when empty)."""
    return run_lua('if comment == "" then comment = nil end\n', comment, tmp_path)


@pytest.mark.parametrize(
    ("comment", "byte", "at"),
    [(b"x\x1fops-approved=yes", 0x1F, 2), (b"a\nb", 0x0A, 2), (b"\x1b[2J", 0x1B, 1)],
)
def test_a_comment_with_a_control_character_is_refused_on_submit_and_modify(
    comment: bytes, byte: int, at: int, tmp_path: Path
) -> None:
    lines = run(comment, tmp_path)

    assert "submit=-1" in lines
    assert "modify=-1" in lines
    said = f"user: slurm_carbon: the comment holds a control character (byte 0x{byte:02x} at {at})"
    assert sum(line.startswith(said) for line in lines) == 2
    # slurmctld's log gets the comment with its control characters escaped, on one line.
    logged = [line for line in lines if line.startswith("info: slurm_carbon: submit")]
    shown = comment.decode().replace(chr(byte), f"\\x{byte:02x}")
    assert logged == [f"info: slurm_carbon: submit uid=1000 comment={shown}"]


@pytest.mark.parametrize("comment", [b"carbon_budget=5kg", b"caf\xc3\xa9 | 50%", b""])
def test_printable_comments_and_none_are_accepted(comment: bytes, tmp_path: Path) -> None:
    lines = run(comment, tmp_path)

    assert "submit=0" in lines
    assert "modify=0" in lines
    assert not any(line.startswith("user:") for line in lines)


# One table of budget words, run against job_submit.lua and slurm_carbon.accounting.budget:
# the accepted budgets (grams CO2e, watt-hours) or the reason of the refusal.
Accepted = tuple[float | None, float | None]
BUDGET_CASES: list[tuple[str, Accepted | str]] = [
    ("carbon_budget=5kg", (5000.0, None)),
    ("carbon_budget=250g", (250.0, None)),
    ("carbon_budget=2t", (2e6, None)),
    ("energy_budget=12kWh", (None, 12000.0)),
    ("energy_budget=800Wh", (None, 800.0)),
    ("energy_budget=1.5MWh", (None, 1.5e6)),
    ("CARBON_BUDGET=5kg", (5000.0, None)),
    ("Energy_Budget=3kWh", (None, 3000.0)),
    ("carbon_budget=2.5kg", (2500.0, None)),
    ("carbon_budget=.5kg", (500.0, None)),
    ("carbon_budget=5.kg", (5000.0, None)),
    ("carbon_budget=1e3g", (1000.0, None)),
    ("carbon_budget=1.5E-1kg", (150.0, None)),
    ("carbon_budget=+5kg", (5000.0, None)),
    ("carbon_budget=1000t", (1e9, None)),
    ("energy_budget=10000MWh", (None, 1e10)),
    ("train resnet50 carbon_budget=5kg  owner=ana", (5000.0, None)),
    ("carbon_budget=5kg,energy_budget=12kWh", (5000.0, 12000.0)),
    ("energy_budget=12kWh; carbon_budget=0.1t", (1e5, 12000.0)),
    ("no budget here, 50% done", (None, None)),
    ("", (None, None)),
    ("carbon_budget=5", "no unit"),
    ("carbon_budget=5 kg", "no unit"),
    ("carbon_budget=5 bananas", "no unit"),
    ("carbon_budget=5kgs", 'unknown unit "kgs"'),
    ("carbon_budget=5KG", 'unknown unit "KG"'),
    ("carbon_budget=5kWh", 'unknown unit "kWh"'),
    ("energy_budget=5mwh", 'unknown unit "mwh"'),
    ("carbon_budget=5ekg", 'unknown unit "ekg"'),
    ("carbon_budget=0x10kg", 'unknown unit "x10kg"'),
    ("carbon_budget=-1kg", "not more than zero"),
    ("carbon_budget=0g", "not more than zero"),
    ("carbon_budget=-0kg", "not more than zero"),
    ("carbon_budget=1e-400kg", "not more than zero"),
    ("carbon_budget=1e9t", "more than 1000 t"),
    ("carbon_budget=1000.001t", "more than 1000 t"),
    ("carbon_budget=1e400g", "more than 1000 t"),
    ("energy_budget=10001MWh", "more than 10 GWh"),
    ("carbon_budget=nan", "no number"),
    ("carbon_budget=inf", "no number"),
    ("carbon_budget=kg", "no number"),
    ("carbon_budget=.kg", "no number"),
    ("carbon_budget=e5kg", "no number"),
    ("carbon_budget=", "no number"),
    ("carbon_budget = 5kg", "not carbon_budget=<number><unit>"),
    ("carbon_budgets=5kg", "not carbon_budget=<number><unit>"),
    ("carbon_budget:5kg", "not carbon_budget=<number><unit>"),
    ("carbon_budget=5kg carbon_budget=5kg", "carbon_budget given twice"),
    ("energy_budget=1kWh x energy_budget=2kWh", "energy_budget given twice"),
]

# Prints the budgets slurm_carbon_budgets finds (%.17g: every bit of the double), or the
# refusal.
BUDGETS = """
local found, message = slurm_carbon_budgets(comment)
if found == nil then
   print("refused: " .. message)
else
   for _, key in ipairs({"carbon_budget", "energy_budget"}) do
      if found[key] ~= nil then print(key .. "=" .. string.format("%.17g", found[key])) end
   end
end
"""


def test_the_budget_case_table_covers_what_the_issue_names() -> None:
    assert len(BUDGET_CASES) >= MIN_BUDGET_CASES
    assert len({comment for comment, _ in BUDGET_CASES}) == len(BUDGET_CASES)


MIN_BUDGET_CASES = 25
"""Issue 10 asks for at least 25 shared cases (units, case, spaces, decimals, exponents...)."""


@pytest.mark.parametrize(("comment", "expected"), BUDGET_CASES)
def test_lua_and_python_accept_and_refuse_the_same_budgets(
    comment: str, expected: Accepted | str, tmp_path: Path
) -> None:
    lines = run_lua(BUDGETS, comment, tmp_path)

    if isinstance(expected, str):
        with pytest.raises(BadBudget) as refused:
            parse_budgets(comment)
        message = str(refused.value)
        assert f": {expected}; write e.g. " in message
        assert_refused_on_submit_and_modify(lines, message)
        return
    co2e_g, energy_wh = expected
    assert parse_budgets(comment) == Budgets(co2e_g=co2e_g, energy_wh=energy_wh)
    printed = {
        line.split("=")[0]: float(line.split("=")[1])
        for line in lines
        if line.startswith(("carbon_budget=", "energy_budget="))
    }
    wanted = {"carbon_budget": co2e_g, "energy_budget": energy_wh}
    assert printed == {key: value for key, value in wanted.items() if value is not None}
    assert "submit=0" in lines
    assert "modify=0" in lines
    assert not any(line.startswith("user:") for line in lines)


def test_a_refusal_names_the_value_and_a_good_example() -> None:
    with pytest.raises(BadBudget) as refused:
        parse_budgets("job=a carbon_budget=5 bananas")

    assert str(refused.value) == (
        'bad budget "carbon_budget=5": no unit; write e.g. carbon_budget=5kg'
        " (units g, kg, t; more than 0, at most 1000 t)"
    )
    with pytest.raises(BadBudget) as refused:
        parse_budgets("energy_budget=0kWh")
    assert str(refused.value) == (
        'bad budget "energy_budget=0kWh": not more than zero; write e.g. energy_budget=12kWh'
        " (units Wh, kWh, MWh; more than 0, at most 10 GWh)"
    )


def test_the_bounds_are_the_documented_ones() -> None:
    assert parse_budgets("carbon_budget=1000t").co2e_g == MAX_CO2E_G == 1e9
    assert parse_budgets("energy_budget=10000MWh").energy_wh == MAX_ENERGY_WH == 1e10
