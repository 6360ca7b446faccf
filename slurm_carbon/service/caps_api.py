"""``GET /api/v1/caps``: the GPU power limits in force for a node's running jobs.

Authenticated as ingest is, by the node's bearer token (401 without a good
one), through the same cache of tokens found: a node polling every
:data:`~slurm_carbon.channel.CAP_POLL_S` costs one token lookup per
:data:`~slurm_carbon.store.tokens.TOKEN_CACHE_TTL_S`. The token names the node, so a
node sees only the caps of its own running jobs (those whose stored NodeList holds it; see
:func:`slurm_carbon.store.caps.caps_for_node`). The answer::

    {"caps": [{"job_id": 4242, "gpu": "GPU-5e0b..." or null (every GPU of the job),
               "power_limit_w": 250.0, "until": "2026-12-01T12:30:00+00:00"}, ...],
     "now": "2026-12-01T12:10:00+00:00"}

``until`` is the decision's period end: the agent holds the cap as a lease
until then (measured from ``now``, so the node's clock does not matter) and
restores the GPU if the lease is not renewed. At most :data:`MAX_CAPS` caps;
more is logged and cut, job by job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from slurm_carbon.service.ingest import token_owner
from slurm_carbon.store import SessionFactory, transaction
from slurm_carbon.store.caps import caps_for_node
from slurm_carbon.store.tokens import TokenCache
from slurm_carbon.text import escape_control

__all__ = ["MAX_CAPS", "CapsEndpoint"]

logger = logging.getLogger(__name__)

#: Caps in one answer: a node has at most 255 GPUs (NVIDIA minors 0..254) and a GPU
#: is capped for one job at a time, so even a job-wide and a per-GPU decision for
#: each GPU fit in 1024; the answer stays under 150 kB of JSON.
MAX_CAPS = 1024


@dataclass(frozen=True)
class CapsEndpoint:
    """The endpoint over its store, clock ("in force now") and ingest's cache of tokens found."""

    factory: SessionFactory
    clock: Callable[[], datetime]
    tokens: TokenCache

    async def handle(self, request: Request) -> Response:
        """Handle one GET."""
        owner = await token_owner(request, self.factory, self.tokens, run_in_threadpool)
        return JSONResponse(await run_in_threadpool(self._caps, owner))

    def _caps(self, owner: tuple[str, str]) -> dict[str, object]:
        cluster, node = owner
        now = self.clock()
        with transaction(self.factory) as session:
            caps = caps_for_node(session, cluster, node, now, limit=MAX_CAPS + 1)
        if len(caps) > MAX_CAPS:
            logger.warning(
                "caps for node=%s cluster=%s: more than %d in force, the first %d sent",
                escape_control(node),
                escape_control(cluster),
                MAX_CAPS,
                MAX_CAPS,
            )
        return {
            "caps": [
                {
                    "job_id": cap.slurm_job_id,
                    "gpu": cap.device,
                    "power_limit_w": cap.power_limit_w,
                    "until": cap.until.isoformat(),
                }
                for cap in caps[:MAX_CAPS]
            ],
            "now": now.isoformat(),
        }
