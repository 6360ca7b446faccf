"""The Slurm client over ``sacct``, ``scontrol``, ``sacctmgr`` and ``scancel``.

Jobs are read with ``sacct -P -n -X --noconvert`` under ``SLURM_TIME_FORMAT=%s``
and ``TZ=UTC``. The job name, the comment and the AdminComment are someone
else's text and may hold any byte but NUL, newlines and Slurm's separators
included. So every call separates fields with a fresh delimiter of its own
(:func:`_delimiter`: 64 random bits between two ASCII unit separators), which
no such text can hold: job_submit.lua refuses control characters in comments,
and a guess succeeds once in 2**64. Records end with a newline; the first field
(the cluster's name) holds none, so a record ends at the last newline before
the next record's first delimiter, whatever newlines its free text holds. A
running job's AdminComment is read the same way from ``squeue``, and so are the
comments of jobs that have not ended, which sacct 22.05 lists empty.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

from slurm_carbon.errors import SlurmError, SlurmJobNotFound
from slurm_carbon.slurm.base import JobQuery, SlurmJob
from slurm_carbon.slurm.runner import CommandResult, CommandRunner
from slurm_carbon.text import escape_control, quote_input

__all__ = ["SACCT_FIELDS", "CommandLineSlurm", "parse_sacct"]

logger = logging.getLogger(__name__)

# Random bytes in each call's delimiter: 64 bits make guessing it (to plant it in
# a comment before the call) a 2**-64 chance.
_DELIMITER_RANDOM_BYTES = 8
_FIXED_FIELDS = (
    "Cluster",
    "JobID",
    "JobIDRaw",
    "User",
    "UID",
    "Account",
    "Partition",
    "State",
    "ExitCode",
    "Submit",
    "Start",
    "End",
    "ElapsedRaw",
    "AllocCPUS",
    "ReqTRES",
    "AllocTRES",
    "NodeList",
    "TimelimitRaw",
    "Eligible",
)
# Free text, last (any field could be: the first, the cluster, must not).
_FREE_FIELDS = ("Comment", "AdminComment", "JobName")
#: The fields read from sacct, in order.
SACCT_FIELDS = _FIXED_FIELDS + _FREE_FIELDS
_ENV = {"SLURM_TIME_FORMAT": "%s", "TZ": "UTC"}
# TimelimitRaw is in minutes.
_S_PER_MIN = 60
# A job without a time limit that slurmctld 22.05's backfill scheduler starts gets
# 365 days (525600 min, its stand-in for INFINITE; seen on the local cluster): that
# long or longer is no limit.
_NO_LIMIT_MIN = 365 * 24 * 60
# What sacct 22.05 prints as TimelimitRaw for no limit of the job's own: UNLIMITED
# (none), Partition_Limit (a pending job that will get its partition's).
_NO_TIME_LIMIT = ("UNLIMITED", "Partition_Limit", "")
# What squeue prints for a field that is not set.
_SQUEUE_NONE = "(null)"
# What scancel 22.05 says of a job it cannot cancel because it is not (or no longer) there.
_SCANCEL_NOT_THERE = ("Invalid job id", "already completing or completed")
# A user name as sacctmgr may be given it (useradd's rule, 32 characters at most):
# no blank, no "=" or "," that sacctmgr would read as another option or a list.
_USER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?")
_ARRAY_ID = re.compile(r"^(?P<array>\d+)_(?:(?P<task>\d+)|\[.*\])$")
# A heterogeneous job's component as sacct 22.05 names it (``843+1``): 22.05's sacct has
# no HetJobID/HetJobOffset fields, and JobIDRaw is the component's own id (844).
_HET_ID = re.compile(r"^(?P<het>\d+)\+(?P<offset>\d+)$")


def _delimiter() -> str:
    """A field delimiter no job name or comment holds: random hex between unit separators."""
    return f"\x1f{secrets.token_hex(_DELIMITER_RANDOM_BYTES)}\x1f"


def _time(value: str) -> datetime | None:
    if not value.isdigit():  # "Unknown", "None" or empty: not reached yet
        return None
    return datetime.fromtimestamp(int(value), tz=UTC)


def _time_limit_s(value: str) -> float | None:
    """TimelimitRaw (minutes) in seconds; None for no limit of the job's own (or 365 days)."""
    if value.isdigit():
        minutes = int(value)
        return None if minutes >= _NO_LIMIT_MIN else float(minutes * _S_PER_MIN)
    if value in _NO_TIME_LIMIT:
        return None
    raise SlurmError(f"sacct gave a time limit that is not a number of minutes: {value!r}")


