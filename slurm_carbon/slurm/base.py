"""What slurm_carbon needs from Slurm, as one small interface.

:class:`SlurmClient` is implemented over the command-line tools in
:mod:`slurm_carbon.slurm.commands`; a pyslurm-backed client can sit beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from slurm_carbon.slurm.states import TERMINAL_STATES

__all__ = ["JobQuery", "SlurmClient", "SlurmJob"]


@dataclass(frozen=True)
class SlurmJob:
    """One job allocation as Slurm's accounting records it.

    Attributes:
        cluster: The cluster's name (ClusterName in slurm.conf).
        job_id: Slurm's id for addressing the job: ``"42"``, ``"40_2"`` for
            task 2 of array job 40, or ``"43+1"`` for component 1 of het job 43.
        job_id_raw: The unique numeric id Slurm gave this allocation.
        array_job_id: The array's id for an array task, else ``None``.
        array_task_id: The task's index for an array task, else ``None``.
        name: The job name; may contain any character, ``|`` included.
        user: The submitting user's name.
        uid: The submitting user's numeric id.
        account: The account charged.
        partition: The partition it ran in.
        state: Base state without detail, e.g. ``"CANCELLED"`` for
            ``"CANCELLED by 0"``.
        exit_code: Slurm's ``"<code>:<signal>"``.
        submit_time: When it was submitted (UTC).
        start_time: When it started (UTC), ``None`` while pending.
        end_time: When it ended (UTC), ``None`` while it runs.
        elapsed_s: Run time so far. Units: seconds.
        alloc_cpus: CPUs allocated.
        req_tres: Trackable resources requested, as Slurm writes them
            (``billing=1,cpu=1,gres/gpu=2,mem=256M,node=1``).
        alloc_tres: Trackable resources allocated, in the same form.
        req_gpus: GPUs requested (``gres/gpu`` in ReqTRES).
        alloc_gpus: GPUs allocated (``gres/gpu`` in AllocTRES).
        node_list: Slurm's compressed list of the nodes it ran on.
        time_limit_s: Its time limit (``--time``); None when it has none
            (UNLIMITED) or will get its partition's when it starts. Units: seconds.
        comment: The user's ``--comment``.
        admin_comment: The AdminComment field.
        eligible_time: When it became (or becomes) eligible to start (UTC): the begin
            time Slurm holds, its ``--begin`` or the one ``carbon_defer`` set, else its
            submit time; ``None`` while Slurm does not know it (a held job: sacct's
            ``Unknown``).
        het_job_id: The het job's (its leader's) id for a heterogeneous job's
            component, else ``None``.
        het_job_offset: The component's offset in its het job, else ``None``.
    """

    cluster: str
    job_id: str
    job_id_raw: int
    array_job_id: int | None
    array_task_id: int | None
    name: str
    user: str
    uid: int
    account: str
    partition: str
    state: str
    exit_code: str
    submit_time: datetime
    start_time: datetime | None
    end_time: datetime | None
    elapsed_s: int
    alloc_cpus: int
    req_tres: str
    alloc_tres: str
    req_gpus: int
    alloc_gpus: int
    node_list: str
    time_limit_s: float | None
    comment: str
    admin_comment: str
    eligible_time: datetime | None = None
    het_job_id: int | None = None
    het_job_offset: int | None = None

    @property
    def finished(self) -> bool:
        """Whether the job has ended and Slurm's record of it is final.

        Slurm 22.05's accounting can list a job as ended a few seconds before
        its start record arrives: until then ReqTRES is empty and the name is
        a placeholder. Such a record is not final.
        """
        return self.end_time is not None and self.state in TERMINAL_STATES and bool(self.req_tres)


@dataclass(frozen=True)
class JobQuery:
    """Which jobs to read; empty fields do not filter.

    Attributes:
        job_ids: Job ids (an array id selects all its tasks).
        users: User names.
        accounts: Account names.
        partitions: Partition names.
        states: Job states, e.g. ``"COMPLETED"``.
        start: Jobs in a state at or after this time.
        end: Jobs in a state before this time.
    """

    job_ids: Sequence[str] = ()
    users: Sequence[str] = ()
    accounts: Sequence[str] = ()
    partitions: Sequence[str] = ()
    states: Sequence[str] = ()
    start: datetime | None = None
    end: datetime | None = None


class SlurmClient(Protocol):
    """Reads jobs from, writes AdminComment into and cancels jobs of Slurm."""

    def jobs(self, query: JobQuery) -> list[SlurmJob]:
        """Return the job allocations (no steps) matching ``query``."""
        ...

    def cluster_name(self) -> str:
        """The name of the cluster the client talks to."""
        ...

    def partitions(self) -> list[str]:
        """The names of the partitions slurmctld knows, in its order."""
        ...

    def coordinated_accounts(self, user: str) -> list[str]:
        """The accounts ``user`` is a coordinator of, as slurmdbd lists them (none: empty).

        Raises:
            SlurmError: ``user`` is not a valid user name, or sacctmgr failed.
        """
        ...

    def submit(self, sbatch_args: Sequence[str]) -> str:
        """Submit a batch job with ``sbatch`` options and return its job id."""
        ...

    def running_admin_comment(self, job_id: str) -> str:
        """The AdminComment slurmctld holds for a job that has not ended.

        sacct shows a comment set while the job runs only after it ends, so a
        writer must read it here before changing it, or lose another tool's.
        """
        ...

    def set_admin_comment(self, job_id: str, text: str, *, finished: bool) -> None:
        """Set a job's AdminComment.

        Args:
            job_id: The job, ``"<array_id>_<task>"`` for one array task.
            text: The whole new AdminComment.
            finished: Whether the job has ended; a running job is changed
                through slurmctld, a finished one in the accounting database.
        """
        ...

    def cancel(self, job_id: str, reason: str) -> None:
        """Cancel a pending or running job; it ends CANCELLED.

        Slurm 22.05's scancel carries no reason (its options signal or filter,
        none annotates), so ``reason`` is only logged here: the caller stores it.

        Raises:
            SlurmJobNotFound: No such job, or it has already ended.
            SlurmError: scancel failed otherwise.
        """
        ...
