"""Acting on budgets: a running job whose forecast total exceeds its budget, by site policy.

:meth:`BudgetReviewer.review` decides for one running job and its forecast, each sweep:

1. the partition's policy (:meth:`~slurm_carbon.config.policies.BudgetsConfig.policy_for`)
   says ``none``: nothing, and nothing recorded;
2. the job was acted on already (its stored :class:`BudgetActionRecord`):
   nothing again, ever;
3. the forecast is not confident yet: the job has reported less than
   ``min_progress`` of its work and run less than ``min_runtime_min``; or it
   is only a bound by the job's time limit (no progress reported: method
   ``time_limit``), which is never confident, however long the job has run;
4. the forecast total (its 90 % interval's lower bound with ``over_by = "low"``,
   else the point) is within the carbon budget and the energy budget: left alone;
5. otherwise the action is **recorded, and committed, before it is carried
   out**: a crash (or a lost database) between the two leaves a ``pending``
   record and the job is never acted on twice (a cancel is never repeated; at
   worst it is not carried out, which the record shows). Then ``notify`` runs
   the site's ``notify_command`` (argv, no shell, stdin closed, a minimal
   environment without the service's secrets, killed after
   :data:`NOTIFY_TIMEOUT_S`; a failure is logged and stored, never raised),
   ``cancel`` calls :meth:`SlurmClient.cancel` (scancel). The outcome is stored.

A job that was notified gets :data:`BUDGET_NOTE` in its live AdminComment from
then on (lower-case ASCII, one ``key=value`` of our payload), which is what
:meth:`BudgetReviewer.review` returns for it.

Units: CO2e in grams, energy in joules, times aware UTC.
"""

from __future__ import annotations

import logging
import re
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from slurm_carbon.config.policies import BudgetPolicy, BudgetsConfig
from slurm_carbon.errors import SlurmError
from slurm_carbon.service.job_forecast import JobForecast
from slurm_carbon.slurm import SlurmClient, SlurmJob
from slurm_carbon.store import Session, SessionFactory, transaction
from slurm_carbon.store.budgets import (
    BudgetActionRecord,
    budget_action,
    record_budget_action,
    set_budget_outcome,
)
from slurm_carbon.store.results import find_job
from slurm_carbon.text import escape_control
from slurm_carbon.units import format_co2e, format_energy
from slurm_carbon.vocabulary import BudgetAction, BudgetKind, BudgetOutcome

__all__ = [
    "BUDGET_NOTE",
    "NOTIFY_ENV",
    "NOTIFY_OUTPUT_MAX_BYTES",
    "NOTIFY_TIMEOUT_S",
    "BudgetReviewer",
    "NotifyRunner",
    "run_notify_command",
]

logger = logging.getLogger(__name__)

BUDGET_NOTE = "budget=over"
"""What a notified job's live AdminComment carries: lower-case ASCII, as sacctmgr keeps it."""

NOTIFY_TIMEOUT_S = 30.0
"""How long the site's notify command may run before it is killed: a mail
command hands its message to the local MTA in well under a second, and the
sweep must not wait on a hung one for long. Units: seconds."""

NOTIFY_OUTPUT_MAX_BYTES = 500
"""How much of the notify command's stderr is kept in the log and the store."""

NOTIFY_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
"""The notify command's whole environment: not the service's, which holds its
database URL and providers' tokens."""

NotifyRunner = Callable[[Sequence[str]], str | None]
"""Runs a notify command; returns None when it succeeded, else one line saying why not."""

_PLACEHOLDER = re.compile(r"\{(job_id|user|budget|forecast)\}")


def run_notify_command(argv: Sequence[str], timeout_s: float = NOTIFY_TIMEOUT_S) -> str | None:
    """Run ``argv`` without a shell, stdin closed, in :data:`NOTIFY_ENV`; never raises.

    Returns:
        None if it exited 0, else one line: its exit code (or that it could not
        start or was killed after ``timeout_s``) and the start of its stderr.
    """
    with tempfile.TemporaryFile() as stderr:  # a file: a chatty command cannot fill memory
        try:
            done = subprocess.run(  # an argv list from the site's own TOML
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                env=NOTIFY_ENV,
                timeout=timeout_s,
                check=False,
                start_new_session=True,
            )
        except subprocess.TimeoutExpired:
            return f"killed after {timeout_s:g} s"
        except OSError as err:
            return f"could not start: {err}"
        if done.returncode == 0:
            return None
        stderr.seek(0)
        said = stderr.read(NOTIFY_OUTPUT_MAX_BYTES).decode("utf-8", "replace")
        return escape_control(f"exit code {done.returncode}: {' '.join(said.split())}")


