"""The data files codecarbon (MIT) ships, located without importing codecarbon.

Importing the package would load its tracker (dozens of modules); the tables
under ``codecarbon/data/`` are all slurm_carbon reads of it.
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

from slurm_carbon.errors import ConfigError

__all__ = ["codecarbon_data"]


def codecarbon_data() -> Path:
    """The ``data`` directory of the installed codecarbon package.

    Raises:
        ConfigError: codecarbon is not installed.
    """
    spec = find_spec("codecarbon")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("codecarbon is not installed: its carbon-intensity and TDP tables are")
    return Path(next(iter(spec.submodule_search_locations))) / "data"
