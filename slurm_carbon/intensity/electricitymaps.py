"""Electricity Maps (``api.electricitymap.org/v3``): average lifecycle intensity per zone.

``/carbon-intensity/history?zone=Z`` gives the last 24 hours hour by hour,
``/carbon-intensity/past-range?zone=Z&start=&end=`` older ranges, and
``/carbon-intensity/forecast?zone=Z`` the next hours (plans that include it).
The token goes in the ``auth-token`` header. Units: gCO2e/kWh.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import requests

from slurm_carbon.errors import IntensityUnavailable
from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.intensity.http import HttpPolicy, JsonClient
from slurm_carbon.intensity.series import overlapping
from slurm_carbon.intensity.timefmt import iso_z, parse_api_time
from slurm_carbon.vocabulary import CiKind, CiSignal

__all__ = ["DEFAULT_BASE_URL", "ElectricityMaps"]

DEFAULT_BASE_URL = "https://api.electricitymap.org/v3"
NAME = "electricitymaps"
STEP_S = 3600
# /history covers this much of the recent past; older ranges use /past-range.
HISTORY_SPAN = timedelta(hours=24)


class ElectricityMaps:
    """Electricity Maps' carbon intensity (signal: average, lifecycle unless the plan says).

    Args:
        token: The API token.
        session: The ``requests`` session (injected).
        base_url: The API root, e.g. a local test server's.
        policy: Timeouts and retries.
        now: The clock, to choose between ``/history`` and ``/past-range``.
    """

    name = NAME

    def __init__(
        self,
        token: str,
        session: requests.Session,
        *,
        base_url: str = DEFAULT_BASE_URL,
        policy: HttpPolicy | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self._token = token
        self._client = JsonClient(NAME, session, policy)
        self._base = base_url.rstrip("/")
        self._now = now

    def _get(self, path: str, params: dict[str, str]) -> Any:
        return self._client.get(
            f"{self._base}/carbon-intensity/{path}",
            params=params,
            headers={"auth-token": self._token},
        )

    def latest(self, region: str) -> CiPoint:
        """The most recent figure of ``region``."""
        body = self._get("latest", {"zone": region})
        return self._point(region, body, CiKind.ACTUAL, None)

    def history(self, region: str, start: datetime, end: datetime) -> Sequence[CiPoint]:
        """Hourly figures overlapping ``[start, end)``."""
        now = self._now() if self._now is not None else None
        if now is not None and start < now - HISTORY_SPAN:
            params = {"zone": region, "start": iso_z(start), "end": iso_z(end)}
            body = self._get("past-range", params)
            entries = _list(body, "data", NAME)
        else:
            body = self._get("history", {"zone": region})
            entries = _list(body, "history", NAME)
        points = [self._point(region, entry, CiKind.ACTUAL, None) for entry in entries]
        found = overlapping(points, start, end)
        if not found:
            raise IntensityUnavailable(f"{NAME}: no figures for {region} in the range asked")
        return found

    def forecast(self, region: str, start: datetime, hours: int) -> Sequence[CiPoint]:
        """Hourly forecast for ``hours`` from ``start``, issued at the answer's ``updatedAt``."""
        body = self._get("forecast", {"zone": region})
        issued = body.get("updatedAt") if isinstance(body, dict) else None
        issued_at = parse_api_time(issued, NAME) if issued else None
        end = start + timedelta(hours=hours)
        points = [
            self._point(region, entry, CiKind.FORECAST, issued_at)
            for entry in _list(body, "forecast", NAME)
        ]
        found = overlapping(points, start, end)
        if not found:
            raise IntensityUnavailable(f"{NAME}: no forecast for {region} from {iso_z(start)}")
        return found

    def _point(self, region: str, entry: Any, kind: CiKind, issued_at: datetime | None) -> CiPoint:
        if not isinstance(entry, dict):
            raise IntensityUnavailable(f"{NAME}: unexpected answer shape (not an object)")
        value = entry.get("carbonIntensity")
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise IntensityUnavailable(f"{NAME}: no carbonIntensity for {region} in the answer")
        time = parse_api_time(entry.get("datetime"), NAME)
        return CiPoint(
            region=region,
            time=time,
            step_s=STEP_S,
            ci_g_per_kwh=float(value),
            source=NAME,
            kind=kind,
            signal=CiSignal.AVERAGE,
            issued_at=issued_at or time,
        )


def _list(body: Any, key: str, provider: str) -> list[Any]:
    entries = body.get(key) if isinstance(body, dict) else None
    if not isinstance(entries, list):
        raise IntensityUnavailable(f"{provider}: unexpected answer shape (no list {key!r})")
    return entries
