"""The UK's Carbon Intensity API (``api.carbonintensity.org.uk``), national or regional.

Regions: ``GB`` for Great Britain (national: the outturn ``actual`` where the
API has it, else its ``forecast``), ``GB-<n>`` for the API's region ``n``
(1 to 17; regional figures are forecasts only). Half-hour steps; signal
average. Units: gCO2/kWh.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import requests

from slurm_carbon.errors import IntensityUnavailable
from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.intensity.http import HttpPolicy, JsonClient
from slurm_carbon.intensity.series import overlapping
from slurm_carbon.intensity.timefmt import iso_z, parse_api_time
from slurm_carbon.vocabulary import CiKind, CiSignal

__all__ = ["DEFAULT_BASE_URL", "UkCarbonIntensity"]

DEFAULT_BASE_URL = "https://api.carbonintensity.org.uk"
NAME = "carbonintensity.org.uk"
STEP_S = 1800
NATIONAL = "GB"


class UkCarbonIntensity:
    """National Grid ESO's carbon intensity for Great Britain and its regions.

    Args:
        session: The ``requests`` session (injected).
        base_url: The API root, e.g. a local test server's.
        policy: Timeouts and retries.
    """

    name = NAME

    def __init__(
        self,
        session: requests.Session,
        *,
        base_url: str = DEFAULT_BASE_URL,
        policy: HttpPolicy | None = None,
    ) -> None:
        self._client = JsonClient(NAME, session, policy)
        self._base = base_url.rstrip("/")

    def history(self, region: str, start: datetime, end: datetime) -> Sequence[CiPoint]:
        """Half-hourly figures overlapping ``[start, end)``."""
        span = f"{iso_z(start, seconds=False)}/{iso_z(end, seconds=False)}"
        entries = self._entries(region, span)
        points = [_point(region, entry, forecast_issued_at=None) for entry in entries]
        return _within(points, start, end, region)

    def forecast(self, region: str, start: datetime, hours: int) -> Sequence[CiPoint]:
        """The forecast for up to 48 hours from ``start`` (issued at ``start``, when asked)."""
        entries = self._entries(region, f"{iso_z(start, seconds=False)}/fw48h")
        points = [_point(region, entry, forecast_issued_at=start) for entry in entries]
        return _within(points, start, start + timedelta(hours=hours), region)

    def _entries(self, region: str, span: str) -> list[Any]:
        if region.upper() == NATIONAL:
            body = self._client.get(f"{self._base}/intensity/{span}")
            return _data_list(body)
        region_id = _region_id(region)
        body = self._client.get(f"{self._base}/regional/intensity/{span}/regionid/{region_id}")
        data = body.get("data") if isinstance(body, dict) else None
        # /regional/regionid/{id} answers a list of one region; the ranged form, the region itself.
        if isinstance(data, list) and data:
            data = data[0]
        if not isinstance(data, dict) or not isinstance(data.get("data"), list):
            raise IntensityUnavailable(f"{NAME}: unexpected answer shape (no regional data)")
        entries: list[Any] = data["data"]
        return entries


def _region_id(region: str) -> int:
    prefix, _, number = region.upper().partition("-")
    if prefix != NATIONAL or not number.isdigit() or not 1 <= int(number) <= 17:
        raise IntensityUnavailable(
            f"{NAME}: unknown region {region!r} (use GB, or GB-1 to GB-17 for a regional id)"
        )
    return int(number)


def _data_list(body: Any) -> list[Any]:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise IntensityUnavailable(f"{NAME}: unexpected answer shape (no list 'data')")
    return data


def _point(region: str, entry: Any, *, forecast_issued_at: datetime | None) -> CiPoint:
    if not isinstance(entry, dict) or not isinstance(entry.get("intensity"), dict):
        raise IntensityUnavailable(f"{NAME}: unexpected answer shape (no 'intensity')")
    time = parse_api_time(entry.get("from"), NAME)
    to = parse_api_time(entry.get("to"), NAME) if entry.get("to") else None
    step_s = int((to - time).total_seconds()) if to is not None and to > time else STEP_S
    intensity = entry["intensity"]
    actual, forecast = intensity.get("actual"), intensity.get("forecast")
    if forecast_issued_at is None and _number(actual):
        kind, value, issued_at = CiKind.ACTUAL, actual, time
    elif _number(forecast):
        kind, value = CiKind.FORECAST, forecast
        issued_at = forecast_issued_at or time
    else:
        raise IntensityUnavailable(f"{NAME}: no intensity for {region} at {iso_z(time)}")
    return CiPoint(
        region=region,
        time=time,
        step_s=step_s,
        ci_g_per_kwh=float(value),
        source=NAME,
        kind=kind,
        signal=CiSignal.AVERAGE,
        issued_at=issued_at,
    )


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


def _within(points: list[CiPoint], start: datetime, end: datetime, region: str) -> list[CiPoint]:
    found = overlapping(points, start, end)
    if not found:
        raise IntensityUnavailable(f"{NAME}: no figures for {region} in the range asked")
    return found