class BudgetReviewer:
    """Reviews running jobs' budgets against their forecasts; one per writer, used each sweep."""

    def __init__(
        self,
        sessions: SessionFactory,
        slurm: SlurmClient,
        budgets: BudgetsConfig,
        run_command: NotifyRunner = run_notify_command,
    ) -> None:
        """Store in ``sessions``, cancel through ``slurm``, by the site's ``budgets`` policy."""
        self._sessions = sessions
        self._slurm = slurm
        self._budgets = budgets
        self._run_command = run_command

    def review(self, job: SlurmJob, forecast: JobForecast, now: datetime) -> str | None:
        """Act on a running job's budget by its partition's policy, at most once ever.

        Runs its own transactions: the record is committed before the action.

        Returns:
            :data:`BUDGET_NOTE` when the job has been notified (now or before), else None.

        Raises:
            StoreError: the database is unavailable (then nothing was done).
        """
        policy = self._budgets.policy_for(job.partition)
        action = BudgetAction(policy.action)
        if action is BudgetAction.NONE:
            return None
        with transaction(self._sessions) as session:
            record, created = self._decide(session, job, forecast, policy, now)
        if record is None or not created:  # nothing to do, or done before (by anyone)
            return None if record is None else _note(record)
        logger.warning("budget job=%s %s: %s", job.job_id, action, record.reason)
        failure = self._carry_out(record, job, policy)
        if failure is not None:
            logger.warning("budget %s of job=%s failed: %s", action, job.job_id, failure)
        with transaction(self._sessions) as session:
            outcome = BudgetOutcome.DONE if failure is None else BudgetOutcome.FAILED
            set_budget_outcome(session, record.job_id, outcome, failure)
        return _note(record)

    @staticmethod
    def _decide(
        session: Session, job: SlurmJob, forecast: JobForecast, policy: BudgetPolicy, now: datetime
    ) -> tuple[BudgetActionRecord | None, bool]:
        """The job's action, recorded now (True) or before (False); None: nothing to do."""
        stored = find_job(session, job.cluster, job.job_id_raw)
        if stored is None:
            return None, False
        earlier = budget_action(session, stored.id)
        if earlier is not None:
            return earlier, False
        if not _confident(job, forecast, policy, now):
            return None, False
        excess = _excess(stored.budget_co2e_g, stored.budget_energy_j, forecast, policy)
        if excess is None:
            return None, False
        return record_budget_action(
            session,
            BudgetActionRecord(
                job_id=stored.id,
                action=BudgetAction(policy.action),
                at=now,
                kind=excess.kind,
                budget=excess.budget,
                forecast=excess.forecast,
                forecast_low=excess.forecast_low,
                forecast_high=excess.forecast_high,
                progress=forecast.progress,
                reason=excess.reason,
            ),
        )

    def _carry_out(
        self, record: BudgetActionRecord, job: SlurmJob, policy: BudgetPolicy
    ) -> str | None:
        """Do what ``record`` says; None if it was done, else why not."""
        if record.action is BudgetAction.CANCEL:
            try:
                self._slurm.cancel(job.job_id, record.reason)
            except SlurmError as err:
                return str(err)
            return None
        if policy.notify_command is None:
            return None
        show = format_co2e if record.kind is BudgetKind.CO2E else format_energy
        values = {
            "job_id": job.job_id,
            "user": _plain(job.user),
            "budget": show(record.budget),
            "forecast": show(record.forecast),
        }
        argv = [_PLACEHOLDER.sub(lambda m: values[m[1]], word) for word in policy.notify_command]
        return self._run_command(argv)


def _note(record: BudgetActionRecord) -> str | None:
    return BUDGET_NOTE if record.action is BudgetAction.NOTIFY else None


def _confident(job: SlurmJob, forecast: JobForecast, policy: BudgetPolicy, now: datetime) -> bool:
    """Whether the job has done ``min_progress`` of its work or run ``min_runtime_min``.

    A bound by the time limit (no progress) is not a forecast to act on: never.
    """
    if forecast.bound:
        return False
    if forecast.progress is not None and forecast.progress >= policy.min_progress:
        return True
    start = job.start_time
    return start is not None and now - start >= timedelta(minutes=policy.min_runtime_min)


class _Excess(NamedTuple):
    """A budget the forecast exceeds. Units: grams CO2e or joules, by ``kind``."""

    kind: BudgetKind
    budget: float
    forecast: float
    forecast_low: float
    forecast_high: float
    reason: str


def _excess(
    budget_co2e_g: float | None,
    budget_energy_j: float | None,
    forecast: JobForecast,
    policy: BudgetPolicy,
) -> _Excess | None:
    """The first budget (carbon, then energy) the forecast total exceeds, by ``over_by``."""
    low = policy.over_by == "low"
    candidates = (
        (
            BudgetKind.CO2E,
            budget_co2e_g,
            (forecast.total_co2e_g, forecast.total_co2e_low_g, forecast.total_co2e_high_g),
            format_co2e,
        ),
        (
            BudgetKind.ENERGY,
            budget_energy_j,
            (forecast.total_energy_j, forecast.total_energy_low_j, forecast.total_energy_high_j),
            format_energy,
        ),
    )
    for kind, budget, (point, lower, upper), show in candidates:
        if budget is None or (lower if low else point) <= budget:
            continue
        which = "even its 90 % interval's low end" if low else "its point forecast"
        reason = (
            f"forecast total {show(point)} ({show(lower)} - {show(upper)}, 90 %):"
            f" {which} exceeds the {kind} budget {show(budget)}"
        )
        return _Excess(kind, budget, point, lower, upper, reason)
    return None


def _plain(text: str) -> str:
    r"""``text`` as printable ASCII: controls escaped, anything else as ``\u`` escapes."""
    return escape_control(text).encode("ascii", "backslashreplace").decode("ascii")
