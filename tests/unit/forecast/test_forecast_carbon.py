"""Remaining CO2e: forecast energy x CI ahead x PUE, exact on a hand-made case."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from slurm_carbon.forecast.carbon import INSTANT_S, co2e_spread_g, remaining_co2e
from slurm_carbon.forecast.energy import EnergyForecast
from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.units import J_PER_KWH
from slurm_carbon.vocabulary import CiKind, CiSignal

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
PUE = 1.5
HOUR_S = 3600.0


def point(hour: int, ci: float) -> CiPoint:
    time = NOW + timedelta(hours=hour)
    return CiPoint(
        "SE", time, 3600, ci, "fcst", CiKind.FORECAST, CiSignal.AVERAGE, NOW, synthetic=False
    )


#: 100 g/kWh for the first hour, 300 g/kWh for the second; the last holds after.
AHEAD = [point(0, 100.0), point(1, 300.0)]


def energy(total_kwh: float, low_kwh: float, high_kwh: float) -> EnergyForecast:
    """A forecast of 2 h left (1 h to 3 h)."""
    return EnergyForecast(
        remaining_j={"gpu": total_kwh * J_PER_KWH},
        total_j=total_kwh * J_PER_KWH,
        low_j=low_kwh * J_PER_KWH,
        high_j=high_kwh * J_PER_KWH,
        remaining_s=2 * HOUR_S,
        remaining_low_s=HOUR_S,
        remaining_high_s=3 * HOUR_S,
        method="observed",
    )


def test_remaining_co2e_is_energy_spread_over_the_steps_ahead_times_pue() -> None:
    found = remaining_co2e(energy(2.0, 1.0, 3.0), NOW, AHEAD, PUE)
    # 1 kWh in each hour: (100 + 300) x 1.5.
    assert found.co2e_g == pytest.approx(600.0, rel=1e-12)
    # Low: 1 kWh all in the clean first hour (the low time): 100 x 1.5.
    assert found.low_g == pytest.approx(150.0, rel=1e-12)
    # High: 3 kWh over 3 h, a third clean, two thirds dirty (the last point holds).
    assert found.high_g == pytest.approx(3 * (100 + 300 + 300) / 3 * PUE, rel=1e-12)


def test_pue_as_a_function_of_time_is_taken_at_each_step() -> None:
    def pue(when: datetime) -> float:
        return 1.0 if when < NOW + timedelta(hours=1) else 2.0

    assert co2e_spread_g(2 * J_PER_KWH, NOW, 2 * HOUR_S, AHEAD, pue) == pytest.approx(
        100.0 + 300.0 * 2.0, rel=1e-12
    )


def test_no_energy_is_no_co2e_and_no_time_is_the_intensity_now() -> None:
    assert co2e_spread_g(0.0, NOW, HOUR_S, AHEAD, PUE) == 0.0
    assert co2e_spread_g(J_PER_KWH, NOW, 0.0, AHEAD, PUE) == pytest.approx(150.0, rel=1e-12)
    assert INSTANT_S < HOUR_S


def test_energy_without_intensity_is_refused() -> None:
    with pytest.raises(ValueError, match="no carbon-intensity points"):
        co2e_spread_g(J_PER_KWH, NOW, HOUR_S, [], PUE)
