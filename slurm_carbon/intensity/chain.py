"""A fallback chain of providers, and the best series for a region and a time range.

:class:`ProviderChain` asks its providers in preference order and answers with
the first that can; the embedded annual table is always last, so a region it
knows always gets a figure. A provider that starts failing is logged once (a
warning), and once more when it answers again; not on every request::

    chain = ProviderChain([electricity_maps, uk], annual=EmbeddedAnnual())
    points = chain.history("GB", start, end)      # each point names its source

:func:`best_series` prefers what is stored (actuals from the database), then a
live provider, then the annual figure.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from slurm_carbon.errors import IntensityUnavailable
from slurm_carbon.intensity.base import CiPoint, IntensityProvider
from slurm_carbon.intensity.embedded import EmbeddedAnnual
from slurm_carbon.vocabulary import CiKind

__all__ = ["BestSeries", "ProviderChain", "best_series", "covers"]

logger = logging.getLogger(__name__)


class ProviderChain:
    """Providers in preference order, the embedded annual default last.

    Args:
        providers: The live or trace providers, most preferred first.
        annual: The embedded default (added last; pass one to share its cache).
    """

    name = "chain"

    def __init__(
        self, providers: Sequence[IntensityProvider], *, annual: EmbeddedAnnual | None = None
    ) -> None:
        self.annual = annual or EmbeddedAnnual()
        self.providers: list[IntensityProvider] = [*providers, self.annual]
        self._failing: set[str] = set()
        self._lock = threading.Lock()

    def history(self, region: str, start: datetime, end: datetime) -> Sequence[CiPoint]:
        """The first provider's figures covering ``[start, end)``.

        Raises:
            IntensityUnavailable: no provider could answer (each one's reason in the message).
        """
        return self._ask(region, lambda p: p.history(region, start, end))

    def forecast(self, region: str, start: datetime, hours: int) -> Sequence[CiPoint]:
        """The first provider's forecast for ``hours`` from ``start`` (the annual mean last)."""
        return self._ask(region, lambda p: p.forecast(region, start, hours))

    def failing(self) -> set[str]:
        """Names of the providers whose last answer was a failure."""
        with self._lock:
            return set(self._failing)

    def _ask(
        self, region: str, call: Callable[[IntensityProvider], Sequence[CiPoint]]
    ) -> Sequence[CiPoint]:
        reasons = []
        for provider in self.providers:
            try:
                points = call(provider)
                if not points:
                    raise IntensityUnavailable(f"{provider.name}: no figures")  # noqa: TRY301
            except IntensityUnavailable as err:
                self._failed(provider.name, region, err)
                reasons.append(str(err))
                continue
            self._answered(provider.name)
            return points
        raise IntensityUnavailable(f"no carbon intensity for {region!r}: " + "; ".join(reasons))

    def _failed(self, name: str, region: str, err: IntensityUnavailable) -> None:
        with self._lock:
            new = name not in self._failing
            self._failing.add(name)
        if new:
            logger.warning("carbon-intensity provider %s failing (for %s): %s", name, region, err)

    def _answered(self, name: str) -> None:
        with self._lock:
            recovered = name in self._failing
            self._failing.discard(name)
        if recovered:
            logger.warning("carbon-intensity provider %s answers again", name)


def covers(points: Sequence[CiPoint], start: datetime, end: datetime) -> bool:
    """Whether the points, taken with their steps, leave no gap in ``[start, end)``."""
    reached = start
    for point in sorted(points, key=lambda p: p.time):
        if point.time > reached:
            return False
        reached = max(reached, point.time + timedelta(seconds=point.step_s))
        if reached >= end:
            return True
    return reached >= end


def best_series(  # noqa: PLR0913 (the sources in preference order, and the range)
    region: str,
    start: datetime,
    end: datetime,
    *,
    stored: Callable[[str, datetime, datetime], Sequence[CiPoint]] | None = None,
    live: IntensityProvider | None = None,
    annual: EmbeddedAnnual | None = None,
    annual_region: str | None = None,
) -> list[CiPoint]:
    """The best figures for ``region`` over ``[start, end)``, every point naming its source.

    In order: stored actuals (``stored``, e.g. :func:`stored_actuals` over a
    session factory) if they cover the whole range; else ``live`` (a provider or
    a :class:`ProviderChain`); else the annual figure of ``annual_region``
    (default ``region``; a grid zone such as ``SE3`` may need its country).

    Raises:
        IntensityUnavailable: nothing could answer.
    """
    reasons = []
    if stored is not None:
        found = [p for p in stored(region, start, end) if p.kind is CiKind.ACTUAL]
        if found and covers(found, start, end):
            return sorted(found, key=lambda p: p.time)
        reasons.append("the stored actuals do not cover the range" if found else "none stored")
    if live is not None:
        try:
            return list(live.history(region, start, end))
        except IntensityUnavailable as err:
            reasons.append(str(err))
    annual = annual or EmbeddedAnnual()
    try:
        return list(annual.history(annual_region or region, start, end))
    except IntensityUnavailable as err:
        reasons.append(str(err))
    raise IntensityUnavailable(f"no carbon intensity for {region!r}: " + "; ".join(reasons))


class BestSeries:
    """A provider over :func:`best_series`: stored actuals, else live providers, else annual.

    What the writer computes results with and the report recomputes them with.
    ``stored`` reads stored actual points (e.g. :func:`~slurm_carbon.store.intensity.
    stored_actuals` over a session factory); ``live`` is the site's provider chain
    (None: none configured, as in the report, which makes no network call).
    """

    name = "best-series"

    def __init__(
        self,
        stored: Callable[[str, datetime, datetime], Sequence[CiPoint]] | None,
        live: IntensityProvider | None = None,
    ) -> None:
        self._stored = stored
        self._live = live
        self._annual = EmbeddedAnnual()

    def history(self, region: str, start: datetime, end: datetime) -> list[CiPoint]:
        """The best series for ``[start, end)``."""
        return best_series(
            region, start, end, stored=self._stored, live=self._live, annual=self._annual
        )

    def forecast(self, region: str, start: datetime, hours: int) -> list[CiPoint]:
        """Not offered: results need history only."""
        raise IntensityUnavailable(f"{self.name} gives no forecast ({region}, {start}, {hours})")
