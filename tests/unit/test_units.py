"""Unit constants: one definition of joules per kWh, watt-hours derived from it."""

from __future__ import annotations

from slurm_carbon.units import J_PER_KWH, J_PER_WH, format_energy


def test_joules_per_kwh_and_per_wh() -> None:
    assert J_PER_KWH == 3_600_000.0
    assert J_PER_WH == 3600.0
    assert format_energy(24 * J_PER_KWH) == "24.0 kWh"
