"""The cap keeper: GPU power caps applied, and every one of them restored.

Before the first change to a GPU its original limit is saved, durably, in
``agent.db``; then the requested limit, clamped to the GPU's range, is set —
only on a GPU the job holds alone. The original is restored when the job
stops or the GPU becomes shared, when the agent starts (everything saved),
when it stops, and by a periodic sweep that also retries failed restores.
The saved row is deleted only after a successful restore. Units: milliwatts.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from slurm_carbon.agent.handoff import CapRequest, parse_cap_request
from slurm_carbon.agent.registry import Job
from slurm_carbon.agent.spool import SavedCap, Spool
from slurm_carbon.errors import SensorError
from slurm_carbon.sensors.base import Gpu

__all__ = ["CapKeeper"]

logger = logging.getLogger(__name__)


def _find_gpu(gpus: Sequence[Gpu], name: str) -> Gpu | None:
    for gpu in gpus:
        if gpu.info.uuid == name or (name.isdigit() and gpu.info.minor == int(name)):
            return gpu
    return None


class CapKeeper:
    """Applies cap requests and keeps every original limit restorable.

    Args:
        spool: Where original limits are saved.
        caps_dir: ``$SPOOL/caps``, where ``agent set-cap`` leaves requests.
    """

    def __init__(self, spool: Spool, caps_dir: Path) -> None:
        self.spool = spool
        self.caps_dir = caps_dir
        self._failed: set[str] = set()

    # -- requests --------------------------------------------------------------

    def take_requests(self) -> list[CapRequest]:
        """Read and delete the pending request files, oldest first."""
        try:
            paths = sorted(p for p in self.caps_dir.glob("*.req") if not p.name.startswith("."))
        except OSError:
            return []
        requests: list[CapRequest] = []
        for path in paths:
            try:
                requests.append(parse_cap_request(path.read_text(encoding="ascii")))
            except (OSError, UnicodeDecodeError, ValueError) as err:
                logger.warning("ignoring cap request %s: %s", path.name, err)
            path.unlink(missing_ok=True)
        return requests

    def apply(
        self,
        now_s: float,
        request: CapRequest,
        jobs: Mapping[int, Job],
        holders: Mapping[str, list[Job]],
        gpus: Sequence[Gpu],
    ) -> bool:
        """Apply one request if the job holds the GPU alone; return whether a limit was set."""
        gpu = _find_gpu(gpus, request.gpu)
        job = jobs.get(request.job_id)
        if gpu is None:
            logger.warning("cap for job %d: no GPU %s on this node", request.job_id, request.gpu)
            return False
        uuid = gpu.info.uuid
        if job is None or not job.running_at(now_s):
            logger.warning("cap for job %d on %s: the job does not run here", request.job_id, uuid)
            return False
        running = [j.job_id for j in holders.get(uuid, []) if j.running_at(now_s)]
        if running != [job.job_id]:
            logger.warning(
                "cap for job %d on %s refused: the GPU is not the job's alone (held by %s)",
                job.job_id,
                uuid,
                running,
            )
            return False
        try:
            limit_mw = gpu.power_limits().clamp(round(request.watts * 1000))
            saved = {cap.uuid: cap.original_mw for cap in self.spool.saved_caps()}
            original_mw = saved[uuid] if uuid in saved else gpu.power_limit_mw()
            self.spool.save_cap(uuid, original_mw, job.job_id, now_s)  # committed before the set
            gpu.set_power_limit_mw(limit_mw)
        except SensorError as err:
            logger.warning("cap for job %d on %s failed: %s", job.job_id, uuid, err)
            return False
        logger.info("job %d: %s capped at %d mW", job.job_id, uuid, limit_mw)
        return True

    # -- restores --------------------------------------------------------------

    def _restore(self, cap: SavedCap, gpus: Sequence[Gpu]) -> bool:
        gpu = _find_gpu(gpus, cap.uuid)
        try:
            if gpu is None:
                raise SensorError(f"GPU {cap.uuid} not found")  # noqa: TRY301 - one failure path
            gpu.set_power_limit_mw(gpu.power_limits().clamp(cap.original_mw))
        except SensorError as err:
            if cap.uuid not in self._failed:
                logger.error(  # noqa: TRY400 - the sensor's message says it all
                    "cannot restore %s to %d mW (retrying): %s", cap.uuid, cap.original_mw, err
                )
            else:
                logger.warning("restore of %s still failing: %s", cap.uuid, err)
            self._failed.add(cap.uuid)
            return False
        self.spool.delete_cap(cap.uuid)
        self._failed.discard(cap.uuid)
        logger.info("%s restored to %d mW", cap.uuid, cap.original_mw)
        return True

    def restore_all(self, gpus: Sequence[Gpu]) -> int:
        """Restore every saved limit (agent start and stop); return how many failed."""
        return sum(not self._restore(cap, gpus) for cap in self.spool.saved_caps())

    def reconcile(
        self,
        now_s: float,
        holders: Mapping[str, list[Job]],
        gpus: Sequence[Gpu],
        *,
        sweep: bool,
    ) -> None:
        """Restore caps whose job stopped or no longer holds the GPU alone.

        A restore that failed is retried only when ``sweep`` is set (the
        periodic sweep), not every tick.
        """
        for cap in self.spool.saved_caps():
            running = [j.job_id for j in holders.get(cap.uuid, []) if j.running_at(now_s)]
            if running == [cap.job_id]:
                continue
            if cap.uuid in self._failed and not sweep:
                continue
            self._restore(cap, gpus)
