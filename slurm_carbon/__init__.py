"""slurm_carbon: energy and carbon accounting for Slurm jobs.

A running job may say how far it is with :func:`progress` (see
:mod:`slurm_carbon.jobprogress`); importing the package costs only the standard
library.
"""

from importlib.metadata import PackageNotFoundError, version

from slurm_carbon.jobprogress import progress

try:
    __version__ = version("slurm-carbon")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

__all__ = ["__version__", "progress"]
