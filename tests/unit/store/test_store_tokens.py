from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from slurm_carbon.cli.main import cli
from slurm_carbon.store import (
    Cluster,
    Node,
    NodeToken,
    hash_token,
    issue_token,
    node_for_token,
    revoke_tokens,
)
from slurm_carbon.store.tokens import TOKEN_CACHE_TTL_S, TokenCache

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


def test_the_token_cache_trusts_a_found_token_for_its_ttl_only() -> None:
    now = [NOW]
    cache = TokenCache(lambda: now[0])
    cache.keep("t", ("sclocal", "vm"))

    now[0] = NOW + timedelta(seconds=TOKEN_CACHE_TTL_S - 1)
    within = cache.get("t")
    now[0] = NOW + timedelta(seconds=TOKEN_CACHE_TTL_S)
    expired = cache.get("t")

    assert within == ("sclocal", "vm")
    assert expired is None
    assert len(cache) == 0  # an expired entry is dropped, not kept


def test_the_token_cache_looks_up_again_when_the_clock_goes_back() -> None:
    now = [NOW]
    cache = TokenCache(lambda: now[0])
    cache.keep("t", ("sclocal", "vm"))

    now[0] = NOW - timedelta(seconds=1)

    assert cache.get("t") is None


def test_the_token_cache_holds_at_most_its_bound_least_recently_used_first() -> None:
    cache = TokenCache(lambda: NOW, bound=2)
    cache.keep("a", ("c", "a"))
    cache.keep("b", ("c", "b"))
    assert cache.get("a") == ("c", "a")  # a is now the most recently used

    cache.keep("c", ("c", "c"))

    assert len(cache) == 2
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (("c", "a"), None, ("c", "c"))


def test_token_revoke_help_says_how_long_a_service_trusts_a_token() -> None:
    result = CliRunner().invoke(cli, ["token", "revoke", "--help"])

    assert result.exit_code == 0
    assert f"TOKEN_CACHE_TTL_S ({TOKEN_CACHE_TTL_S:.0f} s)" in result.output
