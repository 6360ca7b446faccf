from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests

from slurm_carbon.errors import IntensityUnavailable
from slurm_carbon.intensity.electricitymaps import ElectricityMaps
from slurm_carbon.intensity.http import HttpPolicy
from slurm_carbon.intensity.ukgrid import UkCarbonIntensity
from slurm_carbon.intensity.watttime import WattTime
from slurm_carbon.vocabulary import CiKind, CiSignal
from tests.unit.intensity.conftest import FakeApi, Reply

T = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
FAST = HttpPolicy(timeout_s=0.3, attempts=3, backoff_s=0.0, max_retry_after_s=2.0)


def _em(api: FakeApi, http: requests.Session, **kwargs: object) -> ElectricityMaps:
    return ElectricityMaps("secret", http, base_url=api.base_url, policy=FAST, **kwargs)  # type: ignore[arg-type]


def test_electricitymaps_history_latest_and_forecast(api: FakeApi, http: requests.Session) -> None:
    api.route("/carbon-intensity/history", Reply(fixture="em_history.json"))
    api.route("/carbon-intensity/latest", Reply(fixture="em_latest.json"))
    api.route("/carbon-intensity/forecast", Reply(fixture="em_forecast.json"))
    provider = _em(api, http)

    points = provider.history("DE", T - timedelta(hours=3), T)
    assert [p.ci_g_per_kwh for p in points] == [331.0, 318.0, 307.0]
    assert points[0].time == datetime(2024, 3, 1, 9, tzinfo=UTC)
    assert {(p.source, p.kind, p.signal, p.step_s) for p in points} == {
        ("electricitymaps", CiKind.ACTUAL, CiSignal.AVERAGE, 3600)
    }
    assert api.seen[0].query == {"zone": ["DE"]}
    assert api.seen[0].headers["auth-token"] == "secret"

    latest = provider.latest("DE")
    assert (latest.time, latest.ci_g_per_kwh) == (T, 302.0)

    forecast = provider.forecast("DE", T + timedelta(hours=1), 2)
    assert [p.ci_g_per_kwh for p in forecast] == [298.0, 301.0]
    assert {p.kind for p in forecast} == {CiKind.FORECAST}
    assert forecast[0].issued_at == datetime(2024, 3, 1, 12, 49, 10, 227000, tzinfo=UTC)


def test_electricitymaps_uses_past_range_for_old_ranges(
    api: FakeApi, http: requests.Session
) -> None:
    api.route(
        "/carbon-intensity/past-range",
        Reply(
            body={
                "zone": "DE",
                "data": [{"carbonIntensity": 410, "datetime": "2024-01-01T00:00:00.000Z"}],
            }
        ),
    )
    provider = _em(api, http, now=lambda: T)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    points = provider.history("DE", start, start + timedelta(hours=1))
    assert [p.ci_g_per_kwh for p in points] == [410.0]
    assert api.seen[0].query["start"] == ["2024-01-01T00:00:00Z"]


def test_uk_national_prefers_actual_then_forecast(api: FakeApi, http: requests.Session) -> None:
    api.route("/intensity/2024-03-01T10:00Z/2024-03-01T11:30Z", Reply(fixture="uk_intensity.json"))
    provider = UkCarbonIntensity(http, base_url=api.base_url, policy=FAST)
    points = provider.history("GB", T - timedelta(hours=2), T - timedelta(minutes=30))
    assert [(p.ci_g_per_kwh, p.kind) for p in points] == [
        (176.0, CiKind.ACTUAL),
        (179.0, CiKind.ACTUAL),
        (185.0, CiKind.FORECAST),
    ]
    assert {p.step_s for p in points} == {1800}


def test_uk_forecast_and_regional(api: FakeApi, http: requests.Session) -> None:
    api.route("/intensity/2024-03-01T12:00Z/fw48h", Reply(fixture="uk_fw48h.json"))
    api.route(
        "/regional/intensity/2024-03-01T10:00Z/2024-03-01T11:00Z/regionid/13",
        Reply(fixture="uk_regional_range.json"),
    )
    provider = UkCarbonIntensity(http, base_url=api.base_url, policy=FAST)
    forecast = provider.forecast("GB", T, 2)
    assert [p.ci_g_per_kwh for p in forecast] == [170.0, 160.0, 151.0, 144.0]
    assert {(p.kind, p.issued_at) for p in forecast} == {(CiKind.FORECAST, T)}
    regional = provider.history("GB-13", T - timedelta(hours=2), T - timedelta(hours=1))
    assert [p.ci_g_per_kwh for p in regional] == [201.0, 205.0]
    assert regional[0].region == "GB-13"
    with pytest.raises(IntensityUnavailable, match="unknown region 'GB-99'"):
        provider.history("GB-99", T, T + timedelta(hours=1))


