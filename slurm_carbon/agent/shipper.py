"""Shipping closed intervals from the outbox to the service.

``POST {service_url}/api/v1/intervals`` with ``Authorization: Bearer <token>``
and ``{"cluster", "node", "intervals": [...], "progress": [...], "health":
{"spool_backlog", "dead_letters"}}`` (at most ``batch_max`` intervals and
:data:`PROGRESS_BATCH_MAX` progress points per request; ``progress`` only when
there are points; ``health``: rows left in the spool besides this batch and dead
letters kept, dropped for good, with a warning, once a service too old for it
refuses it with a 422 naming ``health``). Rows leave the outbox only
after a 200. Connection errors, 5xx, 408 and 429 are retried with exponential
backoff and jitter (429's ``Retry-After`` honoured, up to
:data:`RETRY_AFTER_MAX_S`). 401/403 (a rotated or wrong token, the operator's
to fix) are retried for :data:`AUTH_RETRY_MAX_S`, so the data survives a token
rotation, then the batches refused for it are dead-lettered: no 4xx is retried
forever. Any other 4xx refuses something in the batch, and 413 its size: the
batch is halved until the refused interval is alone (one bad interval does not
take 999 good ones with it), and that one moves to ``dead_letter`` with the
service's error message; the outbox goes on. A refused batch that held progress
points is followed by the points alone: if they are refused they are
dead-lettered together, and the intervals go on alone (halved as above) until
the refused ones are set apart. An outage is logged once when it starts and
once when it ends.

The shipper has its own SQLite connection and runs on its own thread, so a
slow or absent service never delays sampling. On the same session it pulls the
node's caps (``GET {service_url}/api/v1/caps``) every
:data:`~slurm_carbon.channel.CAP_POLL_S`, whatever the outbox's backoff,
into :attr:`Shipper.caps` (see :mod:`slurm_carbon.agent.capfeed`).
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import requests
import urllib3

from slurm_carbon.agent.capfeed import CAPS_MAX_BYTES, CapFeed
from slurm_carbon.agent.spool import OutboxRow, ProgressRow, Spool
from slurm_carbon.channel import CAP_POLL_S
from slurm_carbon.text import escape_control

__all__ = [
    "AUTH_RETRY_MAX_S",
    "PROGRESS_BATCH_MAX",
    "RETRY_AFTER_MAX_S",
    "Shipper",
    "interval_json",
    "iso_utc",
    "progress_json",
]

logger = logging.getLogger(__name__)

#: Timeout and rate limit: the service asks to try again later, not to give up.
_RETRY_LATER = {408, 429}
_AUTH = {401, 403}

#: How long 401/403 are retried before the batches are dead-lettered: a day lets an
#: operator notice the logged outage and rotate the node's token (dead letters are
#: kept in agent.db, not lost).
AUTH_RETRY_MAX_S = 24 * 3600.0

#: The longest ``Retry-After`` obeyed: a service asking for more is misconfigured,
#: and ten minutes keeps a node's intervals flowing soon after it recovers.
RETRY_AFTER_MAX_S = 600.0

#: Progress points per request: the agent spools at most one per job per 5 s, so
#: this drains an hour's backlog of a node's 100 jobs in 72 requests, and stays
#: far below the service's MAX_PROGRESS (10,000).
PROGRESS_BATCH_MAX = 1000


def iso_utc(t_s: float) -> str:
    """ISO-8601 with offset, e.g. ``2026-11-23T15:00:00+00:00``."""
    return datetime.fromtimestamp(t_s, UTC).isoformat()


def interval_json(row: OutboxRow) -> dict[str, object]:
    """One interval as the wire format has it (``cap_w``, ``busy_clock_mhz`` only when known)."""
    body: dict[str, object] = {
        "job_id": row.job_id,
        "device": row.device.as_wire(),
        "start": iso_utc(row.start_s),
        "end": iso_utc(row.end_s),
        "energy_j": max(row.energy_j, 0.0),
        "method": row.method,
        "sharing": row.sharing,
    }
    if row.cap_w is not None:
        body["cap_w"] = row.cap_w
    if row.busy_clock_mhz is not None:
        body["busy_clock_mhz"] = row.busy_clock_mhz
    return body


def progress_json(row: ProgressRow) -> dict[str, object]:
    """One progress point as the wire format has it."""
    return {"job_id": row.job_id, "time": iso_utc(row.time_s), "fraction": row.fraction}


def _retry_after_s(value: str | None, now_s: float) -> float | None:
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - now_s, 0.0)


def _error_message(response: requests.Response) -> str:
    return _message(response.content)


def _message(content: bytes) -> str:
    """The service's ``error``, else the body, escaped and cut to 500 characters."""
    text = content.decode("utf-8", "replace")
    try:
        body = json.loads(text)
    except ValueError:
        return escape_control(text[:500])
    if isinstance(body, dict) and "error" in body:
        return escape_control(str(body["error"])[:500])
    return escape_control(str(body)[:500])


