"""Putting jobs on the AdminComment write queue: hand-offs, the sweep, the re-check.

The database is the queue (:class:`~slurm_carbon.store.models.CommentWrite`
rows); :class:`~slurm_carbon.service.writer.Writer` writes what is queued and
runs a :class:`Queuer` at each pass. Where jobs come from:

- the EpilogSlurmctld shim drops ``<spool>/ended/<raw job id>.end`` when a job
  ends; :meth:`Queuer.intake` reads Slurm's record of those jobs, stores it,
  queues the job and removes the file;
- :meth:`Queuer.sweep` records the deferral decision of ``carbon_defer`` jobs seen
  pending or running for the first time
  (:func:`~slurm_carbon.service.first_seen.record_first_seen`), then finds measured
  jobs that were never queued (or have no result): jobs that ended while the writer
  was down or whose hand-off was lost.
  Those Slurm reports finished are queued. Those still running get a live
  value (``...;fc_co2e_g=<forecast total>;live=1``, the forecast once the job
  reported progress) through ``scontrol``, at most once a sweep, after their
  current AdminComment was read from slurmctld so that a foreign one is kept;
  the final value replaces it once the job has ended.

Another tool may replace the whole AdminComment after our write (Princeton
Jobstats' EpilogSlurmctld sets ``JS1:<base64>`` with sacctmgr). At each sweep,
:meth:`Queuer.recheck_written` reads the jobs written in the last
:data:`REMERGE_WINDOW` and queues again those whose comment lost our part: the
write merges ours back after theirs, at most :data:`MAX_REMERGES` times a job,
so two tools never fight.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from slurm_carbon.accounting.admin_comment import has_foreign, merge_admin_comment, our_part
from slurm_carbon.errors import IntensityUnavailable, SlurmError
from slurm_carbon.intensity.base import IntensityProvider
from slurm_carbon.service.budgets import BudgetReviewer
from slurm_carbon.service.capping import CapDecider
from slurm_carbon.service.first_seen import record_first_seen
from slurm_carbon.service.job_forecast import JobForecast, forecast_from_footprint
from slurm_carbon.service.results import (
    JobFootprint,
    NoEnergy,
    ResultNotFinite,
    live_payload,
    running_footprint,
    store_job,
)
from slurm_carbon.service.site import Site
from slurm_carbon.slurm import JobQuery, SlurmClient, SlurmJob
from slurm_carbon.store import Session, SessionFactory, transaction
from slurm_carbon.store.results import jobs_to_settle, recent_writes, request_comment
from slurm_carbon.text import escape_control

__all__ = ["ENDED_DIR", "MAX_REMERGES", "REMERGE_WINDOW", "Queuer", "slurm_records"]

logger = logging.getLogger(__name__)

#: Subdirectory of the spool where the EpilogSlurmctld shim drops ``<raw id>.end``.
ENDED_DIR = "ended"
_ENDED_FILE = re.compile(r"^(\d+)\.end$")
# A hand-off whose job sacct never lists is dropped after this long.
_STALE_HANDOFF = timedelta(days=1)
# Job ids per sacct call.
_SACCT_CHUNK = 100
#: How long after our write the sweep checks that our part is still in the
#: AdminComment: tools such as Princeton Jobstats replace the whole field from
#: their EpilogSlurmctld, at job end, so within minutes; a day covers a slurmdbd backlog.
REMERGE_WINDOW = timedelta(days=1)
#: How often one job's part is merged back (per writer process): a tool that keeps
#: replacing the field is left the last word after this, rather than fought.
MAX_REMERGES = 2


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for index in range(0, len(items), size):
        yield items[index : index + size]


def slurm_records(slurm: SlurmClient, raw_ids: Sequence[int]) -> dict[int, SlurmJob]:
    """Slurm's records of these raw job ids, by raw id.

    ``sacct -j <id>`` also lists an array's every task when ``<id>`` is the
    array's id (the last task's raw id): only exact raw ids are kept.
    """
    wanted = set(raw_ids)
    found: dict[int, SlurmJob] = {}
    for chunk in _chunks(sorted({str(i) for i in wanted}), _SACCT_CHUNK):
        for job in slurm.jobs(JobQuery(job_ids=chunk)):
            if job.job_id_raw in wanted:
                found[job.job_id_raw] = job
    return found


class Queuer:
    """Puts jobs on the write queue (see the module docstring).

    Args:
        factory: Sessions on the store.
        slurm: The Slurm client (sacct to read, scontrol for live values).
        site: Region and PUE policy.
        intensity: Carbon-intensity series (``history``) for a region.
        spool: The spool directory holding ``ended/`` (None: no hand-off files).
        clock: Current time (aware UTC).
        write_comments: AdminComments are written at all (False: no re-check).
        live_comments: Give running jobs a live value at each sweep.
        budgets: Reviews running jobs' budgets against their forecasts at each
            sweep (None: budgets are not acted on).
        capping: Decides running GPU jobs' power caps at each sweep (None: never capped).
        foreign: With a foreign AdminComment, ``append`` ours after it or
            ``skip`` the job. Never overwrite.
    """

    def __init__(  # noqa: PLR0913 (what queueing touches, injected)
        self,
        factory: SessionFactory,
        slurm: SlurmClient,
        site: Site,
        intensity: IntensityProvider,
        *,
        spool: Path | None,
        clock: Callable[[], datetime],
        write_comments: bool,
        live_comments: bool,
        foreign: Literal["append", "skip"],
        budgets: BudgetReviewer | None = None,
        capping: CapDecider | None = None,
    ) -> None:
        self._factory = factory
        self._slurm = slurm
        self._site = site
        self._intensity = intensity
        self._spool = spool
        self._clock = clock
        self._write_comments = write_comments
        self._live_comments = live_comments
        self._foreign = foreign
        self._budgets = budgets
        self._capping = capping
        self._remerges: dict[int, int] = {}

    def intake(self) -> int:
        """Queue the jobs the EpilogSlurmctld shim handed over; return how many.

        A file is removed once its job is queued; a file whose job sacct does
        not list yet stays for the next pass (and is dropped after a day).
        """
        if self._spool is None:
            return 0
        directory = self._spool / ENDED_DIR
        try:
            entries = list(directory.iterdir())
        except FileNotFoundError:
            return 0
        files: dict[int, Path] = {}
        for path in entries:
            match = _ENDED_FILE.match(path.name)
            if match:
                files[int(match[1])] = path
        if not files:
            return 0
        records = slurm_records(self._slurm, list(files))
        queued = 0
        now = self._clock()
        for raw_id, path in sorted(files.items()):
            job = records.get(raw_id)
            if job is None:
                self._drop_if_stale(path, raw_id, now)
                continue
            with transaction(self._factory) as session:
                request_comment(session, store_job(session, job), now)
            path.unlink(missing_ok=True)
            queued += 1
            logger.info("queued job=%s (ended, handed over by EpilogSlurmctld)", job.job_id)
        return queued

    def _drop_if_stale(self, path: Path, raw_id: int, now: datetime) -> None:
        try:
            age = now - datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
        except FileNotFoundError:
            return
        if age > _STALE_HANDOFF:
            logger.warning("job %d: sacct has no record after %s; hand-off dropped", raw_id, age)
            path.unlink(missing_ok=True)

    def sweep(self, limit: int = 500) -> int:
        """Queue measured jobs, never queued, that Slurm reports finished; return how many.

        First, the decisions of ``carbon_defer`` jobs pending or running, seen for the
        first time, are recorded (:func:`~slurm_carbon.service.first_seen.record_first_seen`).
        """
        record_first_seen(self._factory, self._slurm, self._site, self._clock())
        with transaction(self._factory) as session:
            keys = jobs_to_settle(session, limit)
        if not keys:
            return 0
        records = slurm_records(self._slurm, [key.slurm_job_id for key in keys])
        queued = 0
        now = self._clock()
        for key in keys:
            job = records.get(key.slurm_job_id)
            if job is None or job.cluster != key.cluster:
                continue
            if not job.finished:
                if job.state == "RUNNING":
                    self._running(job, now)
                continue
            with transaction(self._factory) as session:
                request_comment(session, store_job(session, job), now)
            queued += 1
            logger.info("queued job=%s (found by the sweep)", job.job_id)
        return queued

    def recheck_written(self, limit: int = 500) -> int:
        """Queue again jobs written recently whose AdminComment lost our part; return how many.

        Another tool that replaced the whole field keeps its text: the write
        merges ours back after it, at most :data:`MAX_REMERGES` times a job.
        """
        if not self._write_comments:
            return 0
        now = self._clock()
        with transaction(self._factory) as session:
            written = recent_writes(session, now - REMERGE_WINDOW, limit)
        if not written:
            return 0
        records = slurm_records(self._slurm, [w.job.slurm_job_id for w in written])
        queued = 0
        for write in written:
            job = records.get(write.job.slurm_job_id)
            if job is None or job.cluster != write.job.cluster or not job.finished:
                continue
            if our_part(job.admin_comment) == write.payload.lower():
                continue
            if self._foreign == "skip" and has_foreign(job.admin_comment):
                continue
            shown = escape_control(job.admin_comment[:200])
            done = self._remerges.get(write.write_id, 0)
            if done >= MAX_REMERGES:
                if done == MAX_REMERGES:
                    logger.warning(
                        "job %s: AdminComment replaced again (%r); not merged back after %d times",
                        job.job_id,
                        shown,
                        done,
                    )
                    self._remerges[write.write_id] = done + 1
                continue
            self._remerges[write.write_id] = done + 1
            with transaction(self._factory) as session:
                request_comment(session, write.job_id, now)
            queued += 1
            logger.warning(
                "job %s: our AdminComment part was replaced (now %r); merging it back (%d of %d)",
                job.job_id,
                shown,
                done + 1,
                MAX_REMERGES,
            )
        return queued

    def _running(self, job: SlurmJob, now: datetime) -> None:
        """A running job: its cap decided, its forecast, its budget reviewed, its live value.

        Its footprint so far is computed once, for the forecast and the live value.
        """
        if self._capping is not None:
            self._capping.decide(job, now)
        try:
            with transaction(self._factory) as session:
                # The job is stored again: its budgets, from the comment squeue shows.
                job_id, found = running_footprint(
                    session, job, site=self._site, intensity=self._intensity, now=now
                )
                forecast = self._forecast(session, job, job_id, found, now)
        except (NoEnergy, IntensityUnavailable) as err:
            logger.info("no live value for job=%s: %s", job.job_id, err)
            return
        note = None
        if forecast is not None and self._budgets is not None:
            note = self._budgets.review(job, forecast, now)
        if self._live_comments:
            self._write_live(job, found, forecast, note, now)

    @staticmethod
    def _forecast(
        session: Session, job: SlurmJob, job_id: int, found: JobFootprint, now: datetime
    ) -> JobForecast | None:
        """The running job's forecast; None without one (no progress and no time limit)."""
        try:
            return forecast_from_footprint(
                session,
                job_id,
                found,
                label=job.job_id,
                start=job.start_time,
                time_limit_s=job.time_limit_s,
                now=now,
            )
        except NoEnergy as err:  # NoForecast
            logger.debug("no forecast for job=%s: %s", job.job_id, err)
            return None

    def _write_live(
        self,
        job: SlurmJob,
        found: JobFootprint,
        forecast: JobForecast | None,
        note: str | None,
        now: datetime,
    ) -> None:
        """Put the running job's live value into its AdminComment (best effort).

        The figures so far, the forecast total (none without a forecast) and the budget note.
        """
        if self._foreign == "skip" and has_foreign(job.admin_comment):
            return
        try:
            payload = live_payload(
                job.job_id,
                found,
                now,
                # A time-limit bound is no forecast: the figures so far only.
                forecast_co2e_g=(
                    None if forecast is None or forecast.bound else forecast.total_co2e_g
                ),
                note=note,
            )
            held = self._slurm.running_admin_comment(job.job_id)
            if self._foreign == "skip" and has_foreign(held):
                return
            self._slurm.set_admin_comment(
                job.job_id, merge_admin_comment(held, payload), finished=False
            )
        except (SlurmError, ResultNotFinite) as err:
            logger.info("no live value for job=%s: %s", job.job_id, err)
            return
        logger.info("live value job=%s %s", job.job_id, payload)
