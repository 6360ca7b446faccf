"""The cap keeper: GPU power caps applied, and every one of them restored.

Before the first change to a GPU its original limit is saved, durably, in
``agent.db``; then the requested limit, clamped to the GPU's range, is set —
only on a GPU the job holds alone. The original is restored when the job
stops or the GPU becomes shared, when the agent starts (everything saved),
when it stops, and by a periodic sweep that also retries failed restores.
The saved row is deleted only after a successful restore. Caps the service
decided come as leases (:mod:`slurm_carbon.agent.capfeed`) and are followed
every tick (:meth:`CapKeeper.follow`) under the same rules; a GPU whose lease
ran out, or was not renewed, is restored. Units: milliwatts.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from slurm_carbon.agent.capfeed import CapLease, cap_refusal
from slurm_carbon.agent.handoff import CapRequest
from slurm_carbon.agent.registry import Job
from slurm_carbon.agent.spool import SavedCap, Spool
from slurm_carbon.agent.trust import ROOT_UID
from slurm_carbon.errors import SensorError
from slurm_carbon.sensors.base import Gpu
from slurm_carbon.text import escape_control

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
    """

    def __init__(self, spool: Spool) -> None:
        self.spool = spool
        self._failed: set[str] = set()
        # GPU UUID -> (job id, watts) of the lease applied on it.
        self._leased: dict[str, tuple[int, float]] = {}
        # (GPU, job id, watts) of leases refused: logged once.
        self._refused: set[tuple[str, int, float]] = set()

    # -- requests --------------------------------------------------------------

    def apply(  # noqa: PLR0913 - the request, who asked, and the node's state
        self,
        now_s: float,
        request: CapRequest,
        uid: int,
        *,
        jobs: Mapping[int, Job],
        holders: Mapping[str, list[Job]],
        gpus: Sequence[Gpu],
    ) -> tuple[bool, str]:
        """Apply a request by ``uid`` if allowed; return (applied, what happened).

        Allowed: ``uid`` is root or the job's owner (from its ``.start``), the
        job runs here, and it holds the GPU alone.
        """
        applied, message = self._apply(now_s, request, uid, jobs=jobs, holders=holders, gpus=gpus)
        logger.log(
            logging.INFO if applied else logging.WARNING,
            "cap request by uid %d for job %d: %s",
            uid,
            request.job_id,
            message,
        )
        return applied, message

    def _apply(  # noqa: PLR0913 - as apply
        self,
        now_s: float,
        request: CapRequest,
        uid: int,
        *,
        jobs: Mapping[int, Job],
        holders: Mapping[str, list[Job]],
        gpus: Sequence[Gpu],
    ) -> tuple[bool, str]:
        job = jobs.get(request.job_id)
        if job is None or not job.running_at(now_s):
            return False, f"job {request.job_id} does not run on this node"
        if uid not in (ROOT_UID, job.uid):
            return False, f"uid {uid} may not cap job {job.job_id}: only root and its owner may"
        gpu = _find_gpu(gpus, request.gpu)
        if gpu is None:
            return False, f"no GPU {escape_control(request.gpu)} on this node"
        uuid = gpu.info.uuid
        running = [j.job_id for j in holders.get(uuid, []) if j.running_at(now_s)]
        if running != [job.job_id]:
            return False, f"GPU {uuid} is not job {job.job_id}'s alone (held by {running})"
        try:
            limit_mw = gpu.power_limits().clamp(round(request.watts * 1000))
            saved = {cap.uuid: cap.original_mw for cap in self.spool.saved_caps()}
            original_mw = saved[uuid] if uuid in saved else gpu.power_limit_mw()
            self.spool.save_cap(uuid, original_mw, job.job_id, now_s)  # committed before the set
            gpu.set_power_limit_mw(limit_mw)
        except SensorError as err:
            return False, f"setting the limit of {uuid} failed: {err}"
        return True, f"GPU {uuid} capped at {limit_mw / 1000:g} W"

    def follow(
        self,
        now_s: float,
        leases: Sequence[CapLease],
        *,
        jobs: Mapping[int, Job],
        holders: Mapping[str, list[Job]],
        gpus: Sequence[Gpu],
    ) -> None:
        """Apply the service's caps that hold at ``now_s``; restore the GPUs whose lease ended.

        A lease for every GPU of a job applies to the GPUs the job holds; one
        for a GPU overrides it there. Each goes through the checks of
        :meth:`apply` (as root): the job runs here and holds the GPU alone. A
        job whose comment says ``carbon_cap=off`` is never capped
        (:func:`~slurm_carbon.agent.capfeed.cap_refusal`).
        """
        self._refused = {refused for refused in self._refused if refused[1] in jobs}
        wanted: dict[str, tuple[int, float]] = {}
        for lease in sorted(leases, key=lambda lease: lease.gpu is not None):
            job = jobs.get(lease.job_id)
            if now_s >= lease.until_s or job is None or not job.running_at(now_s):
                continue
            refusal = cap_refusal(job.comment)
            if refusal is not None:
                self._refuse_once(lease.gpu or "*", job.job_id, lease.power_limit_w, refusal)
                continue
            held = [uuid for uuid, by in holders.items() if job.job_id in {j.job_id for j in by}]
            for uuid in [lease.gpu] if lease.gpu else held:
                wanted[uuid] = (job.job_id, lease.power_limit_w)
        saved = {cap.uuid: cap for cap in self.spool.saved_caps()}
        for uuid in [uuid for uuid in self._leased if uuid not in wanted]:
            job_id, _ = self._leased.pop(uuid)
            if uuid in saved and self._restore(saved[uuid], gpus):
                logger.info("lease of job %d on %s ended: restored", job_id, uuid)
        for uuid, (job_id, watts) in wanted.items():
            if self._leased.get(uuid) == (job_id, watts) and uuid in saved:
                continue
            request = CapRequest(job_id, uuid, watts)
            applied, message = self._apply(
                now_s, request, ROOT_UID, jobs=jobs, holders=holders, gpus=gpus
            )
            if applied:
                self._leased[uuid] = (job_id, watts)
                self._refused.discard((uuid, job_id, watts))
                logger.info("service cap for job %d: %s", job_id, message)
            else:
                self._leased.pop(uuid, None)
                self._refuse_once(uuid, job_id, watts, message)

    def _refuse_once(self, gpu: str, job_id: int, watts: float, why: str) -> None:
        if (gpu, job_id, watts) not in self._refused:
            self._refused.add((gpu, job_id, watts))
            logger.warning(
                "service cap of %g W for job %d on %s not applied: %s",
                watts,
                job_id,
                escape_control(gpu),
                why,
            )

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
