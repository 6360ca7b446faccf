"""WattTime v3 (``api.watttime.org``): marginal operating emissions rate (``co2_moer``).

``GET /login`` with HTTP basic auth gives a bearer token (valid ~30 minutes;
refreshed once on a 401). ``/v3/historical`` and ``/v3/forecast`` answer
``{"data": [{"point_time", "value"}], "meta": {"units", "data_point_period_seconds", ...}}``
in lbs CO2/MWh, converted here to g/kWh (1 lb/MWh = 0.45359237 g/kWh).
Regions are WattTime's balancing-authority codes, e.g. ``CAISO_NORTH``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import requests

from slurm_carbon.errors import IntensityUnavailable
from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.intensity.http import HttpPolicy, JsonClient, Unauthorized
from slurm_carbon.intensity.series import overlapping
from slurm_carbon.intensity.timefmt import iso_z, parse_api_time
from slurm_carbon.vocabulary import CiKind, CiSignal

__all__ = ["DEFAULT_BASE_URL", "G_PER_KWH_PER_LB_PER_MWH", "WattTime"]

DEFAULT_BASE_URL = "https://api.watttime.org"
NAME = "watttime"
SIGNAL_TYPE = "co2_moer"
G_PER_KWH_PER_LB_PER_MWH = 0.45359237
_UNITS = {"lbs_co2_per_mwh": G_PER_KWH_PER_LB_PER_MWH, "g_co2_per_kwh": 1.0}
DEFAULT_STEP_S = 300


class WattTime:
    """WattTime's marginal emissions (signal: marginal).

    Args:
        username: The WattTime account.
        password: Its password.
        session: The ``requests`` session (injected).
        base_url: The API root, e.g. a local test server's.
        policy: Timeouts and retries.
    """

    name = NAME

    def __init__(
        self,
        username: str,
        password: str,
        session: requests.Session,
        *,
        base_url: str = DEFAULT_BASE_URL,
        policy: HttpPolicy | None = None,
    ) -> None:
        self._credentials = (username, password)
        self._client = JsonClient(NAME, session, policy)
        self._base = base_url.rstrip("/")
        self._token: str | None = None

    def history(self, region: str, start: datetime, end: datetime) -> Sequence[CiPoint]:
        """Marginal rates overlapping ``[start, end)``, 5-minute steps."""
        body = self._get(
            "/v3/historical",
            {
                "region": region,
                "start": iso_z(start),
                "end": iso_z(end),
                "signal_type": SIGNAL_TYPE,
            },
        )
        points = _points(region, body, CiKind.ACTUAL)
        found = overlapping(points, start, end)
        if not found:
            raise IntensityUnavailable(f"{NAME}: no figures for {region} in the range asked")
        return found

    def forecast(self, region: str, start: datetime, hours: int) -> Sequence[CiPoint]:
        """The latest forecast from ``start`` for ``hours`` (issued at its ``generated_at``)."""
        body = self._get(
            "/v3/forecast",
            {"region": region, "signal_type": SIGNAL_TYPE, "horizon_hours": str(hours)},
        )
        end = start + timedelta(hours=hours)
        points = _points(region, body, CiKind.FORECAST)
        found = overlapping(points, start, end)
        if not found:
            raise IntensityUnavailable(f"{NAME}: no forecast for {region} from {iso_z(start)}")
        return found

    def _login(self) -> str:
        body = self._client.get(f"{self._base}/login", auth=self._credentials)
        token = body.get("token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise IntensityUnavailable(f"{NAME}: login answered no token")
        self._token = token
        return token

    def _get(self, path: str, params: dict[str, str]) -> Any:
        token = self._token or self._login()
        try:
            return self._client.get(
                f"{self._base}{path}", params=params, headers={"Authorization": f"Bearer {token}"}
            )
        except Unauthorized:
            # The token expired: one new login, one more try.
            token = self._login()
            return self._client.get(
                f"{self._base}{path}", params=params, headers={"Authorization": f"Bearer {token}"}
            )


def _points(region: str, body: Any, kind: CiKind) -> list[CiPoint]:
    data = body.get("data") if isinstance(body, dict) else None
    meta = body.get("meta") if isinstance(body, dict) else None
    if not isinstance(data, list) or not isinstance(meta, dict):
        raise IntensityUnavailable(f"{NAME}: unexpected answer shape (no 'data' list and 'meta')")
    units = meta.get("units")
    factor = _UNITS.get(str(units))
    if factor is None:
        raise IntensityUnavailable(f"{NAME}: unknown units {units!r}")
    step_s = int(meta.get("data_point_period_seconds") or DEFAULT_STEP_S)
    generated = meta.get("generated_at")
    issued_at = parse_api_time(generated, NAME) if kind is CiKind.FORECAST and generated else None
    points = []
    for entry in data:
        if not isinstance(entry, dict):
            raise IntensityUnavailable(f"{NAME}: unexpected answer shape (not an object)")
        value = entry.get("value")
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise IntensityUnavailable(f"{NAME}: bad value {value!r} in the answer")
        time = parse_api_time(entry.get("point_time"), NAME)
        points.append(
            CiPoint(
                region=region,
                time=time,
                step_s=step_s,
                ci_g_per_kwh=float(value) * factor,
                source=NAME,
                kind=kind,
                signal=CiSignal.MARGINAL,
                issued_at=issued_at or time,
            )
        )
    return sorted(points, key=lambda p: p.time)
