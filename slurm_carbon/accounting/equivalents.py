"""Everyday equivalents of an amount of CO2e, for reports. They are approximations.

Each factor is a published average, cited in its constant's docstring; an
equivalent says "about as much as", never more.

Units: emissions in grams CO2e.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CAR_G_PER_KM",
    "SMARTPHONE_CHARGE_G",
    "Equivalent",
    "equivalents",
]

CAR_G_PER_KM = 109.8
"""Average CO2 of a new passenger car registered in the EU in 2022, WLTP. Units: gCO2/km.

Source: European Environment Agency (EEA), "CO2 emissions from new passenger
cars" (provisional 2022 data, published 2023): 109.8 gCO2/km. Tailpipe only,
type-approval figure; real-world driving emits more. An approximation.
"""

SMARTPHONE_CHARGE_G = 8.22
"""CO2 of fully charging one smartphone. Units: grams CO2 per charge.

Source: US EPA, "Greenhouse Gas Equivalencies Calculator - Calculations and
References" (2023 edition): 8.22e-3 kg CO2 per smartphone charged, from the
US average grid (eGRID). An approximation.
"""


@dataclass(frozen=True)
class Equivalent:
    """An amount of CO2e expressed as an everyday quantity (an approximation).

    Attributes:
        name: Machine name, e.g. ``"car_km"``.
        description: What the quantity counts, for people.
        quantity: How many of them.
        factor_g: Grams CO2e per one of them.
        source: The cited source and year of ``factor_g``.
    """

    name: str
    description: str
    quantity: float
    factor_g: float
    source: str
    approximate: bool = True


def equivalents(co2e_g: float) -> list[Equivalent]:
    """Everyday equivalents of ``co2e_g``.

    Args:
        co2e_g: Emissions. Units: grams CO2e.

    Returns:
        Kilometres driven by an average new EU car and smartphone charges.

    Raises:
        ValueError: Negative emissions.
    """
    if not co2e_g >= 0:
        raise ValueError(f"co2e_g must be >= 0, got {co2e_g}")
    return [
        Equivalent(
            "car_km",
            "km driven by an average new passenger car (EU, WLTP)",
            co2e_g / CAR_G_PER_KM,
            CAR_G_PER_KM,
            "EEA 2022 new-car average, 109.8 gCO2/km (WLTP)",
        ),
        Equivalent(
            "smartphone_charges",
            "smartphone full charges",
            co2e_g / SMARTPHONE_CHARGE_G,
            SMARTPHONE_CHARGE_G,
            "US EPA GHG Equivalencies Calculator 2023, 8.22e-3 kg CO2 per charge",
        ),
    ]
