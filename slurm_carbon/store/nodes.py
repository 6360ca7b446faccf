"""A node's health as its agent reports it with each batch: the latest is kept per node.

:func:`record_node_health` writes it in one statement in the caller's
transaction (the batch's); :func:`~slurm_carbon.store.metrics.node_last_reports`
reads it back with the node's last report.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from slurm_carbon.store.models import Cluster, Node

__all__ = ["NodeHealth", "record_node_health"]


@dataclass(frozen=True, slots=True)
class NodeHealth:
    """An agent's spool: rows still waiting to be shipped, and dead letters it keeps.

    ``at`` is when the service received the report (aware).
    """

    spool_backlog: int
    dead_letters: int
    at: datetime


def record_node_health(session: Session, cluster: str, node: str, health: NodeHealth) -> None:
    """Keep ``health`` as the node's latest; a node not stored yet is left alone (one UPDATE)."""
    cluster_id = select(Cluster.id).where(Cluster.name == cluster).scalar_subquery()
    session.execute(
        update(Node)
        .where(Node.cluster_id == cluster_id, Node.hostname == node)
        .values(
            spool_backlog=health.spool_backlog,
            dead_letters=health.dead_letters,
            health_at=health.at,
        )
    )
