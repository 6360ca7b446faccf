"""The caps the service decided for this node's jobs, held as leases.

The shipper pulls ``GET {service_url}/api/v1/caps`` every
:data:`~slurm_carbon.channel.CAP_POLL_S` on its own session (one place speaks
HTTP) and keeps the answer here; the
agent's tick reads it and hands it to the cap keeper
(:meth:`~slurm_carbon.agent.caps.CapKeeper.follow`). Each cap is a lease:
it holds until the decision's ``until`` (taken relative to the service's
``now``, so the node's clock does not matter) plus :data:`CAP_LEASE_GRACE_S`;
a lease not renewed by then ends and the GPU is restored, so a service that
cannot be reached never leaves a GPU capped for long. A pull that fails keeps
the last leases (they run out by themselves); the outage is logged once.
A job whose comment says ``carbon_cap=off`` (read by
:func:`slurm_carbon.accounting.job_words.parse_job_words`) is never capped, nor
one whose capping words cannot be read (``job_submit.lua`` refuses such a
comment, so it is not ours to guess).
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from slurm_carbon.accounting.job_words import BadJobWord, parse_job_words
from slurm_carbon.agent.handoff import JOB_ID_MAX, check_gpu_name
from slurm_carbon.channel import CAP_POLL_S
from slurm_carbon.text import escape_control

__all__ = [
    "CAPS_MAX",
    "CAPS_MAX_BYTES",
    "CAP_LEASE_GRACE_S",
    "CapFeed",
    "CapLease",
    "cap_refusal",
    "parse_caps",
]

logger = logging.getLogger(__name__)

#: How long after its ``until`` a lease not renewed still holds: two polls, so
#: one lost request or a service restart does not flip a GPU back and forth; a
#: service that stays away gets the GPU restored a minute after the decision ends.
CAP_LEASE_GRACE_S = 2 * CAP_POLL_S

#: Caps taken from one answer: the service sends at most MAX_CAPS (1024); more is
#: not from our service.
CAPS_MAX = 1024

#: The largest answer read: CAPS_MAX caps of about 150 bytes of JSON each is about
#: 150 kB; a larger body is not from our service and is not read further.
CAPS_MAX_BYTES = 256 * 1024

#: No GPU accepts a limit above this (the largest modules draw under 3 kW); a
#: larger value is not a decision.
_LIMIT_MAX_W = 10_000.0


def cap_refusal(comment: str) -> str | None:
    """Why a job with this comment is never capped, or None when it may be."""
    try:
        words = parse_job_words(comment)
    except BadJobWord as err:
        return f"its comment's capping words cannot be read ({escape_control(str(err))})"
    return None if words.cap else "opted out (carbon_cap=off)"


@dataclass(frozen=True)
class CapLease:
    """A decided cap, held until ``until_s``.

    Attributes:
        job_id: The Slurm job.
        gpu: The GPU's UUID, or None for every GPU the job holds.
        power_limit_w: Units: watts.
        until_s: When the lease ends, on the agent's clock, grace included.
            Units: seconds since the epoch.
    """

    job_id: int
    gpu: str | None
    power_limit_w: float
    until_s: float


def _time(value: object, name: str) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"{name} is not an ISO 8601 time")  # noqa: TRY004 - as _lease
    when = datetime.fromisoformat(value)
    if when.tzinfo is None:
        raise ValueError(f"{name} has no UTC offset")
    return when


def _lease(item: object, service_now: datetime, received_s: float) -> CapLease:
    if not isinstance(item, Mapping):
        raise ValueError("a cap is not an object")  # noqa: TRY004 - one error for any bad answer
    job_id, gpu, watts = item.get("job_id"), item.get("gpu"), item.get("power_limit_w")
    if isinstance(job_id, bool) or not isinstance(job_id, int) or not 1 <= job_id <= JOB_ID_MAX:
        raise ValueError(f"job_id {job_id!r} is not a Slurm job id")
    if gpu is not None:
        if not isinstance(gpu, str):
            raise ValueError("gpu is not a UUID")
        check_gpu_name(gpu)
    if isinstance(watts, bool) or not isinstance(watts, int | float):
        raise ValueError("power_limit_w is not a number")  # noqa: TRY004 - as _lease
    if not (math.isfinite(watts) and 0 < watts <= _LIMIT_MAX_W):
        raise ValueError(f"power_limit_w {watts!r} is not in (0, {_LIMIT_MAX_W:g}] W")
    left_s = (_time(item.get("until"), "until") - service_now).total_seconds()
    return CapLease(job_id, gpu, float(watts), received_s + left_s + CAP_LEASE_GRACE_S)


def parse_caps(answer: object, received_s: float) -> list[CapLease]:
    """The leases of a ``GET /api/v1/caps`` answer received at ``received_s``.

    Raises:
        ValueError: The answer is not what the service sends (at most
            :data:`CAPS_MAX` well-formed caps and the service's ``now``).
    """
    if not isinstance(answer, Mapping) or not isinstance(answer.get("caps"), list):
        raise ValueError('the answer has no "caps" list')  # noqa: TRY004 - as _lease
    caps = answer["caps"]
    if len(caps) > CAPS_MAX:
        raise ValueError(f"more than {CAPS_MAX} caps")
    service_now = _time(answer.get("now"), "now")
    return [_lease(item, service_now, received_s) for item in caps]


class CapFeed:
    """The latest leases, written by the shipper's thread and read by the agent's tick."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._leases: list[CapLease] = []
        self._failing = False

    def leases(self) -> list[CapLease]:
        """The leases of the last good answer (some may have run out)."""
        with self._lock:
            return list(self._leases)

    def received(self, answer: object, received_s: float) -> None:
        """Take an answer; one that is not well-formed keeps the last leases, logged once."""
        try:
            leases = parse_caps(answer, received_s)
        except ValueError as err:
            self.failed(f"bad answer: {err}")
            return
        with self._lock:
            self._leases = leases
        if self._failing:
            logger.warning("caps can be pulled again")
        self._failing = False

    def failed(self, reason: str) -> None:
        """A pull failed: the leases run out by themselves; logged once per outage."""
        if not self._failing:
            logger.warning(
                "cannot pull caps (%s): caps held until their leases run out",
                escape_control(reason[:300]),
            )
        self._failing = True
