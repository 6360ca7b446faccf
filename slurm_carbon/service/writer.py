"""The writer: finished jobs' results, computed and mirrored into Slurm's AdminComment.

Where jobs come from:

- the EpilogSlurmctld shim drops ``<spool>/ended/<raw job id>.end`` when a job
  ends; :meth:`Writer.intake` reads Slurm's record of those jobs, stores it,
  queues the job (a :class:`~slurm_carbon.store.models.CommentWrite` row) and
  removes the file. The database is the queue from then on;
- :meth:`Writer.sweep` finds measured jobs that were never queued (or have no
  result): jobs that ended while the writer was down or whose hand-off was lost.
  Those Slurm reports finished are queued. Those still running get a live
  value (``...;live=1``) through ``scontrol``, at most once a sweep, after their
  current AdminComment was read from slurmctld so that a foreign one is kept;
  the final value replaces it once the job has ended.

For each queued job, :meth:`Writer.write_due` waits until ``sacct`` shows the
job's record final (:attr:`~slurm_carbon.slurm.SlurmJob.finished`: End set,
start record arrived), so slurmctld can no longer overwrite what is written;
then it stores the job's metadata and result, writes the payload with
``sacctmgr`` (``finished=True``), addressing an array task as
``<array_id>_<task>``, and reads it back through ``sacct``. A foreign
AdminComment is kept: the payload is appended after a space, or replaces our
own earlier ``sc1:`` part
(:func:`~slurm_carbon.accounting.admin_comment.merge_admin_comment`). Slurm
22.05's sacctmgr lower-cases the whole comment and turns quotes into backticks,
the foreign part included; the read-back compares our part only.

Another tool may replace the whole AdminComment after our write (Princeton
Jobstats' EpilogSlurmctld sets ``JS1:<base64>`` with sacctmgr). At each sweep,
:meth:`Writer.recheck_written` reads the jobs written in the last
:data:`REMERGE_WINDOW` and queues again those whose comment lost our part: the
write merges ours back after theirs, at most :data:`MAX_REMERGES` times a job,
so two tools never fight.

A try that fails (record not final yet, no energy stored yet, Slurm or
carbon intensity unavailable, read-back mismatch) counts one attempt, keeps the
error and is tried again after an exponential backoff (:class:`Backoff`, kept
in memory: a restarted writer tries every pending job once at once); after
``max_attempts`` the write is marked failed. Run one writer per database.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from slurm_carbon.accounting.admin_comment import has_foreign, merge_admin_comment, our_part
from slurm_carbon.errors import IntensityUnavailable, SlurmCarbonError, SlurmError, StoreError
from slurm_carbon.intensity.base import IntensityProvider
from slurm_carbon.service.fallback import annual_fallback
from slurm_carbon.service.results import (
    NoEnergy,
    ResultNotFinite,
    live_payload,
    settle_result,
    store_job,
)
from slurm_carbon.service.site import Site
from slurm_carbon.slurm import JobQuery, SlurmClient, SlurmJob
from slurm_carbon.store import SessionFactory, transaction
from slurm_carbon.store.results import (
    PendingComment,
    jobs_to_settle,
    pending_comments,
    recent_writes,
    record_comment_attempt,
    request_comment,
)
from slurm_carbon.text import escape_control

__all__ = [
    "ENDED_DIR",
    "MAX_REMERGES",
    "REMERGE_WINDOW",
    "Backoff",
    "PassReport",
    "Writer",
]

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


@dataclass(frozen=True)
class Backoff:
    """When to try a failed write again.

    Attributes:
        first_s: Delay after the first failed try. Units: seconds.
        factor: Each further failure multiplies the delay by this.
        max_s: The delay's ceiling. Units: seconds.
        max_attempts: Tries before the write is marked failed.
    """

    first_s: float = 5.0
    factor: float = 2.0
    max_s: float = 1800.0
    max_attempts: int = 12

    def delay_s(self, attempts: int) -> float:
        """Delay after ``attempts`` failed tries (>= 1). Units: seconds."""
        return float(min(self.max_s, self.first_s * self.factor ** max(attempts - 1, 0)))


@dataclass
class PassReport:
    """What one pass did: jobs queued, comments written, tries failed, writes given up.

    ``waiting`` counts ended jobs left until their agents' last intervals are in.
    """

    queued: int = 0
    written: int = 0
    retried: int = 0
    failed: int = 0
    waiting: int = 0
    errors: list[str] = field(default_factory=list)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for index in range(0, len(items), size):
        yield items[index : index + size]


class Writer:
    """Computes finished jobs' results and writes them into Slurm (see the module docstring).

    Args:
        factory: Sessions on the store.
        slurm: The Slurm client (sacct to read, sacctmgr to write).
        site: Region and PUE policy.
        intensity: Carbon-intensity series (``history``) for a region.
        spool: The spool directory holding ``ended/`` (None: no hand-off files).
        backoff: Retry policy.
        clock: Current time (aware UTC).
        settle_delay_s: How long after a job's End to compute its result, so
            that its nodes' agents can deliver the final intervals first
            (energy that arrives later still makes the sweep recompute it).
            Units: seconds.
        write_comments: Write into Slurm at all (False: results only; the
            write is marked failed with the reason).
        live_comments: Give running jobs a live value at each sweep.
        foreign: With a foreign AdminComment, ``append`` ours after it or
            ``skip`` the job (marked failed with the reason). Never overwrite.
    """

    def __init__(  # noqa: PLR0913 (what the writer touches, injected)
        self,
        factory: SessionFactory,
        slurm: SlurmClient,
        site: Site,
        intensity: IntensityProvider,
        *,
        spool: Path | None = None,
        backoff: Backoff | None = None,
        clock: Callable[[], datetime] = _utcnow,
        settle_delay_s: float = 30.0,
        write_comments: bool = True,
        live_comments: bool = True,
        foreign: Literal["append", "skip"] = "append",
    ) -> None:
        self._factory = factory
        self._slurm = slurm
        self._site = site
        self._intensity = intensity
        self._spool = spool
        self._backoff = backoff or Backoff()
        self._clock = clock
        self._write_comments = write_comments
        self._live_comments = live_comments and write_comments
        self._settle_delay = timedelta(seconds=settle_delay_s)
        self._foreign = foreign
        self._not_before: dict[int, datetime] = {}
        self._remerges: dict[int, int] = {}

    # -- reading Slurm -------------------------------------------------------------

    def _records(self, raw_ids: Sequence[int]) -> dict[int, SlurmJob]:
        """Slurm's records of these raw job ids, by raw id.

        ``sacct -j <id>`` also lists an array's every task when ``<id>`` is the
        array's id (the last task's raw id): only exact raw ids are kept.
        """
        wanted = set(raw_ids)
        found: dict[int, SlurmJob] = {}
        for chunk in _chunks(sorted({str(i) for i in wanted}), _SACCT_CHUNK):
            for job in self._slurm.jobs(JobQuery(job_ids=chunk)):
                if job.job_id_raw in wanted:
                    found[job.job_id_raw] = job
        return found

    # -- queueing ------------------------------------------------------------------

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
        records = self._records(list(files))
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
        """Queue measured jobs, never queued, that Slurm reports finished; return how many."""
        with transaction(self._factory) as session:
            keys = jobs_to_settle(session, limit)
        if not keys:
            return 0
        records = self._records([key.slurm_job_id for key in keys])
        queued = 0
        now = self._clock()
        for key in keys:
            job = records.get(key.slurm_job_id)
            if job is None or job.cluster != key.cluster:
                continue
            if not job.finished:
                if job.state == "RUNNING" and self._live_comments:
                    self._write_live(job, now)
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
        records = self._records([w.job.slurm_job_id for w in written])
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

    def _write_live(self, job: SlurmJob, now: datetime) -> None:
        """Put the running job's figures so far into its AdminComment (best effort)."""
        if self._foreign == "skip" and has_foreign(job.admin_comment):
            return
        try:
            with transaction(self._factory) as session:
                payload = live_payload(session, job, self._site, self._intensity, now)
            held = self._slurm.running_admin_comment(job.job_id)
            if self._foreign == "skip" and has_foreign(held):
                return
            self._slurm.set_admin_comment(
                job.job_id, merge_admin_comment(held, payload), finished=False
            )
        except (NoEnergy, IntensityUnavailable, SlurmError, ResultNotFinite) as err:
            logger.info("no live value for job=%s: %s", job.job_id, err)
            return
        logger.info("live value job=%s %s", job.job_id, payload)

    # -- writing -------------------------------------------------------------------

    def write_due(self, limit: int = 100) -> PassReport:
        """Try every queued write whose backoff has passed."""
        report = PassReport()
        now = self._clock()
        with transaction(self._factory) as session:
            due = [
                p
                for p in pending_comments(session, limit)
                if self._not_before.get(p.write_id, now) <= now
            ]
        if not due:
            return report
        try:
            records = self._records([p.job.slurm_job_id for p in due])
        except SlurmError as err:
            for pending in due:
                self._failed(pending, None, f"sacct: {err}", report)
            return report
        for pending in due:
            record = records.get(pending.job.slurm_job_id)
            if record is not None and record.cluster != pending.job.cluster:
                record = None
            try:
                self._write_one(pending, record, report)
            except StoreError:
                raise  # the database, not this job: the pass fails
            except Exception as err:
                self._job_error(pending, err, report)
        return report

    def _job_error(self, pending: PendingComment, err: Exception, report: PassReport) -> None:
        """Log one job's unexpected error in one line and count a failed try (with backoff)."""
        error = f"job {pending.job.slurm_job_id}: {type(err).__name__}: {escape_control(str(err))}"
        # Not before the backoff even if recording the try fails: never a hot loop.
        self._not_before[pending.write_id] = self._clock() + timedelta(
            seconds=self._backoff.delay_s(pending.attempts + 1)
        )
        logger.warning("%s", error)
        self._failed(pending, None, error, report)

    def _write_one(self, pending: PendingComment, job: SlurmJob | None, report: PassReport) -> None:
        if job is None:
            error = f"sacct lists no job {pending.job.slurm_job_id}"
            self._failed(pending, None, error, report)
            return
        if not job.finished:
            error = f"job {job.job_id}: Slurm's record is not final yet"
            self._failed(pending, None, error, report)
            return
        assert job.end_time is not None  # noqa: S101 (finished)
        settle_at = job.end_time + self._settle_delay
        if self._clock() < settle_at:
            self._not_before[pending.write_id] = settle_at  # waiting, not a failed try
            report.waiting += 1
            return
        try:
            with transaction(self._factory) as session:
                computed = settle_result(session, job, self._site, self._intensity, self._clock())
                values = computed.values
                fallback = annual_fallback(session, values.ci_region, annual=values.ci_annual)
            if fallback is not None:
                logger.warning("job=%s region=%s: %s", job.job_id, values.ci_region, fallback)
        except (NoEnergy, IntensityUnavailable) as err:
            self._failed(pending, None, str(err), report)
            return
        except ResultNotFinite as err:
            logger.warning("%s; nothing written", err)
            self._give_up(pending, None, str(err), report)
            return
        payload = computed.payload
        if not self._write_comments:
            self._give_up(pending, payload, "AdminComment writing is disabled by the site", report)
        elif self._foreign == "skip" and has_foreign(job.admin_comment):
            error = f"job {job.job_id}: foreign AdminComment {job.admin_comment!r} left alone"
            self._give_up(pending, payload, error, report)
        else:
            self._mirror(pending, job, payload, report)

    def _mirror(
        self, pending: PendingComment, job: SlurmJob, payload: str, report: PassReport
    ) -> None:
        """Write ``payload`` into the ended job's AdminComment (unless there); read it back."""
        if our_part(job.admin_comment) != payload:
            text = merge_admin_comment(job.admin_comment, payload)
            try:
                self._slurm.set_admin_comment(job.job_id, text, finished=True)
                back = self._slurm.jobs(JobQuery(job_ids=[job.job_id]))
            except SlurmError as err:
                self._failed(pending, payload, str(err), report)
                return
            seen = next((b.admin_comment for b in back if b.job_id_raw == job.job_id_raw), None)
            if seen is None or our_part(seen) != payload:
                error = f"job {job.job_id}: sacct reads back {seen!r}"
                self._failed(pending, payload, error, report)
                return
        self._written(pending, payload, job, report)

    def _written(
        self, pending: PendingComment, payload: str, job: SlurmJob, report: PassReport
    ) -> None:
        with transaction(self._factory) as session:
            record_comment_attempt(session, pending.write_id, now=self._clock(), payload=payload)
        self._not_before.pop(pending.write_id, None)
        report.written += 1
        logger.info("AdminComment written job=%s %s", job.job_id, payload)

    def _give_up(
        self, pending: PendingComment, payload: str | None, error: str, report: PassReport
    ) -> None:
        self._failed(pending, payload, error, report, final=True)

    def _failed(
        self,
        pending: PendingComment,
        payload: str | None,
        error: str,
        report: PassReport,
        *,
        final: bool = False,
    ) -> None:
        attempts = pending.attempts + 1
        give_up = final or attempts >= self._backoff.max_attempts
        now = self._clock()
        with transaction(self._factory) as session:
            record_comment_attempt(
                session, pending.write_id, now=now, payload=payload, error=error, give_up=give_up
            )
        report.errors.append(error)
        if give_up:
            self._not_before.pop(pending.write_id, None)
            report.failed += 1
            logger.warning(
                "AdminComment of job %s given up after %d tries: %s",
                pending.job.slurm_job_id,
                attempts,
                error,
            )
            return
        delay = self._backoff.delay_s(attempts)
        self._not_before[pending.write_id] = now + timedelta(seconds=delay)
        report.retried += 1
        logger.info(
            "job %s: try %d failed (%s); again in %.0f s",
            pending.job.slurm_job_id,
            attempts,
            error,
            delay,
        )

    # -- running -------------------------------------------------------------------

    def run_once(self, *, sweep: bool = True) -> PassReport:
        """One pass: take hand-offs, sweep (if ``sweep``), write what is due.

        Raises:
            StoreError: the database is unavailable.
            SlurmError: sacct failed while queueing.
        """
        queued = self.intake()
        if sweep:
            queued += self.sweep() + self.recheck_written()
        report = self.write_due()
        report.queued = queued
        return report

    def run(self, stop: threading.Event, *, poll_s: float = 2.0, sweep_s: float = 300.0) -> None:
        """Pass after pass until ``stop`` is set; a failed pass is logged in one line."""
        next_sweep = self._clock()
        while not stop.is_set():
            now = self._clock()
            sweep = now >= next_sweep
            try:
                self.run_once(sweep=sweep)
            except (StoreError, SlurmError) as err:
                logger.warning("writer pass failed: %s", err)
            except SlurmCarbonError as err:
                logger.error("writer pass failed: %s", err)  # noqa: TRY400 (one line, no trace)
            except Exception as err:
                logger.error("writer pass failed: %s: %s", type(err).__name__, err)  # noqa: TRY400
            if sweep:
                next_sweep = now + timedelta(seconds=sweep_s)
            stop.wait(poll_s)
