"""Figures for people: energy and CO2e in engineering units, other numbers with separators.

Every human-readable output (the report's table and footer, the detail view,
the energy card) writes its figures through these functions, so that one rule
holds everywhere: a value is shown in the largest unit of its ladder in which
it stays below :data:`UNIT_SWITCH`, with thousands separators and 3 or 4
significant figures (``1,289 MWh``, ``553 t``, ``2.40 kWh``, ``512 Wh``).
Machine outputs (``--json``, ``-P``, ``--csv``) keep exact numbers in fixed
units and do not use them.

Units: energy in joules (shown from Wh up), emissions in grams CO2e (shown from g up).
"""

from __future__ import annotations

import math

__all__ = [
    "J_PER_KWH",
    "J_PER_WH",
    "UNIT_SWITCH",
    "format_co2e",
    "format_energy",
    "format_number",
    "round_sig",
]

UNIT_SWITCH = 10_000
"""A value moves to the next unit (x 1000) from here: ``9,999 kWh`` then ``10.0 MWh``.

Not 1,000: four digits with a separator read as easily as three, and keep the
units publications use (Patterson et al. 2021 report ``1,287 MWh``).
"""

J_PER_KWH = 3.6e6
"""Joules in one kilowatt-hour."""

J_PER_WH = J_PER_KWH / 1000
"""Joules in one watt-hour."""

_ENERGY_UNITS = ("Wh", "kWh", "MWh", "GWh", "TWh")
_MASS_UNITS = ("g", "kg", "t", "kt", "Mt")

NOT_FINITE = "not finite"
"""What is shown for an infinite or NaN figure (a corrupt stored value), never a number."""


def round_sig(value: float, digits: int) -> str:
    """``value`` rounded to ``digits`` significant figures, without exponent or sign noise.

    Args:
        value: A finite number.
        digits: Significant figures to keep (at least 1).

    Returns:
        E.g. ``round_sig(812.43, 4) == "812.4"``, ``round_sig(123456, 4) == "123500"``;
        ``"na"`` for a value that is not finite.
    """
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else "na"
    decimals = digits - 1 - math.floor(math.log10(abs(value)))
    rounded = round(value, decimals)
    if decimals <= 0:
        return str(int(rounded))
    text = f"{rounded:.{decimals}f}".rstrip("0").rstrip(".")
    return "0" if text in {"-0", ""} else text


def format_number(value: float) -> str:
    """``value`` with thousands separators and 3 or 4 significant figures.

    ``3,552,000`` (from 100 on: whole numbers), ``14.8``, ``1.29``, ``0.0512``.
    """
    if not math.isfinite(value):
        return NOT_FINITE
    size = abs(value)
    if size >= 100:  # from 3 integer digits on, no decimals
        return f"{value:,.0f}"
    if size >= 10:  # two integer digits, one decimal: 3 figures
        return f"{value:.1f}"
    if size >= 1:
        return f"{value:.2f}"
    return round_sig(value, 3)


def _scaled(value: float, units: tuple[str, ...]) -> str:
    if not math.isfinite(value):
        return NOT_FINITE
    index = 0
    while abs(value) >= UNIT_SWITCH and index + 1 < len(units):
        value /= 1000
        index += 1
    return f"{format_number(value)} {units[index]}"


def format_energy(energy_j: float) -> str:
    """Energy in Wh, kWh, MWh, GWh or TWh: ``1,289 MWh``, ``2.40 kWh``, ``512 Wh``.

    Args:
        energy_j: The energy. Units: joules.
    """
    return _scaled(energy_j / J_PER_WH, _ENERGY_UNITS)


def format_co2e(co2e_g: float) -> str:
    """Emissions in g, kg, t, kt or Mt (add " CO2e" where it is needed): ``553 t``.

    Args:
        co2e_g: The emissions. Units: grams CO2e.
    """
    return _scaled(co2e_g, _MASS_UNITS)
