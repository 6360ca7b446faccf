from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
import requests

from slurm_carbon.config import IntensityConfig, ProviderConfig
from slurm_carbon.errors import ConfigError, IntensityUnavailable
from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.intensity.chain import ProviderChain, best_series, covers
from slurm_carbon.intensity.embedded import EmbeddedAnnual
from slurm_carbon.intensity.factory import ZoneMapped, build_chain
from slurm_carbon.intensity.http import HttpPolicy
from slurm_carbon.vocabulary import CiKind, CiSignal
from tests.unit.intensity.conftest import FIXTURES, FakeApi, Reply

T = datetime(2024, 3, 1, 12, tzinfo=UTC)


def _point(source: str, time: datetime, ci: float, step_s: int = 3600) -> CiPoint:
    return CiPoint("DE", time, step_s, ci, source, CiKind.ACTUAL, CiSignal.AVERAGE, time)


class Flaky:
    """Fails while ``down`` is true; answers one point otherwise."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.down = False
        self.calls = 0

    def history(self, region: str, start: datetime, end: datetime) -> Sequence[CiPoint]:
        self.calls += 1
        if self.down:
            raise IntensityUnavailable(f"{self.name}: HTTP 503 from the server")
        return [_point(self.name, start, 111.0)]

    def forecast(self, region: str, start: datetime, hours: int) -> Sequence[CiPoint]:
        raise IntensityUnavailable(f"{self.name}: no forecast")


@pytest.fixture(scope="module")
def annual() -> EmbeddedAnnual:
    return EmbeddedAnnual()


def test_first_answer_wins_and_names_its_source(annual: EmbeddedAnnual) -> None:
    first, second = Flaky("first"), Flaky("second")
    first.down = True
    chain = ProviderChain([first, second], annual=annual)
    assert [p.source for p in chain.history("DE", T, T + timedelta(hours=1))] == ["second"]
    (forecast,) = chain.forecast("DE", T, 3)  # neither forecasts: the annual mean
    assert (forecast.source, forecast.kind) == ("codecarbon-annual", CiKind.ANNUAL)


def test_failures_are_logged_once_and_recovery_once(
    annual: EmbeddedAnnual, caplog: pytest.LogCaptureFixture
) -> None:
    flaky = Flaky("em")
    chain = ProviderChain([flaky], annual=annual)
    caplog.set_level(logging.WARNING, logger="slurm_carbon.intensity.chain")
    flaky.down = True
    for _ in range(5):
        assert chain.history("DE", T, T + timedelta(hours=1))[0].source == "codecarbon-annual"
    assert chain.failing() == {"em"}
    flaky.down = False
    for _ in range(3):
        assert chain.history("DE", T, T + timedelta(hours=1))[0].source == "em"
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        "carbon-intensity provider em failing (for DE): em: HTTP 503 from the server",
        "carbon-intensity provider em answers again",
    ]
    assert flaky.calls == 8


def test_nothing_answers(annual: EmbeddedAnnual) -> None:
    flaky = Flaky("em")
    flaky.down = True
    chain = ProviderChain([flaky], annual=annual)
    with pytest.raises(IntensityUnavailable, match=r"no carbon intensity for 'Mars': em: HTTP 503"):
        chain.history("Mars", T, T + timedelta(hours=1))


def test_covers() -> None:
    points = [_point("s", T, 1.0), _point("s", T + timedelta(hours=1), 2.0)]
    assert covers(points, T, T + timedelta(hours=2))
    assert covers(points, T + timedelta(minutes=30), T + timedelta(minutes=90))
    assert not covers(points, T, T + timedelta(hours=3))
    assert not covers(points[1:], T, T + timedelta(hours=2))


def test_best_series_prefers_stored_then_live_then_annual(annual: EmbeddedAnnual) -> None:
    end = T + timedelta(hours=2)
    stored_points = [_point("db", T, 50.0), _point("db", T + timedelta(hours=1), 60.0)]
    live = Flaky("live")
    series = best_series("DE", T, end, stored=lambda *_: stored_points, live=live, annual=annual)
    assert [p.source for p in series] == ["db", "db"]
    assert live.calls == 0
    # A gap in what is stored: the live provider.
    series = best_series(
        "DE", T, end, stored=lambda *_: stored_points[:1], live=live, annual=annual
    )
    assert [p.source for p in series] == ["live"]
    live.down = True
    series = best_series("DE", T, end, stored=lambda *_: [], live=live, annual=annual)
    assert [(p.source, p.step_s) for p in series] == [("codecarbon-annual", 7200)]
    series = best_series("SE3", T, end, annual=annual, annual_region="SE")
    assert series[0].ci_g_per_kwh == annual.figure("SE").ci_g_per_kwh
    with pytest.raises(IntensityUnavailable, match=r"'Mars': none stored; live: HTTP 503"):
        best_series("Mars", T, end, stored=lambda *_: [], live=live, annual=annual)


def test_zone_mapping_relabels_points() -> None:
    inner = Flaky("em")
    seen: list[str] = []
    original = inner.history

    def history(region: str, start: datetime, end: datetime) -> Sequence[CiPoint]:
        seen.append(region)
        return original(region, start, end)

    inner.history = history  # type: ignore[method-assign]
    mapped = ZoneMapped(inner, {"SE": "SE-SE3"})
    (point,) = mapped.history("SE", T, T + timedelta(hours=1))
    assert (seen, point.region) == (["SE-SE3"], "SE")


def test_build_chain_from_config(api: FakeApi, http: requests.Session) -> None:
    api.route("/carbon-intensity/history", Reply(fixture="em_history.json"))
    config = IntensityConfig.model_validate(
        {
            "sources": ["annual", "electricitymaps", "trace"],
            "providers": {
                "electricitymaps": ProviderConfig(
                    base_url=api.base_url,
                    token_env="EM_TOKEN",  # noqa: S106 (a variable name, not a secret)
                    zones={"GER": "DE"},
                ),
                "trace": ProviderConfig(path=str(FIXTURES / "small_iso.csv")),
            },
        }
    )
    policy = HttpPolicy(timeout_s=1, attempts=1)
    chain = build_chain(config, {"EM_TOKEN": "k"}, http, trace_region="X", policy=policy)
    assert [p.name for p in chain.providers] == ["electricitymaps", "trace", "codecarbon-annual"]
    (point,) = chain.history("GER", T - timedelta(hours=1), T)
    assert (point.region, point.ci_g_per_kwh, point.source) == ("GER", 307.0, "electricitymaps")
    assert api.seen[0].query == {"zone": ["DE"]}
    with pytest.raises(ConfigError, match="environment variable EM_TOKEN is not set"):
        build_chain(config, {}, http, trace_region="X")
