"""Which jobs run on this node, and which GPUs (by UUID) each holds.

Scans ``$SPOOL/jobs/`` every tick: ``<id>.start`` says a job started,
``<id>.stop`` that it ended. The files persist until the job is accounted, so
jobs that started or ended while the agent was down are picked up. GPUs are
named by ``SLURM_JOB_GPUS`` (else ``CUDA_VISIBLE_DEVICES``): minor numbers as
the Prolog sees them, mapped to UUIDs through ``GpuInfo.minor`` — never through
the NVML enumeration index.

What the files say is bounded before it is believed (the spool's ownership is
the trust boundary, see :mod:`slurm_carbon.agent.trust`): files are read with
:func:`~slurm_carbon.agent.trust.read_trusted`, job ids are Slurm's, a GPU list
naming more GPUs than a node can have is refused (the job is measured without
GPUs: its CPU and DRAM energy is real), and a GPU the node does not have is
left out. Slurm gives a GPU to one job at a time unless sharing (gres/shard,
gres/mps) is configured: without ``shared_gpus`` a GPU named by a later
``.start`` while an earlier job still holds it passes to the later job from its
start (the earlier one's Epilog was lost, or its file is stale), and this is
logged; with ``shared_gpus`` the jobs share it and its energy is split.
Everything taken from a file is logged escaped.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from slurm_carbon.agent.handoff import HANDOFF_MAX_BYTES, HandoffRecord, parse_handoff
from slurm_carbon.agent.trust import read_trusted
from slurm_carbon.errors import ConfigError
from slurm_carbon.sensors.base import GpuInfo
from slurm_carbon.text import escape_control

__all__ = ["GPUS_PER_NODE_MAX", "Job", "JobRegistry", "gpu_holders", "parse_gpu_list"]

logger = logging.getLogger(__name__)

#: NVIDIA GPUs are /dev/nvidia<minor> with minors 0..254 (255 is /dev/nvidiactl), so
#: no node has more GPUs than this, and no minor number is larger.
GPUS_PER_NODE_MAX = 255

_HANDOFF_NAME = re.compile(r"([0-9]{1,10})\.(start|stop)")


@dataclass(frozen=True)
class Job:
    """A job on this node.

    Attributes:
        job_id: ``SLURM_JOB_ID``.
        start_s: When its Prolog ran. Units: seconds since the epoch.
        stop_s: When its Epilog ran, or ``None`` while it runs.
        gpu_minors: Minor numbers of its GPUs.
        gpu_uuids: GPUs named by UUID (a ``CUDA_VISIBLE_DEVICES`` of UUIDs).
        uid: The job owner's uid, if known.
        comment: The job's comment as the Prolog saw it (e.g. ``carbon_cap=off``).
    """

    job_id: int
    start_s: float
    stop_s: float | None
    gpu_minors: tuple[int, ...] = ()
    gpu_uuids: tuple[str, ...] = ()
    uid: int | None = None
    comment: str = ""

    def running_at(self, t_s: float) -> bool:
        """Whether the job had started and not stopped at ``t_s``."""
        return self.start_s <= t_s and (self.stop_s is None or t_s < self.stop_s)


def _minor(text: str) -> int:
    if not re.fullmatch(r"[0-9]{1,3}", text) or int(text) >= GPUS_PER_NODE_MAX:
        raise ValueError(f"GPU {text[:20]!r} is not a minor number 0 .. {GPUS_PER_NODE_MAX - 1}")
    return int(text)


def parse_gpu_list(text: str) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """Parse ``"0,2"``, ``"0-3"`` or ``"GPU-ab..,GPU-cd.."`` into (minors, UUIDs).

    Words that name no GPU (Slurm's ``NoDevFiles``) are skipped.

    Raises:
        ValueError: A minor number or a range end is not below
            :data:`GPUS_PER_NODE_MAX`, or the list names more GPUs than that.
    """
    minors: list[int] = []
    uuids: list[str] = []
    for raw in text.split(",")[: GPUS_PER_NODE_MAX + 1]:
        item = raw.strip()
        if item.startswith(("GPU-", "MIG-")):
            uuids.append(item)
        elif item[:1].isdigit() and "-" in item:
            low, _, high = item.partition("-")
            minors.extend(range(_minor(low), _minor(high) + 1))
        elif item[:1].isdigit():
            minors.append(_minor(item))
        if len(minors) + len(uuids) > GPUS_PER_NODE_MAX:
            raise ValueError(f"more than {GPUS_PER_NODE_MAX} GPUs")
    return tuple(dict.fromkeys(minors)), tuple(dict.fromkeys(uuids))


class JobRegistry:
    """Reads the hand-off files of ``jobs_dir``.

    Args:
        jobs_dir: ``$SPOOL/jobs``.
        shared_gpus: Slurm shares GPUs between jobs on this node (gres/shard,
            gres/mps): split a GPU among every job holding it.
    """

    def __init__(self, jobs_dir: Path, *, shared_gpus: bool = False) -> None:
        self.jobs_dir = jobs_dir
        self.shared_gpus = shared_gpus
        self._warned: set[str] = set()

    def _read(self, path: Path, job_id: int) -> HandoffRecord | None:
        try:
            record = parse_handoff(read_trusted(path, HANDOFF_MAX_BYTES))
            if record.job_id != job_id:
                raise ValueError(f"JOB_ID={record.job_id} in the file of job {job_id}")  # noqa: TRY301 - one refusal path
        except FileNotFoundError:
            return None  # vanished between listing and reading
        except (OSError, ConfigError, ValueError) as err:
            self._warn_once(path.name, "ignoring hand-off file %s: %s", path.name, err)
            return None
        return record

    def _warn_once(self, key: str, message: str, *args: object) -> None:
        """Log once per key; every argument is outside text, so it is escaped."""
        if key not in self._warned:
            self._warned.add(key)
            logger.warning(message, *(escape_control(str(arg)) for arg in args))

    def _gpus(self, record: HandoffRecord) -> tuple[tuple[int, ...], tuple[str, ...]]:
        text = record.job_gpus or record.cuda_visible_devices
        try:
            return parse_gpu_list(text)
        except ValueError as err:
            self._warn_once(
                f"gpus:{record.job_id}",
                "job %s: GPU list %s refused (%s): the job is measured without GPUs",
                record.job_id,
                text[:200],
                err,
            )
            return (), ()

    def scan(self, finished: Iterable[int]) -> dict[int, Job]:
        """Return the jobs not yet accounted, by job id.

        Files of jobs already in ``finished`` (e.g. a second Epilog) and a
        ``.stop`` with no ``.start`` (the Prolog's hand-off failed: nothing can
        be accounted) are deleted.
        """
        done = set(finished)
        starts: dict[int, HandoffRecord] = {}
        stops: dict[int, HandoffRecord] = {}
        try:
            names = [p for p in self.jobs_dir.iterdir() if not p.name.startswith(".")]
        except OSError:
            return {}
        for path in names:
            match = _HANDOFF_NAME.fullmatch(path.name)
            if match is None:
                continue
            job_id = int(match[1])
            if job_id in done:
                self.forget(job_id)
                continue
            record = self._read(path, job_id)
            if record is not None:
                (starts if match[2] == "start" else stops)[job_id] = record
        jobs: dict[int, Job] = {}
        for job_id, start in starts.items():
            stop = stops.get(job_id)
            minors, uuids = self._gpus(start)
            jobs[job_id] = Job(
                job_id=job_id,
                start_s=start.time_s,
                stop_s=None if stop is None else max(stop.time_s, start.time_s),
                gpu_minors=minors,
                gpu_uuids=uuids,
                uid=start.uid,
                comment=start.comment,
            )
        for job_id in stops.keys() - starts.keys():
            logger.warning("job %d stopped but its start was never handed off: ignored", job_id)
            self.forget(job_id)
        return jobs

    def forget(self, job_id: int) -> None:
        """Delete a job's hand-off files."""
        for suffix in ("start", "stop"):
            try:
                (self.jobs_dir / f"{job_id}.{suffix}").unlink(missing_ok=True)
            except OSError as err:
                logger.warning("cannot delete %s.%s: %s", job_id, suffix, err)

    def gpu_holders(self, jobs: Iterable[Job], gpus: Sequence[GpuInfo]) -> dict[str, list[Job]]:
        """Map each GPU UUID to the jobs holding it; see :func:`gpu_holders`."""
        holders, unknown = gpu_holders(jobs, gpus)
        for job_id, name in unknown:
            self._warn_once(
                f"gpu:{job_id}:{name}",
                "job %s holds GPU %s, which this node does not have: left out",
                job_id,
                name,
            )
        if self.shared_gpus:
            return holders
        for uuid, held in holders.items():
            holders[uuid] = self._one_at_a_time(uuid, held)
        return holders

    def _one_at_a_time(self, uuid: str, jobs: list[Job]) -> list[Job]:
        """Each job holds the GPU until the next job (by start) named it."""
        ordered = sorted(jobs, key=lambda job: (job.start_s, job.job_id))
        result = []
        for job, later in itertools.pairwise(ordered):
            if job.stop_s is None or job.stop_s > later.start_s:
                self._warn_once(
                    f"taken:{uuid}:{job.job_id}:{later.job_id}",
                    "GPU %s: job %s started on it while job %s still held it; without "
                    "--shared-gpus a GPU is one job's, so from then on it is job %s's alone",
                    uuid,
                    later.job_id,
                    job.job_id,
                    later.job_id,
                )
                job = dataclasses.replace(job, stop_s=later.start_s)  # noqa: PLW2901 - clipped copy
            result.append(job)
        result.append(ordered[-1])
        return result


def gpu_holders(
    jobs: Iterable[Job], gpus: Sequence[GpuInfo]
) -> tuple[dict[str, list[Job]], list[tuple[int, str]]]:
    """Map each GPU UUID to the jobs holding it, matching minors by ``GpuInfo.minor``.

    Returns:
        The map, and (job id, GPU name) of every GPU a job names that is not present.
    """
    by_minor = {gpu.minor: gpu.uuid for gpu in gpus}
    present = {gpu.uuid for gpu in gpus}
    holders: dict[str, list[Job]] = {}
    unknown: list[tuple[int, str]] = []
    for job in jobs:
        for minor in job.gpu_minors:
            uuid = by_minor.get(minor)
            if uuid is None:
                unknown.append((job.job_id, str(minor)))
            else:
                holders.setdefault(uuid, []).append(job)
        for uuid in job.gpu_uuids:
            if uuid in present:
                holders.setdefault(uuid, []).append(job)
            else:
                unknown.append((job.job_id, uuid))
    return holders, unknown
