"""The budget words of a job's comment: ``carbon_budget=5kg`` and ``energy_budget=12kWh``.

``deploy/slurm/job_submit.lua`` checks the same words when a job is submitted
or modified, with the same grammar, bounds and messages, so the service reads a
job's budget exactly as the submit check accepted it (one table of cases runs
against both: ``tests/unit/accounting/test_budget.py``).

The grammar:

- The comment is split into words at spaces, tabs, line breaks, ``,`` and ``;``;
  other words are left alone.
- A word whose first 13 letters are ``carbon_budget`` or ``energy_budget``
  (ASCII, any case) is a budget word, and must read ``<key>=<number><unit>``.
- The number is ASCII digits with an optional sign, decimal point and exponent
  (``5``, ``2.5``, ``.5``, ``5.``, ``1e3``, ``+5``); no space before the unit.
- Units are case-sensitive: ``g``, ``kg``, ``t`` (CO2e) and ``Wh``, ``kWh``,
  ``MWh`` (energy); ``mWh`` would be milli, so ``mwh`` is not guessed at.
- A budget is more than zero and at most :data:`MAX_CO2E_G` or
  :data:`MAX_ENERGY_WH`; each key at most once.

Units: CO2e in grams, energy in watt-hours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from slurm_carbon.errors import ConfigError

__all__ = [
    "MAX_CO2E_G",
    "MAX_ENERGY_WH",
    "BadBudget",
    "Budgets",
    "parse_budgets",
]

MAX_CO2E_G = 1e9
"""The largest carbon budget accepted: 1,000 t CO2e.

A year of a 10,000-GPU cluster at 700 W on a 500 g/kWh grid is about 31,000 t, so
one job's 1,000 t is generous; a larger figure is a typo (``5t`` meant ``5kg``).
"""

MAX_ENERGY_WH = 1e10
"""The largest energy budget accepted: 10 GWh (the order of a frontier model's training run)."""

CARBON_KEY = "carbon_budget"
ENERGY_KEY = "energy_budget"

CARBON_UNITS_G: dict[str, float] = {"g": 1.0, "kg": 1e3, "t": 1e6}
"""Grams CO2e per unit."""

ENERGY_UNITS_WH: dict[str, float] = {"Wh": 1.0, "kWh": 1e3, "MWh": 1e6}
"""Watt-hours per unit."""

_SEPARATORS = re.compile(r"[ \t\n\v\f\r,;]+")
_NUMBER = re.compile(r"[+-]?(?P<mantissa>[0-9]*(?:\.[0-9]*)?)(?:[eE][+-]?[0-9]+)?")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


@dataclass(frozen=True)
class _Kind:
    key: str
    units: dict[str, float]
    example: str
    limit: float
    limit_text: str


_KINDS = (
    _Kind(CARBON_KEY, CARBON_UNITS_G, "carbon_budget=5kg", MAX_CO2E_G, "1000 t"),
    _Kind(ENERGY_KEY, ENERGY_UNITS_WH, "energy_budget=12kWh", MAX_ENERGY_WH, "10 GWh"),
)


class BadBudget(ConfigError):
    """A budget word of a comment is malformed, not positive, too large or given twice.

    Its message is the line ``job_submit.lua`` shows the user, without the
    ``slurm_carbon: `` prefix.
    """


@dataclass(frozen=True)
class Budgets:
    """The budgets a comment gives; None where it gives none.

    Units: CO2e in grams, energy in watt-hours.
    """

    co2e_g: float | None = None
    energy_wh: float | None = None


def _refuse(word: str, kind: _Kind, reason: str) -> BadBudget:
    units = ", ".join(kind.units)
    return BadBudget(
        f'bad budget "{word}": {reason}; write e.g. {kind.example}'
        f" (units {units}; more than 0, at most {kind.limit_text})"
    )


def _value(word: str, kind: _Kind) -> float:
    """The budget one word gives, in the kind's base unit."""
    prefix = f"{kind.key}="
    if word[: len(prefix)].translate(_ASCII_LOWER) != prefix:
        raise _refuse(word, kind, f"not {kind.key}=<number><unit>")
    text = word[len(prefix) :]
    number = _NUMBER.match(text)
    digits = number.group() if number else ""
    unit = text[len(digits) :]
    if number is None or re.search("[0-9]", number.group("mantissa")) is None:
        raise _refuse(word, kind, "no number")
    if unit == "":
        raise _refuse(word, kind, "no unit")
    if unit not in kind.units:
        raise _refuse(word, kind, f'unknown unit "{unit}"')
    value = float(digits) * kind.units[unit]
    if not value > 0:
        raise _refuse(word, kind, "not more than zero")
    if not value <= kind.limit:
        raise _refuse(word, kind, f"more than {kind.limit_text}")
    return value


def parse_budgets(comment: str | None) -> Budgets:
    """The budgets a job's comment gives (see the module's grammar).

    Raises:
        BadBudget: a budget word is malformed, zero, negative, too large or repeated.
    """
    found: dict[str, float] = {}
    for word in _SEPARATORS.split(comment or ""):
        lowered = word.translate(_ASCII_LOWER)
        for kind in _KINDS:
            if not lowered.startswith(kind.key):
                continue
            value = _value(word, kind)
            if kind.key in found:
                raise _refuse(word, kind, f"{kind.key} given twice")
            found[kind.key] = value
    return Budgets(co2e_g=found.get(CARBON_KEY), energy_wh=found.get(ENERGY_KEY))
