"""slurm_carbon: energy and carbon accounting for Slurm jobs."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("slurm-carbon")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

__all__ = ["__version__"]
