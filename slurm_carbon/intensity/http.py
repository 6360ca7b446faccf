"""JSON over HTTP for the live providers: timeouts, retries, Retry-After, one-line errors.

Every failure becomes :class:`~slurm_carbon.errors.IntensityUnavailable` whose
message is one line naming the provider and the cause; the ``requests`` error
stays as ``__cause__``. 5xx answers and timeouts are retried with exponential
backoff; a 429 waits for its ``Retry-After`` (capped) before the next try.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from slurm_carbon.errors import IntensityUnavailable

__all__ = ["HttpPolicy", "JsonClient", "Unauthorized"]

logger = logging.getLogger(__name__)


class Unauthorized(IntensityUnavailable):
    """The provider refused the credentials (HTTP 401/403)."""


@dataclass(frozen=True, slots=True)
class HttpPolicy:
    """How hard to try. Units: seconds.

    Attributes:
        timeout_s: Connect and read timeout of each request.
        attempts: Tries in all for a retryable failure (5xx, timeout, 429).
        backoff_s: Wait before the second try; doubled for each further one.
        max_retry_after_s: A 429's ``Retry-After`` longer than this is not waited
            for: the request fails at once.
    """

    timeout_s: float = 10.0
    attempts: int = 3
    backoff_s: float = 1.0
    max_retry_after_s: float = 60.0


class JsonClient:
    """GETs and POSTs JSON for one provider.

    Args:
        provider: The provider's name, for messages.
        session: The ``requests`` session to use (injected; tests pass their own).
        policy: Timeouts and retries.
        sleep: Waits between tries (tests pass a recorder).
    """

    def __init__(
        self,
        provider: str,
        session: requests.Session,
        policy: HttpPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.provider = provider
        self.session = session
        self.policy = policy or HttpPolicy()
        self._sleep = sleep

    def get(
        self,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> Any:
        """The decoded JSON body of a GET.

        Raises:
            Unauthorized: 401 or 403.
            IntensityUnavailable: any other failure, after the retries.
        """
        policy = self.policy
        delay = policy.backoff_s
        for attempt in range(1, policy.attempts + 1):
            try:
                response = self.session.get(
                    url,
                    params=dict(params or {}),
                    headers=dict(headers or {}),
                    auth=auth,
                    timeout=policy.timeout_s,
                )
            except requests.Timeout as err:
                failure = _Retry(f"timed out after {policy.timeout_s:g} s", delay, err)
            except requests.RequestException as err:
                failure = _Retry(f"request failed: {_one_line(err)}", delay, err)
            else:
                answer = self._judge(response, delay)
                if not isinstance(answer, _Retry):
                    return answer
                failure = answer
            if attempt == policy.attempts:
                raise IntensityUnavailable(f"{self.provider}: {failure.cause}") from failure.error
            logger.debug(
                "%s: try %d failed (%s), retrying in %.1f s",
                self.provider,
                attempt,
                failure.cause,
                failure.wait_s,
            )
            self._sleep(failure.wait_s)
            delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    def _judge(self, response: requests.Response, delay: float) -> Any:
        """The JSON of a good answer, a :class:`_Retry` for a passing failure; raises otherwise."""
        status = response.status_code
        if status in (401, 403):
            raise Unauthorized(f"{self.provider}: HTTP {status}, credentials refused")
        if status == 429:
            wait = _retry_after(response, default=delay)
            if wait > self.policy.max_retry_after_s:
                raise IntensityUnavailable(
                    f"{self.provider}: HTTP 429, rate limited (retry after {wait:g} s)"
                )
            return _Retry(f"HTTP 429, rate limited (retry after {wait:g} s)", wait, None)
        if status >= 500:
            return _Retry(f"HTTP {status} from the server", delay, None)
        if status >= 400:
            raise IntensityUnavailable(f"{self.provider}: HTTP {status}: {_short(response.text)}")
        try:
            return response.json()
        except ValueError as err:
            raise IntensityUnavailable(f"{self.provider}: malformed JSON in the answer") from err


@dataclass(frozen=True, slots=True)
class _Retry:
    """A failure worth another try, after ``wait_s`` seconds."""

    cause: str
    wait_s: float
    error: BaseException | None


def _retry_after(response: requests.Response, default: float) -> float:
    header = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(header))
    except ValueError:
        return default  # an HTTP date, or nothing: our own backoff


def _one_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:200] if text else type(err).__name__


def _short(text: str) -> str:
    return " ".join(text.split())[:120] or "(empty body)"
