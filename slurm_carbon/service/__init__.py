"""The central service: an ASGI app that takes each node's energy intervals.

Stateless: run as many replicas as needed over one database. Build it with
:func:`create_app` from a database URL or a session factory; ``slurm-carbon
service`` runs it under uvicorn.
"""

from __future__ import annotations

from slurm_carbon.service.app import create_app
from slurm_carbon.service.ingest import MAX_BODY_BYTES
from slurm_carbon.service.schemas import MAX_INTERVALS

__all__ = ["MAX_BODY_BYTES", "MAX_INTERVALS", "create_app"]