def test_watttime_logs_in_converts_units_and_refreshes_token(
    api: FakeApi, http: requests.Session
) -> None:
    api.route("/login", Reply(body={"token": "token-1"}), Reply(body={"token": "token-2"}))
    api.route(
        "/v3/historical",
        Reply(fixture="wt_historical.json"),
        Reply(401, body={"error": "expired"}),
        Reply(fixture="wt_historical.json"),
    )
    api.route("/v3/forecast", Reply(fixture="wt_forecast.json"))
    provider = WattTime("user", "pw", http, base_url=api.base_url, policy=FAST)

    points = provider.history("CAISO_NORTH", T, T + timedelta(minutes=10))
    assert [round(p.ci_g_per_kwh, 3) for p in points] == [394.625, 392.811]
    assert {(p.signal, p.step_s, p.source) for p in points} == {
        (CiSignal.MARGINAL, 300, "watttime")
    }
    assert api.seen[0].headers["Authorization"].startswith("Basic ")
    assert api.seen[1].query["signal_type"] == ["co2_moer"]
    assert api.seen[1].headers["Authorization"] == "Bearer token-1"

    provider.history("CAISO_NORTH", T, T + timedelta(minutes=10))  # 401, login, retry
    assert api.paths()[2:] == ["/v3/historical", "/login", "/v3/historical"]
    assert api.seen[-1].headers["Authorization"] == "Bearer token-2"

    forecast = provider.forecast("CAISO_NORTH", T, 1)
    assert forecast[0].ci_g_per_kwh == pytest.approx(900 * 0.45359237)
    assert forecast[0].issued_at == datetime(2024, 3, 1, 11, 58, tzinfo=UTC)
    assert forecast[0].kind is CiKind.FORECAST


def test_watttime_401_twice_is_unavailable(api: FakeApi, http: requests.Session) -> None:
    api.route("/login", Reply(body={"token": "t"}))
    api.route("/v3/historical", Reply(401, body={"error": "no"}))
    provider = WattTime("user", "pw", http, base_url=api.base_url, policy=FAST)
    with pytest.raises(IntensityUnavailable, match=r"^watttime: HTTP 401, credentials refused$"):
        provider.history("CAISO_NORTH", T, T + timedelta(minutes=10))
    assert api.paths() == ["/login", "/v3/historical", "/login", "/v3/historical"]


@pytest.mark.parametrize(
    ("replies", "message"),
    [
        ([Reply(401, body={"message": "bad token"})], "HTTP 401, credentials refused"),
        ([Reply(503, body={})] * 3, "HTTP 503 from the server"),
        ([Reply(200, body="{not json")], "malformed JSON in the answer"),
        (
            [Reply(429, headers={"Retry-After": "30"})],
            r"HTTP 429, rate limited \(retry after 30 s\)",
        ),
        ([Reply(200, body={"zone": "DE"})], "unexpected answer shape"),
        ([Reply(400, body={"error": "zone unknown"})], 'HTTP 400: {"error": "zone unknown"}'),
    ],
)
def test_errors_are_one_line_unavailable(
    api: FakeApi, http: requests.Session, replies: list[Reply], message: str
) -> None:
    api.route("/carbon-intensity/history", *replies)
    with pytest.raises(IntensityUnavailable, match=f"^electricitymaps: {message}") as caught:
        _em(api, http).history("DE", T - timedelta(hours=1), T)
    assert "\n" not in str(caught.value)


def test_5xx_and_429_are_retried_with_backoff(api: FakeApi, http: requests.Session) -> None:
    api.route(
        "/carbon-intensity/history",
        Reply(502, body={}),
        Reply(429, headers={"Retry-After": "1.5"}),
        Reply(fixture="em_history.json"),
    )
    waits: list[float] = []
    policy = HttpPolicy(timeout_s=1.0, attempts=3, backoff_s=0.25, max_retry_after_s=2.0)
    provider = ElectricityMaps("k", http, base_url=api.base_url, policy=policy)
    provider._client._sleep = waits.append  # record the waits instead of waiting
    points = provider.history("DE", T - timedelta(hours=1), T)
    assert [p.ci_g_per_kwh for p in points] == [307.0]
    assert waits == [0.25, 1.5]


def test_timeout_is_unavailable(api: FakeApi, http: requests.Session) -> None:
    api.route("/carbon-intensity/history", Reply(fixture="em_history.json", delay_s=1.0))
    policy = HttpPolicy(timeout_s=0.2, attempts=2, backoff_s=0.0)
    provider = ElectricityMaps("k", http, base_url=api.base_url, policy=policy)
    with pytest.raises(IntensityUnavailable, match=r"^electricitymaps: timed out after 0.2 s$"):
        provider.history("DE", T - timedelta(hours=1), T)
    assert len(api.seen) == 2


def test_connection_refused_is_unavailable(http: requests.Session) -> None:
    provider = UkCarbonIntensity(http, base_url="http://127.0.0.1:9", policy=FAST)
    with pytest.raises(IntensityUnavailable, match=r"^carbonintensity.org.uk: request failed"):
        provider.history("GB", T, T + timedelta(hours=1))
