"""Node tokens: issue, look up and revoke the bearer tokens nodes report with.

A token is ``secrets.token_urlsafe(32)`` (256 random bits). The database holds
only its SHA-256, so the plain token exists once: in what :func:`issue_token`
returns. The caller owns the transaction: nothing here commits.

Why no constant-time comparison: a token is found by an index lookup of the
*hash* of what the client sent, never compared with a stored secret byte by
byte. What timing could reveal is how much of the SHA-256 of a guess matched a
stored hash; since SHA-256 outputs cannot be steered (that would need
preimages), learning hash prefixes gets an attacker no closer to a token, and
guessing 256 random bits is out of reach anyway.

A service process keeps the tokens it found in a :class:`TokenCache` for
:data:`TOKEN_CACHE_TTL_S`, so a node's batches cost no lookup: a revoked token
keeps writing to that process for at most that long.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from slurm_carbon.store.models import Cluster, Node, NodeToken
from slurm_carbon.store.repositories import get_or_create_cluster, get_or_create_node

__all__ = [
    "MAX_CACHED_TOKENS",
    "MAX_TOKEN_LENGTH",
    "TOKEN_CACHE_TTL_S",
    "TokenCache",
    "hash_token",
    "issue_token",
    "node_for_token",
    "revoke_tokens",
]

# Longer "tokens" are refused before hashing; ours are 43 characters.
MAX_TOKEN_LENGTH = 256
_TOKEN_BYTES = 32


def hash_token(token: str) -> str:
    """The SHA-256 of ``token`` as 64 hex characters: what the database keeps."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(session: Session, cluster: str, node: str, *, now: datetime | None = None) -> str:
    """Create a token for ``node`` of ``cluster`` (both created if new); return it.

    The returned token is the only copy: it cannot be read back later. Tokens the
    node already holds stay valid (revoke them with :func:`revoke_tokens`).
    """
    cluster_row = get_or_create_cluster(session, cluster)
    node_row = get_or_create_node(session, cluster_row.id, node)
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    session.add(
        NodeToken(
            node_id=node_row.id,
            token_sha256=hash_token(token),
            created_at=now or datetime.now(UTC),
        )
    )
    session.flush()
    return token


def node_for_token(session: Session, token: str) -> tuple[str, str] | None:
    """Return ``(cluster name, hostname)`` of the node holding ``token``.

    None when the token is unknown, revoked, empty or absurdly long.
    """
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    query = (
        select(Cluster.name, Node.hostname)
        .join(Node, Node.cluster_id == Cluster.id)
        .join(NodeToken, NodeToken.node_id == Node.id)
        .where(NodeToken.token_sha256 == hash_token(token), NodeToken.revoked_at.is_(None))
    )
    row = session.execute(query).one_or_none()
    return None if row is None else (row[0], row[1])


def revoke_tokens(session: Session, cluster: str, node: str, *, now: datetime | None = None) -> int:
    """Revoke every valid token of ``node`` of ``cluster``; return how many were revoked.

    An unknown cluster or node has none: 0.
    """
    node_ids = (
        select(Node.id)
        .join(Cluster, Cluster.id == Node.cluster_id)
        .where(Cluster.name == cluster, Node.hostname == node)
        .scalar_subquery()
    )
    statement = (
        update(NodeToken)
        .where(NodeToken.node_id == node_ids, NodeToken.revoked_at.is_(None))
        .values(revoked_at=now or datetime.now(UTC))
        .returning(NodeToken.id)
        .execution_options(synchronize_session=False)
    )
    return len(session.execute(statement).all())


#: How long a service process trusts a token it found without asking the database
#: again, so how long a revoked token can still write. Two of the agent's one-minute
#: batches: a node's steady batches cost one lookup per two minutes instead of one each.
TOKEN_CACHE_TTL_S = 120.0
#: Tokens a process keeps: one per node, so 100,000 nodes (about 20 MB); the least
#: recently used goes first and is looked up again.
MAX_CACHED_TOKENS = 100_000


class TokenCache:
    """The owners of tokens found in the database, trusted for ``ttl_s`` (thread-safe).

    Only found tokens are kept (a token issued a moment ago is never refused from
    here); keys are the tokens' hashes. ``clock`` is the service's: an entry is
    looked up again once it is ``ttl_s`` old, or when the clock went back.
    """

    def __init__(
        self,
        clock: Callable[[], datetime],
        ttl_s: float = TOKEN_CACHE_TTL_S,
        bound: int = MAX_CACHED_TOKENS,
    ) -> None:
        """An empty cache of at most ``bound`` tokens, judged by ``clock``."""
        self.clock = clock
        self.ttl = timedelta(seconds=ttl_s)
        self.bound = bound
        self._owners: OrderedDict[str, tuple[tuple[str, str], datetime]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """How many tokens it holds."""
        return len(self._owners)

    def get(self, token: str) -> tuple[str, str] | None:
        """``(cluster, node)`` of ``token`` if found within ``ttl_s``, else None."""
        key, now = hash_token(token), self.clock()
        with self._lock:
            found = self._owners.get(key)
            if found is None:
                return None
            owner, found_at = found
            if not found_at <= now < found_at + self.ttl:
                del self._owners[key]
                return None
            self._owners.move_to_end(key)
            return owner

    def keep(self, token: str, owner: tuple[str, str]) -> None:
        """Remember ``owner`` of ``token`` as of now, dropping the least recently used."""
        key, now = hash_token(token), self.clock()
        with self._lock:
            self._owners[key] = (owner, now)
            self._owners.move_to_end(key)
            while len(self._owners) > self.bound:
                self._owners.popitem(last=False)