def _gpus(tres: str) -> int:
    """Count GPUs in a TRES string such as ``cpu=2,gres/gpu=2,gres/gpu:a100=2``."""
    total = typed = 0
    for item in filter(None, tres.split(",")):
        name, _, count = item.partition("=")
        if name == "gres/gpu":
            total += int(count)
        elif name.startswith("gres/gpu:"):
            typed += int(count)
    return total or typed


def _record(fields: list[str]) -> SlurmJob:
    row = dict(zip(SACCT_FIELDS, fields, strict=True))
    match = _ARRAY_ID.match(row["JobID"])
    het = _HET_ID.match(row["JobID"])
    submit = _time(row["Submit"])
    if submit is None:
        raise SlurmError(f"sacct gave job {row['JobID']} no submit time: {row['Submit']!r}")
    return SlurmJob(
        cluster=row["Cluster"],
        job_id=row["JobID"],
        job_id_raw=int(row["JobIDRaw"]),
        array_job_id=int(match["array"]) if match else None,
        array_task_id=int(match["task"]) if match and match["task"] else None,
        name=row["JobName"],
        user=row["User"],
        uid=int(row["UID"]),
        account=row["Account"],
        partition=row["Partition"],
        state=row["State"].split(" ", 1)[0],
        exit_code=row["ExitCode"],
        submit_time=submit,
        start_time=_time(row["Start"]),
        end_time=_time(row["End"]),
        elapsed_s=int(row["ElapsedRaw"] or 0),
        alloc_cpus=int(row["AllocCPUS"] or 0),
        req_tres=row["ReqTRES"],
        alloc_tres=row["AllocTRES"],
        req_gpus=_gpus(row["ReqTRES"]),
        alloc_gpus=_gpus(row["AllocTRES"]),
        node_list=row["NodeList"],
        time_limit_s=_time_limit_s(row["TimelimitRaw"]),
        eligible_time=_time(row["Eligible"]),
        comment=row["Comment"],
        admin_comment=row["AdminComment"],
        het_job_id=int(het["het"]) if het else None,
        het_job_offset=int(het["offset"]) if het else None,
    )


def parse_sacct(text: str, *, delimiter: str) -> list[SlurmJob]:
    """Parse the output of ``sacct`` run with :data:`SACCT_FIELDS` and ``--delimiter``.

    Raises:
        SlurmError: the output does not split into whole records.
    """
    return [_record(fields) for fields in _split_records(text, delimiter, len(SACCT_FIELDS))]


def _split_records(text: str, delimiter: str, width: int) -> list[list[str]]:
    """Records of ``width`` fields, fields joined by ``delimiter``, each record ending in a newline.

    Only the first field must hold no newline: between two records the
    delimited piece is the last field, a newline and the next first field;
    it is split at its last newline.
    """
    body = text.removesuffix("\n")
    if not body:
        return []
    pieces = body.split(delimiter)
    if (len(pieces) - 1) % (width - 1):
        raise SlurmError(
            f"sacct printed output that does not split into {width}-field records:"
            f" {escape_control(body[:200])}"
        )
    records: list[list[str]] = []
    first = pieces[0]
    for index in range(1, len(pieces), width - 1):
        *middle, last = pieces[index : index + width - 1]
        following = ""
        if index + width - 1 < len(pieces):
            last, newline, following = last.rpartition("\n")
            if not newline:
                raise SlurmError(f"sacct printed two records on one line: {escape_control(last)}")
        records.append([first, *middle, last])
        first = following
    return records


def _failure(result: CommandResult, command: str) -> str:
    """The last thing the command said, on one line."""
    lines = [line.strip() for line in (result.stderr + result.stdout).splitlines()]
    said = next((line for line in reversed(lines) if line), f"exit code {result.returncode}")
    prefix = f"{command}: error: "
    return said.removeprefix(prefix)


