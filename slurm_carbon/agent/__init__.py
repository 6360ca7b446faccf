"""The node agent: job registry, interval integration, spool, shipper, cap keeper.

One root daemon per node (``slurm-carbon agent run``). It learns of jobs from
the files the Prolog/Epilog shims leave in ``$SPOOL/jobs/``, samples every
device, integrates energy per job, per device, per wall-clock interval,
persists everything to ``$STATE/agent.db`` before shipping it, and keeps every
GPU power cap it sets restorable.
"""

from __future__ import annotations

from slurm_carbon.agent.daemon import Agent, AgentConfig

__all__ = ["Agent", "AgentConfig"]
