"""``POST /api/v1/intervals``: a node's batch of energy intervals.

Order of checks: a bearer token is present (401), the body's size (413), the
token is known and valid (401), the JSON (400), its fields (422, or 413 for too
many intervals), the token's node is the one the body names (403); then one
transaction writes the whole batch. Authentication comes before validation, so
only nodes learn what the service thinks of a body. The token is looked up in
a transaction of its own, before the write: a token revoked in between still
gets that one batch in.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from slurm_carbon.service.schemas import MAX_INTERVALS, Batch, first_error
from slurm_carbon.store import SessionFactory, ingest_batch, node_for_token, transaction

__all__ = ["MAX_BODY_BYTES", "ApiError", "IngestEndpoint"]

logger = logging.getLogger(__name__)

# 10,000 intervals take about 3 MB of JSON.
MAX_BODY_BYTES = 8 * 1024 * 1024


class ApiError(Exception):
    """An answer other than 200: status code and a one-line message for the client."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def _bearer_token(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "missing bearer token")
    return token.strip()


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused as soon as it is known to exceed ``limit`` bytes."""
    too_large = ApiError(413, f"request body over {limit} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)


def _parse(body: bytes) -> Batch:
    try:
        return Batch.model_validate_json(body)
    except ValidationError as err:
        kinds = {(e["type"], e["loc"]) for e in err.errors()}
        if any(kind == "json_invalid" for kind, _ in kinds):
            raise ApiError(400, f"malformed JSON: {err.errors()[0]['msg']}") from None
        if ("too_long", ("intervals",)) in kinds:
            raise ApiError(413, f"more than {MAX_INTERVALS} intervals in one batch") from None
        raise ApiError(422, first_error(err)) from None


@dataclass(frozen=True)
class IngestEndpoint:
    """The endpoint, bound to the store it writes to."""

    factory: SessionFactory
    max_body_bytes: int = MAX_BODY_BYTES

    async def handle(self, request: Request) -> Response:
        """Handle one POST."""
        token = _bearer_token(request)
        body = await _read_body(request, self.max_body_bytes)
        received, stored = await run_in_threadpool(self._ingest, token, body)
        return JSONResponse({"received": received, "stored": stored})

    def _ingest(self, token: str, body: bytes) -> tuple[int, int]:
        """Validate, authorise and write; blocking, so it runs in a worker thread."""
        began = time.monotonic()
        with transaction(self.factory) as session:
            owner = node_for_token(session, token)
        if owner is None:
            raise ApiError(401, "unknown or revoked token")
        batch = _parse(body)
        if owner != (batch.cluster, batch.node):
            logger.warning(
                "ingest refused: token of node=%s cluster=%s reported for node=%s cluster=%s",
                owner[1],
                owner[0],
                batch.node,
                batch.cluster,
            )
            raise ApiError(
                403,
                f"this token reports for node {owner[1]!r} of cluster {owner[0]!r} only",
            )
        intervals = [interval.to_store() for interval in batch.intervals]
        with transaction(self.factory) as session:
            stored = ingest_batch(session, batch.cluster, batch.node, intervals)
        logger.info(
            "ingest cluster=%s node=%s received=%d stored=%d duration_ms=%.1f",
            batch.cluster,
            batch.node,
            len(intervals),
            stored,
            (time.monotonic() - began) * 1000,
        )
        return len(intervals), stored