class CommandLineSlurm:
    """A :class:`~slurm_carbon.slurm.base.SlurmClient` over Slurm's command-line tools."""

    def __init__(self, runner: CommandRunner) -> None:
        """Use ``runner`` to run the commands (:class:`SubprocessRunner` for real ones)."""
        self._run = runner

    def jobs(self, query: JobQuery) -> list[SlurmJob]:
        """Return the job allocations matching ``query``, as sacct lists them."""
        delimiter = _delimiter()
        argv = ["sacct", "-P", "-n", "-X", "--noconvert", f"--delimiter={delimiter}"]
        argv += ["-o", ",".join(SACCT_FIELDS)]
        argv += _selection(query)
        result = self._run(argv, extra_env=_ENV)
        if result.returncode != 0:
            raise SlurmError(f"sacct failed: {_failure(result, 'sacct')}")
        jobs = parse_sacct(result.stdout, delimiter=delimiter)
        if any(job.end_time is None for job in jobs):
            jobs = self._with_queued_comments(jobs)
        return jobs

    def _with_queued_comments(self, jobs: list[SlurmJob]) -> list[SlurmJob]:
        """Jobs that have not ended with their comment as slurmctld holds it.

        sacct 22.05 lists a pending or running job's Comment empty: it reaches the
        accounting database when the job ends. One ``squeue`` call lists the
        comments of every queued job, each field followed by this call's delimiter,
        by raw id (its ``JobID`` for an array's pending record, an array task and a het
        job's component, which sacct prints ``7_[0-3]``, ``7_1``, ``43+1``).
        A job sacct listed as not ended that squeue no longer lists ended between
        the two calls: its record is stale and its comment unknown (empty, it would
        read as a job without budgets or ``carbon_cap=off``), so it is left out;
        the next call lists it ended.
        """
        delimiter = _delimiter()
        fields = f"JobID:0{delimiter},Comment:0{delimiter}"
        result = self._run(["squeue", "-h", "-a", "-O", fields], extra_env={})
        if result.returncode != 0:
            raise SlurmError(f"squeue failed: {_failure(result, 'squeue')}")
        *pairs, rest = result.stdout.split(delimiter)
        if len(pairs) % 2 or rest.strip():
            raise SlurmError(
                "squeue printed something else than job ids and comments:"
                f" {escape_control(result.stdout[:200])}"
            )
        comments = {
            job_id.strip(): "" if comment == _SQUEUE_NONE else comment
            for job_id, comment in zip(pairs[::2], pairs[1::2], strict=True)
        }
        return [
            dataclasses.replace(job, comment=comments[str(job.job_id_raw)])
            if job.end_time is None
            else job
            for job in jobs
            if job.end_time is not None or str(job.job_id_raw) in comments
        ]

    def cluster_name(self) -> str:
        """The ClusterName that ``scontrol show config`` reports."""
        result = self._run(["scontrol", "show", "config"], extra_env={})
        if result.returncode != 0:
            raise SlurmError(f"scontrol show config failed: {_failure(result, 'scontrol')}")
        for line in result.stdout.splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "ClusterName":
                return value.strip()
        raise SlurmError("scontrol show config printed no ClusterName")

    def partitions(self) -> list[str]:
        """The partitions ``scontrol show partition -o`` lists, one line each."""
        result = self._run(["scontrol", "show", "partition", "-o"], extra_env={})
        if result.returncode != 0:
            raise SlurmError(f"scontrol show partition failed: {_failure(result, 'scontrol')}")
        names = []
        for line in result.stdout.splitlines():
            key, _, rest = line.partition("=")
            if key != "PartitionName" or not rest.split(" ", 1)[0]:
                raise SlurmError(
                    "scontrol show partition printed a line without PartitionName:"
                    f" {escape_control(line[:200])}"
                )
            names.append(rest.split(" ", 1)[0])
        return names

    def coordinated_accounts(self, user: str) -> list[str]:
        """The accounts ``sacctmgr show user <user> withcoord`` lists as the user's ``Coord``.

        Slurm 22.05 prints ``<user>|<account>,<account>`` (``<user>|`` for none,
        nothing for a user it does not know); the sub-accounts of a coordinated
        account are listed too, even those added after the coordinator.
        """
        if not _USER_NAME.fullmatch(user):
            raise SlurmError(f"not a user name: {quote_input(user)}")
        argv = ["sacctmgr", "-nP", "show", "user", user, "withcoord", "format=user,coord"]
        result = self._run(argv, extra_env={})
        if result.returncode != 0:
            raise SlurmError(f"sacctmgr show user failed: {_failure(result, 'sacctmgr')}")
        for line in result.stdout.splitlines():
            name, _, accounts = line.partition("|")
            if name == user:
                return [account for account in accounts.split(",") if account]
        return []

    def submit(self, sbatch_args: Sequence[str]) -> str:
        """Submit a batch job with ``sbatch --parsable`` and return its job id."""
        result = self._run(["sbatch", "--parsable", *sbatch_args], extra_env={})
        if result.returncode != 0:
            raise SlurmError(f"sbatch failed: {_failure(result, 'sbatch')}")
        job_id = result.stdout.strip().split(";", 1)[0]
        if not job_id.isdigit():
            raise SlurmError(f"sbatch printed no job id: {result.stdout.strip()!r}")
        return job_id

    def set_admin_comment(self, job_id: str, text: str, *, finished: bool) -> None:
        """Set a job's AdminComment with scontrol (running) or sacctmgr (finished)."""
        if "\n" in text:
            raise ValueError("an AdminComment must be one line")
        if finished:
            self._set_finished(job_id, text)
        else:
            self._set_running(job_id, text)

    def running_admin_comment(self, job_id: str) -> str:
        """A running job's AdminComment as slurmctld holds it, from ``squeue``.

        ``squeue -O`` appends a suffix to each field: this call's delimiter, so
        the output is ``<job id><delimiter><comment><delimiter>`` whatever the
        comment holds (``scontrol show job`` prints user text, the job name,
        work directory and comment, in lines that can pass for the AdminComment's).
        """
        delimiter = _delimiter()
        fields = f"JobID:0{delimiter},admin_comment:0{delimiter}"
        result = self._run(["squeue", "-h", "-j", job_id, "-O", fields], extra_env={})
        if result.returncode != 0:
            said = _failure(result, "squeue")
            if "Invalid job id" in said:
                raise SlurmJobNotFound(f"squeue: no job {job_id}: {said}")
            raise SlurmError(f"squeue -j {job_id} failed: {said}")
        if not result.stdout.strip():
            raise SlurmJobNotFound(f"squeue: no pending or running job {job_id}")
        match result.stdout.split(delimiter):
            case [shown_id, comment, end] if shown_id == job_id and not end.strip():
                return "" if comment == _SQUEUE_NONE else comment
            case _:
                raise SlurmError(
                    f"squeue -j {job_id} printed something else than that job's"
                    f" AdminComment: {escape_control(result.stdout[:200])}"
                )

    def cancel(self, job_id: str, reason: str) -> None:
        """Cancel a job with ``scancel -v``; the reason is logged (scancel cannot carry it).

        scancel 22.05 exits 0 when it cannot cancel (no such job, already ended)
        and says why only with ``-v``, on stderr: its error lines are what count.
        """
        result = self._run(["scancel", "-v", job_id], extra_env={})
        said = _failure(result, "scancel")
        if any(words in said for words in _SCANCEL_NOT_THERE):
            raise SlurmJobNotFound(f"scancel: no running job {job_id}: {said}")
        if result.returncode != 0 or "error:" in result.stderr:
            raise SlurmError(f"scancel of job {job_id} failed: {said}")
        logger.info("job %s cancelled: %s", job_id, escape_control(reason))

    def _set_running(self, job_id: str, text: str) -> None:
        argv = ["scontrol", "update", f"jobid={job_id}", f"AdminComment={text}"]
        result = self._run(argv, extra_env={})
        if result.returncode == 0:
            return
        said = _failure(result, "scontrol")
        if "Invalid job id" in said:
            raise SlurmJobNotFound(f"scontrol: no job {job_id}: {said}")
        raise SlurmError(f"scontrol update of job {job_id} failed: {said}")

    def _set_finished(self, job_id: str, text: str) -> None:
        argv = ["sacctmgr", "-i", "modify", "job", "where", f"jobid={job_id}"]
        argv += ["set", f"AdminComment={text}"]
        result = self._run(argv, extra_env={})
        said = _failure(result, "sacctmgr")
        if "Nothing modified" in result.stdout + result.stderr:
            raise SlurmJobNotFound(f"sacctmgr: no finished job {job_id} to modify")
        if result.returncode != 0:
            raise SlurmError(f"sacctmgr modify of job {job_id} failed: {said}")
        logger.debug("AdminComment of job %s set: %s", job_id, said)


def _selection(query: JobQuery) -> list[str]:
    args: list[str] = []
    for flag, values in (
        ("-j", query.job_ids),
        ("-u", query.users),
        ("-A", query.accounts),
        ("-r", query.partitions),
        ("-s", query.states),
    ):
        if values:
            args += [flag, ",".join(values)]
    if not query.users:
        args.append("--allusers")
    # sacct's own default start is today's midnight; a query without one means "ever".
    start = query.start or datetime(1970, 1, 1, tzinfo=UTC)
    args += ["-S", _slurm_time(start)]
    if query.end is not None:
        args += ["-E", _slurm_time(query.end)]
    return args


def _slurm_time(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError(f"time {moment} has no time zone")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
