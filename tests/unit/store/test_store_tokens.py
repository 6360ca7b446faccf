from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from slurm_carbon.store import (
    Cluster,
    Node,
    NodeToken,
    hash_token,
    issue_token,
    node_for_token,
    revoke_tokens,
)

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


def test_an_issued_token_names_its_node(session: Session) -> None:
    token = issue_token(session, "sclocal", "vm")

    assert node_for_token(session, token) == ("sclocal", "vm")
    assert len(token) == 43  # 32 random bytes, URL-safe base64
    assert issue_token(session, "sclocal", "vm") != token


def test_only_the_hash_is_stored(session: Session) -> None:
    token = issue_token(session, "sclocal", "vm", now=NOW)

    row = session.execute(select(NodeToken)).scalar_one()
    assert row.token_sha256 == hashlib.sha256(token.encode()).hexdigest() == hash_token(token)
    assert token not in row.token_sha256
    assert (row.created_at, row.revoked_at) == (NOW, None)


def test_issuing_creates_the_cluster_and_node_once(session: Session) -> None:
    issue_token(session, "sclocal", "vm")
    issue_token(session, "sclocal", "vm")
    issue_token(session, "sclocal", "gpu02")

    assert session.execute(select(Cluster.name)).scalars().all() == ["sclocal"]
    assert sorted(session.execute(select(Node.hostname)).scalars()) == ["gpu02", "vm"]


def test_unknown_empty_and_overlong_tokens_name_no_node(session: Session) -> None:
    token = issue_token(session, "sclocal", "vm")

    assert node_for_token(session, token[:-1]) is None
    assert node_for_token(session, "") is None
    assert node_for_token(session, token + "x" * 300) is None


def test_revoking_ends_every_token_of_that_node_only(session: Session) -> None:
    first = issue_token(session, "sclocal", "vm")
    second = issue_token(session, "sclocal", "vm")
    other_node = issue_token(session, "sclocal", "gpu02")
    same_name_elsewhere = issue_token(session, "other", "vm")

    assert revoke_tokens(session, "sclocal", "vm", now=NOW) == 2

    assert node_for_token(session, first) is None
    assert node_for_token(session, second) is None
    assert node_for_token(session, other_node) == ("sclocal", "gpu02")
    assert node_for_token(session, same_name_elsewhere) == ("other", "vm")
    revoked = session.execute(select(NodeToken.revoked_at).where(NodeToken.revoked_at.is_not(None)))
    assert revoked.scalars().all() == [NOW, NOW]


def test_revoking_again_or_an_unknown_node_revokes_nothing(session: Session) -> None:
    issue_token(session, "sclocal", "vm")
    assert revoke_tokens(session, "sclocal", "vm") == 1

    assert revoke_tokens(session, "sclocal", "vm") == 0
    assert revoke_tokens(session, "sclocal", "nosuchnode") == 0
    assert revoke_tokens(session, "nosuchcluster", "vm") == 0


def test_a_token_issued_after_revoking_is_valid(session: Session) -> None:
    issue_token(session, "sclocal", "vm")
    revoke_tokens(session, "sclocal", "vm")

    token = issue_token(session, "sclocal", "vm")

    assert node_for_token(session, token) == ("sclocal", "vm")
