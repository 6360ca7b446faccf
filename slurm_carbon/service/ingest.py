"""``POST /api/v1/intervals``: a node's batch of energy intervals.

Order of checks: nothing of the body is read, and nothing about it is said,
before the token is known good. A bearer token is present and known and valid
(401), from the headers alone; then the declared Content-Length fits (413) and
the Content-Type is JSON (415); then the body is read, cut off as soon as it
passes the limit (413) or when it is not all in within
:data:`BODY_READ_TIMEOUT_S` (408), and judged: the JSON (400), its fields (422,
or 413 for too many intervals), the token's node is the one the body names
(403); then one transaction writes the whole batch. So only nodes learn what the service thinks
of a body, and a forged token costs the service no memory for the body. The
token is looked up in a transaction of its own, before the write: a token
revoked in between still gets that one batch in. A token found is trusted for
:data:`~slurm_carbon.store.tokens.TOKEN_CACHE_TTL_S` by this process (by the
clock the endpoint judges times by; one cache for ingest and the caps channel),
so revoking takes effect within it.
Progress points are stored without their node, so they are refused (422, the
batch whole) for a job whose stored NodeList does not hold the token's node; a
job whose nodes are not known yet is taken.

Admission control: a process holds at most :data:`MAX_INFLIGHT_INGESTS`
requests at once (fewer while congested and draining slowly: what it drains in
:data:`~slurm_carbon.service.admission.MAX_HOLD_WAIT_S`), bringing at most
:data:`MAX_HELD_BODY_BYTES` of body (each its declared length, or
:data:`MAX_BODY_BYTES` undeclared); beyond either a node is answered 429 with
``Retry-After``, which
the agent obeys: the slot :class:`~slurm_carbon.service.admission.DrainPacer`
promises it, after the nodes refused before it, at the rate this process has
been releasing held requests (so ``N`` nodes refused at once come back over
the ``N / rate`` seconds the service needs for them), 1 to
:data:`INGEST_RETRY_AFTER_MAX_S` whole seconds. The blocking work runs on as
many threads as the database pool has connections
(:func:`~slurm_carbon.store.engine.connection_slots`), so requests queue for a
thread, never for a connection. A database that is down, busy or out of free
connections is a 503 with ``Retry-After``, never a 500.
A 503's ``Retry-After`` is a random whole number of seconds from 1 to
:data:`INGEST_RETRY_AFTER_MAX_S` (nothing says when a database comes back), so
nodes refused together come back apart.

Logs name the node as the token says, and every piece of request text in them
passes through :func:`slurm_carbon.text.escape_control`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import anyio
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from slurm_carbon.errors import SlurmError, StoreError
from slurm_carbon.service.admission import DrainPacer
from slurm_carbon.service.batch_columns import ValidBatch, parse_batch
from slurm_carbon.service.metrics import PipelineMetrics
from slurm_carbon.service.schemas import MAX_INTERVALS, first_error
from slurm_carbon.slurm.hostlist import expand_hostlist
from slurm_carbon.store import (
    Session,
    SessionFactory,
    ingest_batch,
    ingest_progress,
    node_for_token,
    stored_node_lists,
    transaction,
)
from slurm_carbon.store.engine import connection_slots
from slurm_carbon.store.ingest import IdCache
from slurm_carbon.store.nodes import NodeHealth, record_node_health
from slurm_carbon.store.tokens import TokenCache
from slurm_carbon.text import escape_control, quote_input

__all__ = [
    "BODY_READ_TIMEOUT_S",
    "INGEST_RETRY_AFTER_MAX_S",
    "MAX_BODY_BYTES",
    "MAX_HELD_BODY_BYTES",
    "MAX_INFLIGHT_INGESTS",
    "ApiError",
    "IngestEndpoint",
    "bearer_token",
    "token_owner",
]

logger = logging.getLogger(__name__)

# 10,000 intervals take about 3 MB of JSON.
MAX_BODY_BYTES = 8 * 1024 * 1024
#: Requests one service process holds at once (bodies being read, judged, or waiting
#: for a thread); beyond it, 429. Nodes refused in a burst come back in whole seconds
#: of Retry-After, bunched and with gaps, so the held requests must cover the worker
#: threads for about two seconds of draining: a 2-core service drains 50-80 one-hour
#: batches (720 rows) a second, so 128. With 32, 45 % of the cores sat idle while
#: 1,000 nodes sent their backlog (0.29x COPY; 128: 0.61-0.89x, README "Ingest at
#: scale"). The wait stays far inside the agent's 30 s timeout: 128 such batches
#: drain in 2-3 s.
MAX_INFLIGHT_INGESTS = 128
#: Bytes of body the held requests may bring at once: each holds its declared
#: Content-Length, or MAX_BODY_BYTES when it declares none (chunked); beyond it,
#: 429. The memory bound of the held requests, whatever their number: 256 MiB, as
#: 32 bodies of MAX_BODY_BYTES; 128 agent batches of an hour of 12 devices (about
#: 240 KB each) hold an eighth of it.
MAX_HELD_BODY_BYTES = 256 * 1024 * 1024
#: The longest a request's body may take to come in, from when the service starts
#: reading it (the token known good) to its last byte; beyond it, 408 (which the
#: agent retries). A held request keeps its place and its bytes until its body is
#: in, so without a deadline a node on a failing link, or a stolen token trickling
#: bytes, would hold them for good. 8 MiB (MAX_BODY_BYTES) in 30 s is a 2 Mbit/s
#: link; a node's batch on a cluster network takes milliseconds.
BODY_READ_TIMEOUT_S = 30.0
#: The longest Retry-After given with a 429 or 503, well inside the agent's own cap
#: (shipper.RETRY_AFTER_MAX_S). A 429 is told its slot at the measured drain rate,
#: capped here; a 503 a random 1..30 s, so 1,000 nodes refused at once come back
#: spread over half a minute (about 33 a second), not all in the same second.
INGEST_RETRY_AFTER_MAX_S = 30


class ApiError(Exception):
    """An answer other than 200: status code and a one-line message for the client."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def bearer_token(request: Request) -> str:
    """The request's bearer token, from its headers alone, or 401."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "missing bearer token")
    return token.strip()


async def token_owner(
    request: Request,
    factory: SessionFactory,
    cache: TokenCache,
    blocking: Callable[..., Awaitable[Any]],
) -> tuple[str, str]:
    """``(cluster, node)`` of the request's bearer token, or 401.

    A token in ``cache`` is trusted without a lookup; any other is looked up in the
    store through ``blocking`` (a worker thread) and, when found, kept in ``cache``.
    """
    token = bearer_token(request)
    owner = cache.get(token)
    if owner is None:
        owner = await blocking(_look_up_token, factory, token)
        cache.keep(token, owner)
    return owner


def _look_up_token(factory: SessionFactory, token: str) -> tuple[str, str]:
    """``(cluster, node)`` of ``token`` in the store, or 401; blocking."""
    with transaction(factory) as session:
        owner = node_for_token(session, token)
    if owner is None:
        raise ApiError(401, "unknown or revoked token")
    return owner


def _content_length(request: Request) -> int | None:
    """The body length the request declares (Content-Length), or None (chunked, or unreadable)."""
    declared = request.headers.get("content-length", "")
    return int(declared) if declared.isdigit() else None


def _held_bytes(request: Request, limit: int) -> int:
    """The body bytes a request may bring: its declared length, or ``limit`` (413 beyond it)."""
    declared = _content_length(request)
    return limit if declared is None or declared > limit else declared


def _declared_length(request: Request, limit: int) -> None:
    """Refuse a body whose Content-Length says it exceeds ``limit``, before reading it."""
    declared = _content_length(request)
    if declared is not None and declared > limit:
        raise ApiError(413, f"request body over {limit} bytes")


def _json_content_type(request: Request) -> None:
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/json":
        raise ApiError(415, "Content-Type must be application/json")


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, cut off as soon as more than ``limit`` bytes have come."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ApiError(413, f"request body over {limit} bytes")
    return bytes(body)


def _parse(body: bytes, now: datetime) -> ValidBatch:
    try:
        return parse_batch(body, now)
    except ValidationError as err:
        kinds = {(e["type"], e["loc"]) for e in err.errors()}
        if any(kind == "json_invalid" for kind, _ in kinds):
            message = escape_control(err.errors()[0]["msg"])
            raise ApiError(400, f"malformed JSON: {message}") from None
        if ("too_long", ("intervals",)) in kinds:
            raise ApiError(413, f"more than {MAX_INTERVALS} intervals in one batch") from None
        raise ApiError(422, first_error(err)) from None


def _check_progress_jobs(session: Session, batch: ValidBatch) -> None:
    """Refuse (422) progress for a job whose stored NodeList does not hold this node."""
    node_lists = stored_node_lists(session, batch.cluster, [p.slurm_job_id for p in batch.progress])
    for index, point in enumerate(batch.progress):
        node_list = node_lists.get(point.slurm_job_id)
        if node_list is None:
            continue
        try:
            nodes = set(expand_hostlist(node_list))
        except SlurmError:
            nodes = set()
        if batch.node not in nodes:
            raise ApiError(
                422,
                f"progress[{index}].job_id: job {point.slurm_job_id} did not run on node "
                f"{quote_input(batch.node)} (its NodeList is {quote_input(node_list)})",
            )


@dataclass(frozen=True)
class IngestEndpoint:
    """The endpoint, bound to the store it writes to and the clock times are judged by.

    ``metrics`` (if given) counts each accepted batch's intervals and time;
    ``tokens`` is the process's cache of node tokens found (shared with the caps
    channel);
    ``max_inflight`` bounds the requests held at once and ``max_held_bytes`` the
    bodies they may bring (each its declared length, or ``max_body_bytes``); ``ids``
    keeps the store's ids for the life of the process; ``pacer`` tells each 429 when
    to come back.
    """

    factory: SessionFactory
    clock: Callable[[], datetime]
    max_body_bytes: int = MAX_BODY_BYTES
    metrics: PipelineMetrics | None = None
    max_inflight: int = MAX_INFLIGHT_INGESTS
    max_held_bytes: int = MAX_HELD_BODY_BYTES
    ids: IdCache = field(default_factory=IdCache)
    pacer: DrainPacer = field(default_factory=lambda: DrainPacer(INGEST_RETRY_AFTER_MAX_S))
    _inflight: list[int] = field(default_factory=lambda: [0, 0], init=False, repr=False)
    _threads: anyio.CapacityLimiter | None = field(default=None, init=False, repr=False)
    tokens: TokenCache = field(init=False, repr=False)

    def __post_init__(self) -> None:
        """Size the worker threads to the factory's connection pool; trust tokens by ``clock``."""
        if self.max_held_bytes < self.max_body_bytes:
            raise ValueError(
                f"max_held_bytes {self.max_held_bytes} is below max_body_bytes"
                f" {self.max_body_bytes}: a body of the largest size would never be taken"
            )
        object.__setattr__(self, "tokens", TokenCache(self.clock))
        slots = connection_slots(self.factory)
        if slots is not None:
            object.__setattr__(self, "_threads", anyio.CapacityLimiter(slots))

    async def handle(self, request: Request) -> Response:
        """Handle one POST: 429 beyond the in-flight bounds, 503 while the database is not."""
        held = _held_bytes(request, self.max_body_bytes)
        requests, bytes_held = self._inflight
        holdable = self.pacer.hold_bound(self.max_inflight)
        if requests >= holdable or bytes_held + held > self.max_held_bytes:
            return JSONResponse(
                {"error": "too many batches in flight, retry later"},
                429,
                headers={"Retry-After": str(self.pacer.retry_after_s())},
            )
        # The event loop's thread only: no lock needed.
        self._inflight[0] += 1
        self._inflight[1] += held
        try:
            return await self._handle(request)
        except StoreError as err:
            logger.warning(
                "database unavailable on %s %s: %s",
                request.method,
                escape_control(request.url.path),
                escape_control(str(err)),
            )
            return _database_unavailable()
        finally:
            self._inflight[0] -= 1
            self._inflight[1] -= held
            self.pacer.released()

    async def _handle(self, request: Request) -> Response:
        began = time.monotonic()
        owner = await token_owner(request, self.factory, self.tokens, self._blocking)
        _declared_length(request, self.max_body_bytes)
        _json_content_type(request)
        try:
            with anyio.fail_after(BODY_READ_TIMEOUT_S):
                body = await _read_body(request, self.max_body_bytes)
        except TimeoutError:
            raise ApiError(
                408, f"request body not received within {BODY_READ_TIMEOUT_S:g} s"
            ) from None
        answer = await self._blocking(self._ingest, owner, body, began)
        return JSONResponse(answer)

    async def _blocking(self, function: Callable[..., Any], *args: Any) -> Any:
        """``function(*args)`` on a worker thread, one of as many as the pool's connections."""
        return await anyio.to_thread.run_sync(function, *args, limiter=self._threads)

    def _ingest(self, owner: tuple[str, str], body: bytes, began: float) -> dict[str, int]:
        """Validate, authorise and write; blocking, so it runs in a worker thread.

        Returns:
            The answer: intervals received and stored, and progress points
            received and stored when the batch had any.
        """
        now = self.clock()
        batch = _parse(body, now)
        if owner != (batch.cluster, batch.node):
            logger.warning(
                "ingest refused: token of node=%s cluster=%s reported for node=%s cluster=%s",
                escape_control(owner[1]),
                escape_control(owner[0]),
                escape_control(batch.node),
                escape_control(batch.cluster),
            )
            raise ApiError(
                403,
                f"this token reports for node {owner[1]!r} of cluster {owner[0]!r} only",
            )
        intervals, progress = batch.intervals, batch.progress
        with transaction(self.factory, write_lock=True) as session:
            _check_progress_jobs(session, batch)
            stored = ingest_batch(session, batch.cluster, batch.node, intervals, ids=self.ids)
            progress_stored = ingest_progress(session, batch.cluster, progress, ids=self.ids)
            if batch.health is not None:
                health = NodeHealth(batch.health.spool_backlog, batch.health.dead_letters, now)
                record_node_health(session, batch.cluster, batch.node, health)
        took_s = time.monotonic() - began
        if self.metrics is not None:
            self.metrics.batch(len(intervals), stored, took_s)
        logger.info(
            "ingest cluster=%s node=%s received=%d stored=%d progress=%d/%d duration_ms=%.1f",
            escape_control(batch.cluster),
            escape_control(batch.node),
            len(intervals),
            stored,
            progress_stored,
            len(progress),
            took_s * 1000,
        )
        answer = {"received": len(intervals), "stored": stored}
        if progress:
            answer |= {"progress_received": len(progress), "progress_stored": progress_stored}
        return answer


def _database_unavailable() -> Response:
    """A 503 telling the node when to try again (spread over 1..30 s)."""
    wait_s = random.randint(1, INGEST_RETRY_AFTER_MAX_S)  # noqa: S311 (spreading, not secrets)
    return JSONResponse(
        {"error": "database unavailable, retry later"}, 503, headers={"Retry-After": str(wait_s)}
    )
