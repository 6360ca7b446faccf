"""A :class:`~slurm_carbon.slurm.base.SlurmClient` over records in memory, as Slurm 22.05 answers.

For tests and demos without a cluster. It keeps what
:class:`~slurm_carbon.slurm.commands.CommandLineSlurm` sees from Slurm 22.05:

- ``jobs`` selects as ``sacct -j`` does: a job's id, its raw id, or an array's
  id (all its tasks);
- a finished job's AdminComment is written as ``sacctmgr`` writes it:
  lower-cased, quotes turned into backticks;
- ``scontrol update`` of a job that has ended fails with "Job has already
  finished";
- a record is final only once its ReqTRES is set (:attr:`SlurmJob.finished`):
  :meth:`FakeSlurm.set` changes a record as Slurm's accounting catches up.

It also remembers every write, and can be told to refuse writes or to ignore
them (a write that succeeds but is later overwritten).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from slurm_carbon.errors import SlurmError, SlurmJobNotFound
from slurm_carbon.slurm.base import JobQuery, SlurmJob

__all__ = ["FakeSlurm"]


class FakeSlurm:
    """A SlurmClient over a dict of records by raw job id.

    Attributes:
        cluster: The name :meth:`cluster_name` gives.
        partition_names: The partitions :meth:`partitions` lists.
        coordinators: The accounts :meth:`coordinated_accounts` gives, by user.
        records: The jobs by their raw id; tests may change them directly.
        writes: Every ``set_admin_comment`` call: (job id, text, finished).
        submitted: Every ``submit`` call's sbatch options.
        cancelled: Every ``cancel`` call: (job id, reason).
        refuse: When set, every write raises :class:`SlurmError` with this message.
        ignore_writes: When true, writes succeed but change nothing.
    """

    def __init__(
        self,
        *jobs: SlurmJob,
        cluster: str = "sclocal",
        partitions: Sequence[str] = (),
        coordinators: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """Hold ``jobs``, on a cluster named ``cluster`` with ``partitions``.

        ``coordinators`` lists the accounts each user coordinates.
        """
        self.cluster = cluster
        self.partition_names = list(partitions)
        self.coordinators = {
            user: list(accounts) for user, accounts in (coordinators or {}).items()
        }
        self.records = {job.job_id_raw: job for job in jobs}
        self.writes: list[tuple[str, str, bool]] = []
        self.submitted: list[list[str]] = []
        self.cancelled: list[tuple[str, str]] = []
        self.refuse: str | None = None
        self.ignore_writes = False

    def jobs(self, query: JobQuery) -> list[SlurmJob]:
        """The records ``query.job_ids`` selects (sacct's ``-j``); other fields are ignored."""
        selected = set(query.job_ids)
        return [
            job
            for job in self.records.values()
            if job.job_id in selected
            or str(job.job_id_raw) in selected
            or str(job.array_job_id) in selected
        ]

    def cluster_name(self) -> str:
        """The cluster's name."""
        return self.cluster

    def partitions(self) -> list[str]:
        """The partitions it was given."""
        return list(self.partition_names)

    def coordinated_accounts(self, user: str) -> list[str]:
        """The accounts it was told ``user`` coordinates."""
        return list(self.coordinators.get(user, ()))

    def submit(self, sbatch_args: Sequence[str]) -> str:
        """Remember the options and return the next raw id; no record is created."""
        self.submitted.append(list(sbatch_args))
        return str(max(self.records, default=0) + len(self.submitted))

    def running_admin_comment(self, job_id: str) -> str:
        """The AdminComment of a job that has not ended."""
        job = self._job(job_id)
        if job is None or job.end_time is not None:
            raise SlurmJobNotFound(f"squeue: no pending or running job {job_id}")
        return job.admin_comment

    def set_admin_comment(self, job_id: str, text: str, *, finished: bool) -> None:
        """Set the AdminComment as scontrol (running) or sacctmgr (finished) would."""
        if "\n" in text:
            raise ValueError("an AdminComment must be one line")
        self.writes.append((job_id, text, finished))
        if self.refuse is not None:
            raise SlurmError(self.refuse)
        job = self._job(job_id)
        if finished:
            if job is None or job.end_time is None:
                raise SlurmJobNotFound(f"sacctmgr: no finished job {job_id} to modify")
            # sacctmgr 22.05 lower-cases what it writes, quotes become backticks.
            text = text.lower().replace("'", "`").replace('"', "`")
        elif job is None:
            raise SlurmJobNotFound(f"scontrol: no job {job_id}: Invalid job id specified")
        elif job.end_time is not None:
            raise SlurmError(
                f"scontrol update of job {job_id} failed: Job has already finished for job {job_id}"
            )
        if not self.ignore_writes:
            self.records[job.job_id_raw] = dataclasses.replace(job, admin_comment=text)

    def cancel(self, job_id: str, reason: str) -> None:
        """End a job that has not ended as CANCELLED, as scancel does; remember the reason."""
        self.cancelled.append((job_id, reason))
        if self.refuse is not None:
            raise SlurmError(self.refuse)
        job = self._job(job_id)
        if job is None:
            raise SlurmJobNotFound(f"scancel: no running job {job_id}: Invalid job id specified")
        if job.end_time is not None:
            raise SlurmJobNotFound(
                f"scancel: no running job {job_id}: Job/step already completing or completed"
            )
        self.records[job.job_id_raw] = dataclasses.replace(
            job, state="CANCELLED", end_time=datetime.now(UTC)
        )

    def set(self, job_id_raw: int, **fields: Any) -> None:
        """Change fields of a record, as Slurm's accounting does when it catches up."""
        self.records[job_id_raw] = dataclasses.replace(self.records[job_id_raw], **fields)

    def _job(self, job_id: str) -> SlurmJob | None:
        return next((job for job in self.records.values() if job.job_id == job_id), None)
