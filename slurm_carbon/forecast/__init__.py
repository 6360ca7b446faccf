"""Pure forecasters: carbon intensity ahead (:mod:`.intensity`); no I/O."""

from __future__ import annotations

from slurm_carbon.forecast.intensity import (
    DEFAULT_METHOD,
    METHODS,
    Backtest,
    backtest,
    forecast,
    history_steps,
)

__all__ = ["DEFAULT_METHOD", "METHODS", "Backtest", "backtest", "forecast", "history_steps"]
