"""Retry-After sized to the drain rate: refused nodes spread over the time to drain them."""

from __future__ import annotations

import random
import statistics
from collections import Counter

from slurm_carbon.service.admission import (
    ASSUMED_DRAIN_PER_S,
    DRAIN_WINDOW_S,
    MAX_HOLD_WAIT_S,
    DrainPacer,
)
from slurm_carbon.service.ingest import INGEST_RETRY_AFTER_MAX_S


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


def _pacer(clock: Clock, seed: int = 7) -> DrainPacer:
    return DrainPacer(INGEST_RETRY_AFTER_MAX_S, clock=clock, rng=random.Random(seed))  # noqa: S311 (spreading)


def _drain(pacer: DrainPacer, clock: Clock, rate_per_s: float, seconds: float) -> None:
    """Release held requests at ``rate_per_s`` for ``seconds``, the clock moving with them."""
    for _ in range(round(rate_per_s * seconds)):
        clock.now_s += 1 / rate_per_s
        pacer.released()


def test_an_idle_service_answers_one_second() -> None:
    clock = Clock()
    assert [_pacer(clock, seed).retry_after_s() for seed in range(20)] == [1] * 20


def test_a_burst_refused_at_a_measured_rate_is_spread_over_n_over_r() -> None:
    clock = Clock()
    pacer = _pacer(clock)
    pacer.retry_after_s()  # the first refusal: the service is full from here on
    _drain(pacer, clock, rate_per_s=20, seconds=2)

    waits = [pacer.retry_after_s() for _ in range(200)]

    # 200 nodes at 20 a second need 10 s: the last is told about 10 s, not 30.
    assert all(isinstance(w, int) for w in waits)
    assert min(waits) == 1
    assert 10 <= max(waits) <= 11
    assert abs(statistics.mean(waits) - 5.0) < 0.3
    per_second = Counter(waits)
    assert all(10 <= per_second[s] <= 30 for s in range(2, 11))  # about 20 in each second


def test_the_rate_is_counted_from_the_first_release_not_from_the_first_refusal() -> None:
    """A service filling its pipeline releases nothing for a while, then drains at its rate."""
    clock = Clock()
    pacer = _pacer(clock)
    pacer.retry_after_s()  # full: the held requests are still being read and parsed
    clock.now_s += 1.0  # the first batches take a second to come out
    _drain(pacer, clock, rate_per_s=60, seconds=1)

    waits = [pacer.retry_after_s() for _ in range(300)]

    # 300 nodes at 60 a second: 5 s. Counting the second before the first release
    # would halve the rate (30 a second) and make the last nodes wait 10 s, idle.
    assert 5 <= max(waits) <= 6
    assert abs(statistics.mean(waits) - 2.5) < 0.3


def test_a_slower_service_spreads_the_same_burst_wider() -> None:
    clock = Clock()
    pacer = _pacer(clock)
    pacer.retry_after_s()
    _drain(pacer, clock, rate_per_s=10, seconds=2)

    waits = [pacer.retry_after_s() for _ in range(200)]

    assert 20 <= max(waits) <= 21
    assert abs(statistics.mean(waits) - 10.0) < 0.5


def test_the_wait_never_passes_the_maximum() -> None:
    clock = Clock()
    pacer = _pacer(clock)
    pacer.retry_after_s()
    _drain(pacer, clock, rate_per_s=10, seconds=2)

    waits = [pacer.retry_after_s() for _ in range(1000)]  # 100 s of work at 10 a second

    assert max(waits) == INGEST_RETRY_AFTER_MAX_S
    assert min(waits) == 1
    # Beyond the maximum nodes are told the maximum, and come back for a new slot.
    assert waits.count(INGEST_RETRY_AFTER_MAX_S) > 600


def test_before_any_measure_a_burst_is_spread_at_the_assumed_rate() -> None:
    clock = Clock()
    pacer = _pacer(clock)

    waits = [pacer.retry_after_s() for _ in range(500)]

    span_s = 500 / ASSUMED_DRAIN_PER_S
    assert span_s <= max(waits) <= span_s + 1
    assert abs(statistics.mean(waits) - span_s / 2) < 0.3


def test_slots_already_promised_push_later_refusals_back() -> None:
    clock = Clock()
    pacer = _pacer(clock)
    pacer.retry_after_s()
    _drain(pacer, clock, rate_per_s=20, seconds=2)
    first = [pacer.retry_after_s() for _ in range(100)]  # slots up to 5 s ahead
    _drain(pacer, clock, rate_per_s=20, seconds=1)

    later = pacer.retry_after_s()

    assert max(first) in (5, 6)
    assert later in (4, 5)  # behind the 100 promised, 1 s closer to them


def test_releases_before_a_quiet_window_do_not_count() -> None:
    clock = Clock()
    pacer = _pacer(clock)
    pacer.retry_after_s()
    _drain(pacer, clock, rate_per_s=2, seconds=1)  # a slow trickle, long ago
    clock.now_s += DRAIN_WINDOW_S + 1

    waits = [pacer.retry_after_s() for _ in range(500)]

    # A fresh burst: the old 2 a second is not the rate; the assumed one is.
    assert max(waits) <= 500 / ASSUMED_DRAIN_PER_S + 1


def test_a_slow_service_holds_only_what_it_drains_before_the_nodes_give_up() -> None:
    """Draining 2 a second, 128 held would wait 64 s, past the agent's 30 s timeout."""
    clock = Clock()
    pacer = _pacer(clock)
    assert pacer.hold_bound(128) == 128  # nothing measured: the bound as set
    pacer.retry_after_s()
    _drain(pacer, clock, rate_per_s=2, seconds=4)

    assert pacer.hold_bound(128) == 2 * MAX_HOLD_WAIT_S
    assert pacer.hold_bound(10) == 10  # never above the bound set


def test_a_fast_service_holds_the_whole_bound() -> None:
    clock = Clock()
    pacer = _pacer(clock)
    pacer.retry_after_s()
    _drain(pacer, clock, rate_per_s=60, seconds=2)

    assert pacer.hold_bound(128) == 128


def test_a_service_out_of_congestion_holds_the_whole_bound() -> None:
    """Releases paced by a trickle of nodes are no measure of what the service can drain."""
    clock = Clock()
    pacer = _pacer(clock)
    _drain(pacer, clock, rate_per_s=0.5, seconds=20)  # a quiet cluster, nobody refused

    assert pacer.hold_bound(128) == 128
