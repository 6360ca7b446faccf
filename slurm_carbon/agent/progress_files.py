"""Reading the jobs' progress files: the agent (root) reads files the jobs' users write.

The Prolog shim creates ``<progress dir>/<jobid>`` owned by the job's user; the
job writes one record into it (:mod:`slurm_carbon.jobprogress`). The user
controls what the file holds and may replace it (not the directory: it is
root's), so each tick the agent opens only the file named by a job it holds,
without following a link and without blocking (a FIFO cannot hang it), and
reads it only if it is a regular file owned by the job's uid (from the
hand-off) or root, of at most :data:`~slurm_carbon.jobprogress.PROGRESS_MAX_BYTES`.
The record must parse exactly and its time fall within the job's run (with
:data:`PROGRESS_CLOCK_SLACK_S`). Anything odd is skipped, and logged escaped
once per job. A point is kept only when it changed, and at most once per
:data:`PROGRESS_MIN_GAP_S` of the job's own times (the last point, 1.0, always).

Units: seconds since the epoch; fractions 0..1.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from slurm_carbon.agent.registry import Job
from slurm_carbon.agent.trust import ROOT_UID
from slurm_carbon.jobprogress import PROGRESS_MAX_BYTES, parse_progress_record
from slurm_carbon.text import escape_control

__all__ = ["PROGRESS_CLOCK_SLACK_S", "PROGRESS_MIN_GAP_S", "ProgressReader", "ProgressSample"]

logger = logging.getLogger(__name__)

#: A record's time may be this far before the job's Prolog or after the agent's
#: clock (the job and the agent read the same node clock; this absorbs the
#: hand-off's rounding and a tick's delay). Units: seconds.
PROGRESS_CLOCK_SLACK_S = 60.0
#: Keep at most one point per job this often (by the job's times): a point every
#: 5 s is ample for a forecast (``sim work`` reports that often) and bounds the
#: store to 720 points per job-hour however often the job writes. Units: seconds.
PROGRESS_MIN_GAP_S = 5.0

_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class _Odd(Exception):
    """A progress file that is not what the Prolog made and a job wrote."""


@dataclass(frozen=True)
class ProgressSample:
    """A job's progress as its file said. Units: seconds since the epoch, fraction 0..1."""

    job_id: int
    time_s: float
    fraction: float


def _read(path: Path, job: Job) -> bytes | None:
    """The file's bytes, ``None`` when it does not exist (yet, or any more).

    Raises:
        _Odd: A link, not a regular file, another owner, or too large.
    """
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        return None
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise _Odd("a symbolic link: not followed") from err
        raise _Odd(err.strerror or str(err)) from err
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _Odd("not a regular file")
        if st.st_uid not in {job.uid, ROOT_UID}:
            raise _Odd(f"owned by uid {st.st_uid}, not the job's ({job.uid}) or root")
        if st.st_size > PROGRESS_MAX_BYTES:
            raise _Odd(f"larger than {PROGRESS_MAX_BYTES} bytes")
        return os.read(fd, PROGRESS_MAX_BYTES + 1)
    finally:
        os.close(fd)


class ProgressReader:
    """Reads the progress file of each job the agent holds.

    Args:
        directory: Where the Prolog creates them (``$SLURM_CARBON_PROGRESS_DIR``).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._kept: dict[int, ProgressSample] = {}
        self._warned: set[int] = set()

    def read(self, jobs: Mapping[int, Job], now_s: float) -> list[ProgressSample]:
        """The new points of ``jobs``' files, to spool; jobs no longer held are forgotten."""
        for gone in self._kept.keys() - jobs.keys():
            del self._kept[gone]
        self._warned &= jobs.keys()
        samples = []
        for job in jobs.values():
            sample = self._sample(job, now_s)
            last = self._kept.get(job.job_id)
            if sample is None or sample == last:
                continue
            if (
                last is not None
                and sample.fraction < 1.0
                and sample.time_s - last.time_s < PROGRESS_MIN_GAP_S
            ):
                continue
            self._kept[job.job_id] = sample
            samples.append(sample)
        return samples

    def remove(self, job_id: int) -> None:
        """Remove the file of a job now accounted (its last record was read this tick).

        The Epilog leaves it: removed there, a job's last report (written as it
        ends) could be gone before a tick read it. Unlinking follows no link.
        """
        path = self.directory / str(job_id)
        try:
            path.unlink(missing_ok=True)
        except OSError as err:
            logger.warning(
                "job %d: cannot remove progress file %s: %s",
                job_id,
                escape_control(str(path)),
                escape_control(err.strerror or str(err)),
            )

    def _sample(self, job: Job, now_s: float) -> ProgressSample | None:
        path = self.directory / str(job.job_id)
        try:
            data = _read(path, job)
            if not data:
                return None  # no file, or nothing written yet
            fraction, time_s = parse_progress_record(data)
            earliest, latest = job.start_s - PROGRESS_CLOCK_SLACK_S, now_s + PROGRESS_CLOCK_SLACK_S
            if not earliest <= time_s <= latest:
                raise _Odd(f"time {time_s:.3f} is outside the job's run")  # noqa: TRY301 - one refusal path
        except (_Odd, ValueError) as err:
            if job.job_id not in self._warned:
                self._warned.add(job.job_id)
                logger.warning(
                    "job %d: progress file %s skipped: %s",
                    job.job_id,
                    escape_control(str(path)),
                    escape_control(str(err)),
                )
            return None
        return ProgressSample(job.job_id, time_s, fraction)