class Shipper:
    """Delivers the outbox of ``agent.db``.

    Args:
        db_path: ``$STATE/agent.db`` (opened lazily, in the shipping thread).
        service_url: e.g. ``https://carbon.example.org``.
        token: The node's bearer token.
        cluster: The cluster name.
        node: This node's short host name.
        session: The HTTP session (inject one with a test adapter).
        timeout_s: (connect, read) timeouts. Units: seconds.
        batch_max: Intervals per request.
        backoff_s: First retry delay; doubles per failure up to ``backoff_max_s``.
        clock: Wall clock, for dead letters and ``Retry-After`` dates.
        jitter: Returns a float in [0, 1); the delay is scaled by ``0.5 + jitter/2``.
    """

    def __init__(  # noqa: PLR0913 - every knob is injected for tests
        self,
        db_path: Path,
        *,
        service_url: str,
        token: str,
        cluster: str,
        node: str,
        session: requests.Session,
        timeout_s: tuple[float, float] = (5.0, 30.0),
        batch_max: int = 1000,
        backoff_s: float = 1.0,
        backoff_max_s: float = 300.0,
        clock: Callable[[], float] = time.time,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.db_path = db_path
        self.url = service_url.rstrip("/") + "/api/v1/intervals"
        self.caps_url = service_url.rstrip("/") + "/api/v1/caps"
        self.caps = CapFeed()
        self.cluster = cluster
        self.node = node
        self.session = session
        self.timeout_s = timeout_s
        self.batch_max = batch_max
        self._batch = batch_max
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.clock = clock
        self.jitter = jitter
        self._headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self._spool: Spool | None = None
        self._failures = 0
        self._outage_since: float | None = None
        self._auth_refused_since: float | None = None
        # Outbox ids up to this one were in a refused batch: send them in halves.
        self._suspect_until_id: int | None = None
        # A refused batch held progress points: send them alone next.
        self._progress_suspect = False
        # Cleared when the service is too old to take the spool's health.
        self._send_health = True
        #: When the service last accepted a batch (seconds since the epoch), or None.
        self.last_ship_s: float | None = None

    @property
    def spool(self) -> Spool:
        """The shipper's own connection to ``agent.db``."""
        if self._spool is None:
            self._spool = Spool(self.db_path)
        return self._spool

    def close(self) -> None:
        """Close the connection."""
        if self._spool is not None:
            self._spool.close()
            self._spool = None

    def _backoff(self) -> float:
        delay = min(self.backoff_max_s, self.backoff_s * 2.0 ** min(self._failures, 30))
        self._failures += 1
        return delay * (0.5 + self.jitter() / 2)

    def _outage(self, reason: str) -> None:
        if self._outage_since is None:
            self._outage_since = self.clock()
            logger.warning(
                "service %s unavailable (%s): intervals stay spooled, retrying with backoff",
                self.url,
                reason,
            )

    def _recovered(self) -> None:
        if self._outage_since is not None:
            logger.warning(
                "service %s available again after %.0f s and %d failed attempts",
                self.url,
                self.clock() - self._outage_since,
                self._failures,
            )
        self._outage_since = None
        self._failures = 0

    def ship_once(self) -> float | None:
        """Send one batch.

        Returns:
            ``0.0`` when more is waiting, a delay before the next attempt
            after a failure (seconds), or ``None`` when the outbox is empty.
        """
        rows = [] if self._progress_suspect else self.spool.outbox(self._batch)
        points: list[ProgressRow] = []
        if self._progress_suspect or self._suspect_until_id is None:
            points = self.spool.progress(PROGRESS_BATCH_MAX)
        self._progress_suspect = False
        if not rows and not points:
            return None
        body: dict[str, object] = {
            "cluster": self.cluster,
            "node": self.node,
            "intervals": [interval_json(row) for row in rows],
        }
        if points:
            body["progress"] = [progress_json(point) for point in points]
        if self._send_health:
            waiting, dead_letters = self.spool.health()
            backlog = max(waiting - len(rows) - len(points), 0)
            body["health"] = {"spool_backlog": backlog, "dead_letters": dead_letters}
        try:
            response = self.session.post(
                self.url, data=json.dumps(body), headers=self._headers, timeout=self.timeout_s
            )
        except requests.RequestException as err:
            self._outage(f"{type(err).__name__}: {err}")
            return self._backoff()
        status = response.status_code
        if status == 200:
            self.spool.delete_outbox([row.id for row in rows], [point.id for point in points])
            self.last_ship_s = self.clock()
            self._recovered()
            self._auth_refused_since = None
            self._passed(rows)
            return 0.0 if self.spool.outbox_count() or self.spool.progress(1) else None
        if status in _AUTH:
            return self._auth_refused(rows, points, body, status, _error_message(response))
        if status >= 500 or status in _RETRY_LATER or status < 400:
            return self._retry_later(response)
        return self._refused(rows, points, body, status, _error_message(response))

    def _refused(
        self,
        rows: list[OutboxRow],
        points: list[ProgressRow],
        body: dict[str, object],
        status: int,
        message: str,
    ) -> float:
        """Set apart what was refused: progress points alone, then intervals in halves.

        The refused interval, once alone, is dead-lettered; so are progress
        points refused on their own. A service too old for the spool's health
        gets the same batch again without it.
        """
        if status == 422 and "health" in body and message.startswith("health"):
            logger.warning(
                "service refused this agent's spool health (%s): an older service; "
                "batches go on without it",
                message,
            )
            self._send_health = False
            return 0.0
        if points and rows:
            self._progress_suspect = True
            self._suspect_until_id = max(self._suspect_until_id or 0, rows[-1].id)
            return 0.0
        if not rows or len(rows) == 1:
            self._dead_letter(rows, points, body, status, message)
            return 0.0
        if self._suspect_until_id is None:
            logger.warning(
                "service refused %d intervals with HTTP %d: %s; sending them in halves "
                "to set the refused ones apart",
                len(rows),
                status,
                message,
            )
        self._suspect_until_id = max(self._suspect_until_id or 0, rows[-1].id)
        self._batch = max(1, len(rows) // 2)
        return 0.0

    def _retry_later(self, response: requests.Response) -> float:
        """The delay before the next attempt: backoff, or a 429's capped ``Retry-After``."""
        self._outage(f"HTTP {response.status_code}: {_error_message(response)}")
        delay = self._backoff()
        if response.status_code == 429:
            retry_after = _retry_after_s(response.headers.get("Retry-After"), self.clock())
            if retry_after is not None:
                delay = min(retry_after, RETRY_AFTER_MAX_S)
        return delay

    def _passed(self, rows: list[OutboxRow]) -> None:
        """Grow the batch again: doubled while rows of a refused batch remain, else full.

        Halving on refusal and doubling on success isolates one bad interval
        among ``n`` in ``O(log n)`` requests.
        """
        if not rows:
            return
        if self._suspect_until_id is None or rows[-1].id >= self._suspect_until_id:
            self._suspect_until_id = None
            self._batch = self.batch_max
        else:
            self._batch = min(self.batch_max, self._batch * 2)

    def _dead_letter(
        self,
        rows: list[OutboxRow],
        points: list[ProgressRow],
        body: dict[str, object],
        status: int,
        message: str,
    ) -> None:
        logger.error(
            "service refused %d intervals and %d progress points with HTTP %d: %s; "
            "kept in dead_letter",
            len(rows),
            len(points),
            status,
            message,
        )
        self.spool.dead_letter(
            [row.id for row in rows],
            body,
            status=status,
            error=message,
            t_s=self.clock(),
            progress_ids=[point.id for point in points],
        )
        self._passed(rows)

    def _auth_refused(
        self,
        rows: list[OutboxRow],
        points: list[ProgressRow],
        body: dict[str, object],
        status: int,
        message: str,
    ) -> float:
        """Retry a refused token for :data:`AUTH_RETRY_MAX_S`, then dead-letter."""
        now = self.clock()
        if self._auth_refused_since is None:
            self._auth_refused_since = now
            logger.error(
                "service refuses this node's token (HTTP %d: %s): fix the token file; "
                "intervals are kept and retried for %.0f h, then dead-lettered",
                status,
                message,
                AUTH_RETRY_MAX_S / 3600,
            )
        if now - self._auth_refused_since < AUTH_RETRY_MAX_S:
            self._outage(f"HTTP {status}: {message}")
            return self._backoff()
        self._dead_letter(rows, points, body, status, message)
        return 0.0

    def pull_caps(self) -> None:
        """Ask the service for this node's caps, into :attr:`caps`; never raises for HTTP."""
        try:
            with self.session.get(
                self.caps_url, headers=self._headers, timeout=self.timeout_s, stream=True
            ) as response:
                body = response.raw.read(CAPS_MAX_BYTES + 1, decode_content=True)
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as err:
            self.caps.failed(f"{type(err).__name__}: {err}")
            return
        if len(body) > CAPS_MAX_BYTES:
            self.caps.failed(f"answer over {CAPS_MAX_BYTES} bytes")
            return
        if response.status_code != 200:
            self.caps.failed(f"HTTP {response.status_code}: {_message(body)}")
            return
        try:
            answer = json.loads(body)
        except ValueError as err:
            self.caps.failed(f"not JSON: {err}")
            return
        self.caps.received(answer, self.clock())

    def run(self, stop: threading.Event, idle_s: float = 5.0) -> None:
        """Ship and pull caps until ``stop`` is set; an unexpected error is logged, never fatal."""
        next_ship = next_pull = time.monotonic()
        while not stop.is_set():
            now = time.monotonic()
            if now >= next_pull:
                next_pull = now + CAP_POLL_S
                try:
                    self.pull_caps()
                except Exception:
                    logger.exception("cap pull error (retrying)")
            if now >= next_ship:
                try:
                    delay = self.ship_once()
                except Exception:
                    logger.exception("shipper error (retrying)")
                    delay = self._backoff()
                next_ship = now + (idle_s if delay is None else delay)
            stop.wait(max(0.0, min(next_ship, next_pull) - time.monotonic()))
        self.close()
