"""Pure forecasters, no I/O: carbon intensity ahead, a running job's remaining energy and CO2e."""

from __future__ import annotations

from slurm_carbon.forecast.carbon import CarbonForecast, remaining_co2e
from slurm_carbon.forecast.energy import (
    CapChange,
    EnergyForecast,
    MeasuredPeriod,
    baseline_remaining_j,
    forecast_remaining,
)
from slurm_carbon.forecast.intensity import (
    DEFAULT_METHOD,
    METHODS,
    Backtest,
    backtest,
    forecast,
    history_steps,
)

__all__ = [
    "DEFAULT_METHOD",
    "METHODS",
    "Backtest",
    "CapChange",
    "CarbonForecast",
    "EnergyForecast",
    "MeasuredPeriod",
    "backtest",
    "baseline_remaining_j",
    "forecast",
    "forecast_remaining",
    "history_steps",
    "remaining_co2e",
]
