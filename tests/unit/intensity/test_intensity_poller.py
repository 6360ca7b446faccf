from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from slurm_carbon.errors import IntensityUnavailable
from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.service.app import create_app
from slurm_carbon.service.poller import IntensityPoller
from slurm_carbon.store.intensity import ci_points
from slurm_carbon.vocabulary import CiKind, CiSignal
from slurm_carbon.vocabulary import CiKind as StoredKind

T = datetime(2024, 3, 1, 12, tzinfo=UTC)


class Scripted:
    """Hourly history and a 3-hour forecast issued at the poll's time; can be down."""

    name = "scripted"

    def __init__(self) -> None:
        self.down: set[str] = set()
        self.asked: list[tuple[str, str, datetime]] = []

    def history(self, region: str, start: datetime, end: datetime) -> Sequence[CiPoint]:
        self.asked.append(("history", region, start))
        if region in self.down:
            raise IntensityUnavailable(f"scripted: {region} down")
        hours = int((end - start).total_seconds() // 3600)
        return [
            CiPoint(
                region,
                start + timedelta(hours=i),
                3600,
                100.0 + i,
                "scripted",
                CiKind.ACTUAL,
                CiSignal.AVERAGE,
                start + timedelta(hours=i),
            )
            for i in range(hours)
        ]

    def forecast(self, region: str, start: datetime, hours: int) -> Sequence[CiPoint]:
        self.asked.append(("forecast", region, start))
        if region in self.down:
            raise IntensityUnavailable(f"scripted: {region} down")
        return [
            CiPoint(
                region,
                start + timedelta(hours=i),
                3600,
                200.0 + i,
                "scripted",
                CiKind.FORECAST,
                CiSignal.AVERAGE,
                start,
            )
            for i in range(min(hours, 3))
        ]


@pytest.fixture
def factory(session: Session) -> sessionmaker[Session]:
    """Sessions inside the test's rolled-back transaction."""
    return sessionmaker(bind=session.connection(), join_transaction_mode="create_savepoint")


def test_poll_once_stores_history_and_forecast_with_issue_times(
    factory: sessionmaker[Session], session: Session
) -> None:
    provider = Scripted()
    clock = [T]
    poller = IntensityPoller(
        factory,
        provider,
        ["DE", "FR"],
        lookback=timedelta(hours=2),
        forecast_hours=3,
        clock=lambda: clock[0],
    )
    provider.down = {"FR"}
    result = poller.poll_once()
    assert result.new_points == {"DE": 5, "FR": 0}
    assert result.errors == {"FR": "history: scripted: FR down; forecast: scripted: FR down"}

    clock[0] = T + timedelta(hours=1)  # the next poll: one new hour, a new forecast issue
    provider.down = set()
    result = poller.poll_once()
    assert result.new_points == {"DE": 1 + 3, "FR": 2 + 3}
    assert poller.polls == 2

    actual = ci_points(
        session, "DE", T - timedelta(hours=3), T + timedelta(hours=9), kind=StoredKind.ACTUAL
    )
    assert [p.time for p in actual] == [
        T - timedelta(hours=2) + timedelta(hours=i) for i in range(3)
    ]
    forecasts = ci_points(session, "DE", T, T + timedelta(hours=9), kind=StoredKind.FORECAST)
    assert sorted({p.issued_at for p in forecasts}) == [T, T + timedelta(hours=1)]
    assert len(forecasts) == 6


def test_the_app_runs_the_poller_in_its_lifespan(factory: sessionmaker[Session]) -> None:
    polled = threading.Event()

    class Signalling(Scripted):
        def forecast(self, region: str, start: datetime, hours: int) -> Sequence[CiPoint]:
            polled.set()
            return super().forecast(region, start, hours)

    poller = IntensityPoller(factory, Signalling(), ["DE"], interval_s=3600, clock=lambda: T)
    app = create_app(factory, intensity_poller=poller)

    async def run() -> bool:
        async with app.router.lifespan_context(app):
            return await asyncio.to_thread(polled.wait, 10)

    assert asyncio.run(run())
    assert poller._thread is None  # stopped at shutdown
    assert poller.polls == 1
