"""The advice files: one per partition, the CI ahead of its region, for ``job_submit.lua``.

:class:`AdviceWriter` runs in the writer process (beside slurmctld) every
:data:`~slurm_carbon.forecast.advice.ADVICE_EVERY_S`, and within
:data:`ADVICE_CHECK_S` of a new forecast: for each partition Slurm knows,
its region's CI ahead (:func:`~slurm_carbon.service.ci_forecast.ci_ahead`, the best
stored figures) as a regular series
(:func:`~slurm_carbon.forecast.advice.advice_series`), written to
``<dir>/<partition>.advice`` atomically (a temporary file in the same directory,
fsync, ``os.replace``; mode 0644). A partition whose region has nothing stored gets no
file (an old one is removed), as does one Slurm no longer lists; with ``[advice]
enabled = false`` every file is removed. Errors are logged, never raised: the writer
goes on.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from slurm_carbon.atomic import write_atomically
from slurm_carbon.config.site import SiteConfig
from slurm_carbon.errors import SlurmCarbonError
from slurm_carbon.forecast.advice import (
    ADVICE_AHEAD_S,
    ADVICE_EVERY_S,
    Advice,
    AdviceSeries,
    advice_series,
    format_advice,
)
from slurm_carbon.service.ci_forecast import ci_ahead
from slurm_carbon.slurm import SlurmClient
from slurm_carbon.store import SessionFactory, transaction
from slurm_carbon.text import escape_control

__all__ = ["ADVICE_CHECK_S", "ADVICE_SUFFIX", "AdviceWriter"]

logger = logging.getLogger(__name__)

#: How often the regions' series are read again between passes, to rewrite the files
#: soon after a new forecast is stored (a minute: a few queries per region).
ADVICE_CHECK_S = 60
#: The advice files' suffix: ``<dir>/<partition>.advice``.
ADVICE_SUFFIX = ".advice"
_FILE_MODE = 0o644
_S_PER_H = 3600
#: A partition or region name written into a file name and the file (as the reader checks).
_NAME = re.compile(r"[A-Za-z0-9_.:+-]{1,64}", re.ASCII)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def series_ahead(factory: SessionFactory, region: str, now: datetime) -> AdviceSeries | None:
    """The regular series of ``region``'s CI ahead of ``now`` (None: nothing stored)."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    with transaction(factory) as session:
        points = ci_ahead(session, region, hour, now + timedelta(seconds=ADVICE_AHEAD_S), now)
    return advice_series(points, int(now.timestamp()))


def _key(series: AdviceSeries | None) -> tuple[str, int, int] | None:
    """What makes a series new for the files: its source, issue time and first step."""
    return None if series is None else (series.source, series.issued, series.steps.start)


class AdviceWriter:
    """Writes the advice files (see the module docstring).

    Args:
        factory: Sessions on the store.
        slurm: Lists the partitions.
        config: The site: ``[advice]`` and the partitions' regions.
        clock: Current time (aware UTC).
    """

    def __init__(
        self,
        factory: SessionFactory,
        slurm: SlurmClient,
        config: SiteConfig,
        *,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._factory = factory
        self._slurm = slurm
        self._config = config
        self._clock = clock
        self._dir = Path(config.advice.dir)
        self._next: datetime | None = None
        self._next_check: datetime | None = None
        #: What each region's last written series was: (source, issued, start).
        self._written: dict[str, tuple[str, int, int] | None] = {}

    def maybe_write(self) -> None:
        """Write the files every ``ADVICE_EVERY_S``, and when a region's forecast changed.

        Every ``ADVICE_CHECK_S`` the regions of the last pass are read again (no Slurm
        call): a new forecast (another source or issue time) or a new first step
        rewrites the files at once. Never raises: errors are logged.
        """
        now = self._clock()
        try:
            if self._next is None or now >= self._next or self._changed(now):
                self._next = now + timedelta(seconds=ADVICE_EVERY_S)
                self.write_all(now)
        except (SlurmCarbonError, OSError) as err:
            logger.warning("advice files not written: %s", escape_control(str(err)))
        except Exception as err:
            logger.error("advice files not written: %s: %s", type(err).__name__, err)  # noqa: TRY400

    def _changed(self, now: datetime) -> bool:
        if self._next_check is not None and now < self._next_check:
            return False
        self._next_check = now + timedelta(seconds=ADVICE_CHECK_S)
        return any(
            _key(series_ahead(self._factory, region, now)) != key
            for region, key in self._written.items()
        )

    def write_all(self, now: datetime) -> list[str]:
        """Write every partition's file, remove the others; return the partitions written.

        Raises:
            SlurmError: The partitions could not be listed.
            StoreError: The store could not be read.
            OSError: The directory could not be listed.
        """
        advice = self._config.advice
        written: list[str] = []
        if advice.enabled:
            self._dir.mkdir(parents=True, exist_ok=True)
            by_region: dict[str, AdviceSeries | None] = {}
            for partition in self._slurm.partitions():
                region = self._config.region_for(partition, None)
                if not (_NAME.fullmatch(partition) and _NAME.fullmatch(region)):
                    logger.warning(
                        "no advice for partition %s (region %s): not a name the file can hold",
                        escape_control(partition),
                        escape_control(region),
                    )
                    continue
                if region not in by_region:
                    by_region[region] = series_ahead(self._factory, region, now)
                series = by_region[region]
                if series is not None:
                    self._write(partition, region, series, now)
                    written.append(partition)
            self._written = {region: _key(series) for region, series in by_region.items()}
        self._remove_others(written)
        return written

    def _write(self, partition: str, region: str, series: AdviceSeries, now: datetime) -> None:
        advice = self._config.advice
        text = format_advice(
            Advice(
                generated=int(now.timestamp()),
                partition=partition,
                region=region,
                source=series.source,
                issued=series.issued,
                hint=advice.hint_for(partition),
                threshold_pct=advice.threshold_pct,
                defer_default_s=advice.defer_default_h * _S_PER_H,
                step_s=series.steps.step_s,
                start=series.steps.start,
                ci=series.steps.ci,
                hint_min_s=advice.hint_min_minutes * 60,
            )
        )
        write_atomically(self._dir / f"{partition}{ADVICE_SUFFIX}", text, _FILE_MODE)

    def _remove_others(self, written: list[str]) -> None:
        if not self._dir.is_dir():
            return
        keep = {f"{partition}{ADVICE_SUFFIX}" for partition in written}
        for path in self._dir.glob(f"*{ADVICE_SUFFIX}"):
            if path.name not in keep:
                path.unlink(missing_ok=True)
                logger.info("advice file %s removed", escape_control(path.name))
