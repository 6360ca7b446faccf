"""Which jobs run on this node, and which GPUs (by UUID) each holds.

Scans ``$SPOOL/jobs/`` every tick: ``<id>.start`` says a job started,
``<id>.stop`` that it ended. The files persist until the job is accounted, so
jobs that started or ended while the agent was down are picked up. GPUs are
named by ``SLURM_JOB_GPUS`` (else ``CUDA_VISIBLE_DEVICES``): minor numbers as
the Prolog sees them, mapped to UUIDs through ``GpuInfo.minor`` — never through
the NVML enumeration index.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from slurm_carbon.agent.handoff import HandoffRecord, parse_handoff
from slurm_carbon.sensors.base import GpuInfo

__all__ = ["Job", "JobRegistry", "gpu_holders", "parse_gpu_list"]

logger = logging.getLogger(__name__)


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
    """

    job_id: int
    start_s: float
    stop_s: float | None
    gpu_minors: tuple[int, ...] = ()
    gpu_uuids: tuple[str, ...] = ()
    uid: int | None = None

    def running_at(self, t_s: float) -> bool:
        """Whether the job had started and not stopped at ``t_s``."""
        return self.start_s <= t_s and (self.stop_s is None or t_s < self.stop_s)


def parse_gpu_list(text: str) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """Parse ``"0,2"``, ``"0-3"`` or ``"GPU-ab..,GPU-cd.."`` into (minors, UUIDs).

    Unparseable items (e.g. ``NoDevFiles``) are skipped.
    """
    minors: list[int] = []
    uuids: list[str] = []
    for raw in text.split(","):
        item = raw.strip()
        if item.startswith(("GPU-", "MIG-")):
            uuids.append(item)
        elif item.isdigit():
            minors.append(int(item))
        elif "-" in item:
            low, _, high = item.partition("-")
            if low.isdigit() and high.isdigit() and int(low) <= int(high):
                minors.extend(range(int(low), int(high) + 1))
    return tuple(dict.fromkeys(minors)), tuple(dict.fromkeys(uuids))


class JobRegistry:
    """Reads the hand-off files of ``jobs_dir``.

    Args:
        jobs_dir: ``$SPOOL/jobs``.
    """

    def __init__(self, jobs_dir: Path) -> None:
        self.jobs_dir = jobs_dir
        self._cache: dict[str, tuple[int, HandoffRecord | None]] = {}
        self._warned: set[str] = set()

    def _read(self, path: Path) -> HandoffRecord | None:
        try:
            mtime_ns = path.stat().st_mtime_ns
            cached = self._cache.get(path.name)
            if cached is not None and cached[0] == mtime_ns:
                return cached[1]
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None  # vanished between listing and reading
        try:
            record: HandoffRecord | None = parse_handoff(text)
        except ValueError as err:
            record = None
            self._warn_once(path.name, "ignoring malformed %s: %s", path, err)
        self._cache[path.name] = (mtime_ns, record)
        return record

    def _warn_once(self, key: str, message: str, *args: object) -> None:
        if key not in self._warned:
            self._warned.add(key)
            logger.warning(message, *args)

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
            stem, _, suffix = path.name.partition(".")
            if suffix not in ("start", "stop") or not stem.isdigit():
                continue
            job_id = int(stem)
            if job_id in done:
                self.forget(job_id)
                continue
            record = self._read(path)
            if record is not None:
                (starts if suffix == "start" else stops)[job_id] = record
        jobs: dict[int, Job] = {}
        for job_id, start in starts.items():
            stop = stops.get(job_id)
            minors, uuids = parse_gpu_list(start.job_gpus or start.cuda_visible_devices)
            jobs[job_id] = Job(
                job_id=job_id,
                start_s=start.time_s,
                stop_s=None if stop is None else max(stop.time_s, start.time_s),
                gpu_minors=minors,
                gpu_uuids=uuids,
                uid=start.uid,
            )
        for job_id in stops.keys() - starts.keys():
            logger.warning("job %d stopped but its start was never handed off: ignored", job_id)
            self.forget(job_id)
        return jobs

    def forget(self, job_id: int) -> None:
        """Delete a job's hand-off files."""
        for suffix in ("start", "stop"):
            self._cache.pop(f"{job_id}.{suffix}", None)
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
                "job %d holds GPU %s, which this node does not have",
                job_id,
                name,
            )
        return holders


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
