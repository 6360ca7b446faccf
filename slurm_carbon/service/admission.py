"""How long a refused node should wait: ``Retry-After`` sized to the service's drain rate.

A service holding as many ingests as it may refuses the next with 429. Each
refusal is promised a slot in the future: the service releases held requests
at a measured rate ``R`` (releases per second), so the ``k``-th node refused in
a burst is told to come back ``k / R`` seconds later, behind the slots already
promised. ``N`` nodes refused at once are thus spread over the ``N / R``
seconds the service needs for them, instead of over a fixed window whatever
the load. The wait is between 1 s and ``max_s``; nodes beyond ``max_s`` are
told ``max_s`` and get a new slot when they come back.

The rate counts the releases of the current congestion (after its first
refusal, at most :data:`DRAIN_WINDOW_S` back): releases before it were paced by
the nodes, not by the service. It is measured from the first of them to now:
``n`` releases make ``n - 1`` gaps over that time. Not from the first refusal:
a service that has just filled up is still reading and parsing its held
requests and releases nothing for a while, and counting that time would halve
its rate, promise the last nodes slots twice too late, and leave the service
idle while they wait. A service that stops releasing still slows the rate, as
``now`` moves on. Until a rate is measured (less than :data:`MIN_RATE_SPAN_S`
since the first release, or fewer than :data:`MIN_RATE_RELEASES` releases) it is
:data:`ASSUMED_DRAIN_PER_S`.

While congested, the service also holds no more requests than it drains in
:data:`MAX_HOLD_WAIT_S` at that rate (:meth:`DrainPacer.hold_bound`): a
database slowed to 2 batches a second would keep 128 held requests waiting
64 s, past the agent's 30 s timeout, and each node would send its batch again
while the first was still to be written: work done twice, on a service that
has the least to spare. Outside congestion the releases are paced by the nodes,
not by the service, and say nothing of what it can hold.

``Retry-After`` is whole seconds (HTTP), so a slot ``w`` seconds ahead is told
``floor(w + u)`` with ``u`` uniform in ``[0, 1)``: 2.3 s is 3 for 30 % of nodes
and 2 for the rest, so as many nodes come back in each second as the rate
says, on average. Within a second, nodes come back as spread as they were
refused.
"""

from __future__ import annotations

import math
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = [
    "ASSUMED_DRAIN_PER_S",
    "DRAIN_WINDOW_S",
    "MAX_HOLD_WAIT_S",
    "MIN_RATE_RELEASES",
    "MIN_RATE_SPAN_S",
    "DrainPacer",
]

#: The releases the rate is measured over: 5 s holds hundreds of releases at the
#: tens a second a busy service drains, and follows a database that slows down
#: within seconds. A service that refused nobody for this long is not congested.
DRAIN_WINDOW_S = 5.0
#: Releases over less time than this are no rate yet: the first held requests of
#: a burst come out of the worker threads together, and fewer would be a guess.
MIN_RATE_SPAN_S = 0.5
#: Fewer releases than this in the window are no rate.
MIN_RATE_RELEASES = 2
#: The rate before one is measured, in released requests a second. Optimistic on
#: purpose: a node told too early is refused again, at the cost of one small
#: request, and gets a measured slot; a node told too late leaves the service
#: idle. The service alone takes about 80 one-hour batches of 12 devices a second
#: on a 2-core machine (README, Ingest at scale).
ASSUMED_DRAIN_PER_S = 100.0
#: The longest a held request should wait for its turn at the drain rate: a third
#: of the agent's 30 s read timeout, so a batch held is written and answered before
#: its node gives up on it and sends it again, with room for the write itself.
MAX_HOLD_WAIT_S = 10


@dataclass
class DrainPacer:
    """Promises each refused node a slot after those already promised, at the drain rate.

    ``max_s`` is the longest wait told; ``clock`` is monotonic seconds; ``rng``
    rounds a slot to whole seconds. Used from one thread (the event loop).
    Units: seconds, releases per second.
    """

    max_s: int
    clock: Callable[[], float] = time.monotonic
    rng: random.Random = field(default_factory=random.Random)
    _releases: deque[float] = field(default_factory=deque, init=False, repr=False)
    _congested_since_s: float = field(default=-math.inf, init=False, repr=False)
    _last_refusal_s: float = field(default=-math.inf, init=False, repr=False)
    _next_free_s: float = field(default=-math.inf, init=False, repr=False)

    def released(self) -> None:
        """A held request has left: its slot is free."""
        now_s = self.clock()
        self._releases.append(now_s)
        while self._releases[0] < now_s - DRAIN_WINDOW_S:
            self._releases.popleft()

    def drain_per_s(self, now_s: float) -> float:
        """The measured release rate of the current congestion, or the assumed one."""
        since_s = max(self._congested_since_s, now_s - DRAIN_WINDOW_S)
        released = [t for t in self._releases if t > since_s]
        if len(released) < MIN_RATE_RELEASES or now_s - released[0] < MIN_RATE_SPAN_S:
            return ASSUMED_DRAIN_PER_S
        return (len(released) - 1) / (now_s - released[0])

    def hold_bound(self, bound: int) -> int:
        """Requests to hold at most: ``bound``, or fewer while congested and draining slowly.

        While congested (a refusal within :data:`DRAIN_WINDOW_S`), what the measured
        rate drains in :data:`MAX_HOLD_WAIT_S`, at least 1.
        """
        now_s = self.clock()
        if now_s - self._last_refusal_s > DRAIN_WINDOW_S:
            return bound
        return max(1, min(bound, math.floor(self.drain_per_s(now_s) * MAX_HOLD_WAIT_S)))

    def retry_after_s(self) -> int:
        """Whole seconds a node refused now should wait: its slot, 1 to ``max_s``."""
        now_s = self.clock()
        if now_s - self._last_refusal_s > DRAIN_WINDOW_S:
            self._congested_since_s = now_s
        self._last_refusal_s = now_s
        slot_s = max(self._next_free_s, now_s) + 1 / self.drain_per_s(now_s)
        self._next_free_s = min(slot_s, now_s + self.max_s)
        whole_s = math.floor(self._next_free_s - now_s + self.rng.random())
        return min(max(whole_s, 1), self.max_s)
