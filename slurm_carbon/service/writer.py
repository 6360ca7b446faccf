"""The writer: finished jobs' results, computed and mirrored into Slurm's AdminComment.

Jobs reach the write queue (a :class:`~slurm_carbon.store.models.CommentWrite`
row; the database is the queue) from the EpilogSlurmctld hand-off, from the
sweep of measured jobs never queued (running ones get a live value), and from
the re-check of written jobs whose AdminComment lost our part
(:mod:`slurm_carbon.service.queueing`; each pass runs its
:class:`~slurm_carbon.service.queueing.Queuer` first).

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

A try that fails (record not final yet, no energy stored yet, Slurm or
carbon intensity unavailable, read-back mismatch) counts one attempt, keeps the
error and is tried again after an exponential backoff (:class:`Backoff`, kept
in memory: a restarted writer tries every pending job once at once); after
``max_attempts`` the write is marked failed. Run one writer per database.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from slurm_carbon.accounting.admin_comment import has_foreign, merge_admin_comment, our_part
from slurm_carbon.errors import IntensityUnavailable, SlurmCarbonError, SlurmError, StoreError
from slurm_carbon.intensity.base import IntensityProvider
from slurm_carbon.service.advice import AdviceWriter
from slurm_carbon.service.budgets import BudgetReviewer
from slurm_carbon.service.capping import CapDecider
from slurm_carbon.service.fallback import annual_fallback
from slurm_carbon.service.queueing import Queuer, slurm_records
from slurm_carbon.service.results import NoEnergy, ResultNotFinite, settle_result
from slurm_carbon.service.site import Site
from slurm_carbon.slurm import JobQuery, SlurmClient, SlurmJob
from slurm_carbon.store import SessionFactory, transaction
from slurm_carbon.store.partitions import ensure_partitions
from slurm_carbon.store.results import PendingComment, pending_comments, record_comment_attempt
from slurm_carbon.text import escape_control

__all__ = ["Backoff", "PassReport", "Writer"]

logger = logging.getLogger(__name__)


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
        budgets: Reviews running jobs' budgets at each sweep (None: not acted on).
        capping: Decides running GPU jobs' power caps at each sweep (None: never capped).
        advice: Writes the submit-time advice files after each pass, every
            ``ADVICE_EVERY_S`` (None: none written).
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
        budgets: BudgetReviewer | None = None,
        capping: CapDecider | None = None,
        advice: AdviceWriter | None = None,
    ) -> None:
        self._factory = factory
        self._advice = advice
        self._slurm = slurm
        self._site = site
        self._intensity = intensity
        self._backoff = backoff or Backoff()
        self._clock = clock
        self._write_comments = write_comments
        self._settle_delay = timedelta(seconds=settle_delay_s)
        self._foreign = foreign
        self._not_before: dict[int, datetime] = {}
        self._queuer = Queuer(
            factory,
            slurm,
            site,
            intensity,
            spool=spool,
            clock=clock,
            write_comments=write_comments,
            live_comments=live_comments and write_comments,
            foreign=foreign,
            budgets=budgets,
            capping=capping,
        )

    # -- queueing (see slurm_carbon.service.queueing) ------------------------------

    def intake(self) -> int:
        """Queue the jobs the EpilogSlurmctld shim handed over; return how many."""
        return self._queuer.intake()

    def sweep(self, limit: int = 500) -> int:
        """Queue measured jobs, never queued, that Slurm reports finished; return how many."""
        return self._queuer.sweep(limit)

    def recheck_written(self, limit: int = 500) -> int:
        """Queue again jobs written recently whose AdminComment lost our part; return how many."""
        return self._queuer.recheck_written(limit)

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
            records = slurm_records(self._slurm, [p.job.slurm_job_id for p in due])
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

        A sweep first creates the store's partitions for the days ahead
        (:func:`~slurm_carbon.store.partitions.ensure_partitions`).

        Raises:
            StoreError: the database is unavailable.
            SlurmError: sacct failed while queueing.
        """
        queued = self.intake()
        if sweep:
            with transaction(self._factory) as session:  # PostgreSQL: the days ahead
                ensure_partitions(session, self._clock())
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
            if self._advice is not None:
                self._advice.maybe_write()
            if sweep:
                next_sweep = now + timedelta(seconds=sweep_s)
            stop.wait(poll_s)
