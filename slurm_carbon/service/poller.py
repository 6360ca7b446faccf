"""Polls carbon-intensity providers and stores what they say, with its issue time.

Every ``interval_s`` the poller asks its provider (usually a
:class:`~slurm_carbon.intensity.chain.ProviderChain`) for each configured
region's recent history and its forecast, and stores both through
:func:`~slurm_carbon.store.intensity.save_points` (idempotent: a re-polled hour
adds nothing; each forecast issue is kept). Annual figures are not stored.
Then, with a ``forecaster`` (the service passes an
:class:`~slurm_carbon.service.ci_forecast.OwnForecaster`), it makes and stores
our own forecast of each region from the stored actuals. The service starts it
in its lifespan when regions are configured::

    poller = IntensityPoller(factory, chain, ["DE", "GB"], forecaster=OwnForecaster(factory))
    create_app(factory, intensity_poller=poller)
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from slurm_carbon.errors import IntensityUnavailable, StoreError
from slurm_carbon.intensity.base import IntensityProvider
from slurm_carbon.store import SessionFactory
from slurm_carbon.store.intensity import save_points
from slurm_carbon.text import escape_control

__all__ = ["IntensityPoller", "PollResult"]

logger = logging.getLogger(__name__)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class PollResult:
    """What one poll stored, per region, and what failed (region -> one-line reason)."""

    new_points: dict[str, int] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


class IntensityPoller:
    """Fetches and stores carbon intensity of some regions, once or periodically.

    Args:
        factory: Sessions on the store.
        provider: Where figures come from.
        regions: The regions to poll, in the provider's codes.
        interval_s: Seconds between polls. Units: seconds.
        lookback: How much recent history each poll asks for (overlap is harmless).
        forecast_hours: How far ahead each poll asks for a forecast.
        forecaster: Called with each region and the poll's time after the region is
            polled; makes and stores our own forecast, returns how many points were new.
        clock: The current UTC time (injected in tests).
    """

    def __init__(  # noqa: PLR0913 (what to poll, how often, and the injected clock)
        self,
        factory: SessionFactory,
        provider: IntensityProvider,
        regions: Sequence[str],
        *,
        interval_s: float = 900.0,
        lookback: timedelta = timedelta(hours=3),
        forecast_hours: int = 24,
        forecaster: Callable[[str, datetime], int] | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.factory = factory
        self.provider = provider
        self.regions = list(regions)
        self.interval_s = interval_s
        self.lookback = lookback
        self.forecast_hours = forecast_hours
        self.forecaster = forecaster
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.polls = 0
        # Polls of each region that failed in part or whole (for /metrics).
        self.failures: Counter[str] = Counter()

    def poll_once(self) -> PollResult:
        """Fetch and store history and forecast of every region, then ours; never raises for one."""
        now = self._clock()
        result = PollResult()
        for region in self.regions:
            new = 0
            reasons = []
            try:
                new += save_points(
                    self.factory, self.provider.history(region, now - self.lookback, now)
                )
            except (IntensityUnavailable, StoreError) as err:
                reasons.append(f"history: {err}")
            try:
                new += save_points(
                    self.factory, self.provider.forecast(region, now, self.forecast_hours)
                )
            except (IntensityUnavailable, StoreError) as err:
                reasons.append(f"forecast: {err}")
            if self.forecaster is not None:
                try:
                    new += self.forecaster(region, now)
                except (IntensityUnavailable, StoreError) as err:
                    reasons.append(f"our forecast: {err}")
            result.new_points[region] = new
            if reasons:
                result.errors[region] = "; ".join(reasons)
                self.failures[region] += 1
                logger.info(  # providers' messages and stored names are outside text
                    "carbon-intensity poll of %s incomplete: %s",
                    escape_control(region),
                    escape_control(result.errors[region]),
                )
        self.polls += 1
        return result

    def start(self) -> None:
        """Poll now and then every ``interval_s`` in a daemon thread, until :meth:`stop`."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="ci-poller", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask the thread to stop and wait for it (a poll in flight finishes first)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # the thread must outlive any surprise; the next poll may work
                logger.exception("carbon-intensity poll failed")
            self._stop.wait(self.interval_s)
