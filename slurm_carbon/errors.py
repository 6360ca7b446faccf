"""The project's error tree.

Every error that crosses a module boundary is one of these; vendor errors
(subprocess failures, database driver errors, NVML codes) are translated where
they are caught, keeping the original as ``__cause__``::

    SlurmCarbonError
    ├── ConfigError              bad settings or input given by a person
    ├── SlurmError               a Slurm command failed or could not run
    │   ├── SlurmCommandNotFound the command is not installed / not on PATH
    │   └── SlurmJobNotFound     no such job (or nothing was modified)
    ├── StoreError               the database could not be reached or used
    ├── IntensityUnavailable     a carbon-intensity provider could not answer
    └── SensorError              a device could not be read or set
        ├── SensorUnsupported    the device lacks the feature (e.g. no energy counter)
        ├── SensorPermission     reading or setting needs privileges we lack
        └── DeviceLost           the device is gone (GPU fell off the bus, domain vanished)
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DeviceLost",
    "IntensityUnavailable",
    "SensorError",
    "SensorPermission",
    "SensorUnsupported",
    "SlurmCarbonError",
    "SlurmCommandNotFound",
    "SlurmError",
    "SlurmJobNotFound",
    "StoreError",
]


class SlurmCarbonError(Exception):
    """Root of every error slurm_carbon raises on purpose."""


class ConfigError(SlurmCarbonError):
    """A setting or an input given by a person is invalid."""


class SlurmError(SlurmCarbonError):
    """A Slurm command failed; the message carries the command's own words."""


class SlurmCommandNotFound(SlurmError):
    """A Slurm command is not installed or not on PATH."""


class SlurmJobNotFound(SlurmError):
    """Slurm knows no such job, or a modification matched nothing."""


class StoreError(SlurmCarbonError):
    """The store (PostgreSQL or SQLite) could not be reached or used."""


class IntensityUnavailable(SlurmCarbonError):
    """A carbon-intensity provider could not answer (down, refused, no data, no plan)."""


class SensorError(SlurmCarbonError):
    """A device could not be read or set."""


class SensorUnsupported(SensorError):
    """The device does not have the feature asked for."""


class SensorPermission(SensorError):
    """Reading or setting the device needs privileges this process lacks."""


class DeviceLost(SensorError):
    """The device is gone: removed, fallen off the bus, or its driver unloaded."""
