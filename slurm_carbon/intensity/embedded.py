"""The embedded default: annual carbon intensity per country, US state and Nordic zone.

The figures are read at run time from the data files of the installed
``codecarbon`` package (MIT), never from its tracker modules:

- ``private_infra/global_energy_mix.json``: per-country lifecycle intensity from
  Our World in Data, keyed by ISO 3166-1 alpha-3 (alpha-2 codes are mapped with
  ``iso_alpha2_to_alpha3.json`` beside this module);
- ``private_infra/2023/usa_emissions.json``: per-state EPA eGRID output emission
  rates in lbs/MWh, addressed as ``US-CA`` (ISO 3166-2);
- ``private_infra/nordic_emissions.json``: Swedish and Norwegian bidding zones,
  addressed as ``SE3`` or ``SE-SE3`` (Electricity Maps' zone key).

Canadian provinces are not offered: codecarbon ships only their generation mix,
not an intensity, and turning one into the other is a modelling choice of ours
to make elsewhere.

A yearly mean stands for every hour, so points are :attr:`CiKind.ANNUAL` and
their ``attribution`` must be shown wherever they are used::

    annual = EmbeddedAnnual()
    figure = annual.figure("DE")   # AnnualFigure(region="DEU", ci_g_per_kwh=380.95, year=2023, ..)
    points = annual.history("SE", start, end)   # one point covering [start, end)

Units: gCO2e/kWh.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

from slurm_carbon.codecarbon_data import codecarbon_data
from slurm_carbon.errors import IntensityUnavailable
from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.vocabulary import CiKind, CiSignal

__all__ = [
    "OWID_ATTRIBUTION",
    "SOURCE",
    "AnnualFigure",
    "EmbeddedAnnual",
]

SOURCE = "codecarbon-annual"
OWID_ATTRIBUTION = (
    "Ember; Energy Institute - Statistical Review of World Energy \N{EN DASH} with major processing"
    " by Our World in Data (via codecarbon, MIT)"
)
_EGRID_ATTRIBUTION = "US EPA eGRID (via codecarbon, MIT)"
_NORDIC_ATTRIBUTION = "ENTSO-E Transparency Platform, processed by codecarbon (via codecarbon, MIT)"

# One lb/MWh in g/kWh: 453.59237 g per lb, 1000 kWh per MWh.
G_PER_KWH_PER_LB_PER_MWH = 0.45359237


@dataclass(frozen=True, slots=True)
class AnnualFigure:
    """One region's annual mean carbon intensity and where it comes from.

    Attributes:
        region: The canonical code: ISO alpha-3 (``"DEU"``), ``"US-CA"`` or ``"SE3"``.
        ci_g_per_kwh: Units: gCO2e/kWh.
        year: The data year.
        attribution: The credit to show with the figure, data year included.
        name: A human name of the region, e.g. ``"Germany"``.
    """

    region: str
    ci_g_per_kwh: float
    year: int
    attribution: str
    name: str


class EmbeddedAnnual:
    """The annual default provider over codecarbon's tables (see the module docstring).

    Args:
        data_root: codecarbon's ``data`` directory; tests pass a fixture tree.

    The tables are read on first use and kept.
    """

    name = SOURCE

    def __init__(self, data_root: Traversable | None = None) -> None:
        self._data_root = data_root
        self._figures: dict[str, AnnualFigure] | None = None
        self._aliases: dict[str, str] = {}
        self._lock = threading.Lock()

    def regions(self) -> list[str]:
        """Every canonical region code the tables hold, sorted."""
        return sorted(self._load())

    def figure(self, region: str) -> AnnualFigure:
        """The annual figure of ``region`` (alpha-2 or alpha-3 country, ``US-XX``, ``SE3``).

        Raises:
            IntensityUnavailable: the tables know no such region (the message names it).
        """
        figures = self._load()
        key = region.strip().upper()
        key = self._aliases.get(key, key)
        found = figures.get(key)
        if found is None:
            raise IntensityUnavailable(
                f"no embedded annual carbon intensity for region {region!r}"
                " (use an ISO country code such as DE or DEU, US-CA, or SE3)"
            )
        return found

    def history(self, region: str, start: datetime, end: datetime) -> Sequence[CiPoint]:
        """One annual point covering ``[start, end)``."""
        return [self._point(region, start, end - start)]

    def forecast(self, region: str, start: datetime, hours: int) -> Sequence[CiPoint]:
        """One annual point covering ``hours`` from ``start`` (the year's mean is the forecast)."""
        return [self._point(region, start, timedelta(hours=hours))]

    def _point(self, region: str, start: datetime, span: timedelta) -> CiPoint:
        figure = self.figure(region)
        return CiPoint(
            region=region,
            time=start,
            step_s=max(1, math.ceil(span.total_seconds())),
            ci_g_per_kwh=figure.ci_g_per_kwh,
            source=SOURCE,
            kind=CiKind.ANNUAL,
            signal=CiSignal.AVERAGE,
            issued_at=start,
        )

    def _load(self) -> dict[str, AnnualFigure]:
        with self._lock:
            if self._figures is None:
                root = self._data_root if self._data_root is not None else codecarbon_data()
                figures: dict[str, AnnualFigure] = {}
                figures.update(_countries(root))
                figures.update(_us_states(root))
                figures.update(_nordic_zones(root))
                aliases = _alpha2_aliases()
                aliases.update({f"{key[:2]}-{key}": key for key in figures if _is_nordic(key)})
                self._aliases = {a: c for a, c in aliases.items() if c in figures}
                self._figures = figures
            return self._figures


def _read_json(root: Traversable, *parts: str) -> Any:
    node = root
    for part in parts:
        node = node / part
    try:
        return json.loads(node.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise IntensityUnavailable(f"cannot read codecarbon's {'/'.join(parts)}: {err}") from err


def _countries(root: Traversable) -> dict[str, AnnualFigure]:
    table = _read_json(root, "private_infra", "global_energy_mix.json")
    figures = {}
    for code, entry in table.items():
        if not isinstance(entry, dict) or entry.get("carbon_intensity") is None:
            continue
        year = int(entry["year"])
        figures[code.upper()] = AnnualFigure(
            region=code.upper(),
            ci_g_per_kwh=float(entry["carbon_intensity"]),
            year=year,
            attribution=f"{OWID_ATTRIBUTION}; data year {year}",
            name=str(entry.get("country_name", code)),
        )
    return figures


def _us_states(root: Traversable) -> dict[str, AnnualFigure]:
    try:
        table = _read_json(root, "private_infra", "2023", "usa_emissions.json")
    except IntensityUnavailable:
        return {}  # an older codecarbon: countries only
    if table.get("_unit", {}).get("emissions") != "lbs/MWh":
        return {}  # a unit we do not know: better none than wrong
    year = int(table.get("_source", {}).get("year", 2023))
    figures = {}
    for name, entry in table.items():
        if name.startswith("_") or not isinstance(entry, dict):
            continue
        code = f"US-{entry['regionCode']}".upper()
        figures[code] = AnnualFigure(
            region=code,
            ci_g_per_kwh=float(entry["emissions"]) * G_PER_KWH_PER_LB_PER_MWH,
            year=year,
            attribution=f"{_EGRID_ATTRIBUTION}; data year {year}",
            name=name.title(),
        )
    return figures


def _is_nordic(code: str) -> bool:
    return len(code) == 3 and code[:2] in ("SE", "NO") and code[2].isdigit()


def _nordic_zones(root: Traversable) -> dict[str, AnnualFigure]:
    try:
        table = _read_json(root, "private_infra", "nordic_emissions.json")
    except IntensityUnavailable:
        return {}
    figures = {}
    for code, entry in table.get("data", {}).items():
        # "FI" there is a whole country, which the per-country table already holds.
        if not _is_nordic(code.upper()) or entry.get("unit") != "gCO2eq/kWh":
            continue
        year = int(entry["year"])
        figures[code.upper()] = AnnualFigure(
            region=code.upper(),
            ci_g_per_kwh=float(entry["emission_factor"]),
            year=year,
            attribution=f"{_NORDIC_ATTRIBUTION}; data year {year}",
            name=str(entry.get("description", code)),
        )
    return figures


def _alpha2_aliases() -> dict[str, str]:
    text = resources.files(__package__).joinpath("iso_alpha2_to_alpha3.json").read_text("utf-8")
    codes: dict[str, str] = json.loads(text)["codes"]
    return dict(codes)
