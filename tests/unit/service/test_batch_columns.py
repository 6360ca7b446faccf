"""The fast road into columns takes only what ``Batch`` takes, with the same values."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from pydantic import ValidationError

from slurm_carbon.service.batch_columns import ValidBatch, fast_batch, parse_batch
from slurm_carbon.service.schemas import Batch, first_error
from slurm_carbon.store.ingest import IntervalColumns
from tests.unit.service.conftest import CLUSTER, NODE, NOW, interval
from tests.unit.service.test_hostile_ingest import (
    _MUTATIONS,
    CATALOGUE,
    Hostile,
    Mutation,
    _generated_body,
)

CPU = {"uuid": "intel-rapl:0", "kind": "cpu", "minor": 0}
RANGED = {"uuid": "GPU-b", "kind": "gpu", "min_limit_w": 100.0, "max_limit_w": 300.0}


def _as_batch(body: bytes) -> ValidBatch:
    """What ``Batch`` makes of ``body``, in the fast road's form."""
    slow = Batch.model_validate_json(body, context={"now": NOW})
    return ValidBatch(
        slow.cluster,
        slow.node,
        IntervalColumns.of([i.to_store() for i in slow.intervals]),
        [p.to_store() for p in slow.progress],
        slow.health,
    )


def _agents_batch() -> bytes:
    """A batch as the agent sends one: GPUs with caps and ranges, a CPU, progress, health."""
    intervals = [
        interval(0, cap_w=250.0, busy_clock_mhz=900.0),
        interval(0, device=RANGED, energy_j=-0.0),
        interval(0, device=CPU, job_id=124),
        interval(1, device={"uuid": "GPU-b", "kind": "gpu"}),
    ]
    progress = [{"job_id": 123, "time": "2026-11-23T15:01:00Z", "fraction": 0.25}]
    health = {"spool_backlog": 12, "dead_letters": 0}
    body = {"cluster": CLUSTER, "node": NODE, "intervals": intervals}
    return json.dumps(body | {"progress": progress, "health": health}).encode()


def test_an_agents_batch_takes_the_fast_road_with_batchs_values() -> None:
    body = _agents_batch()

    fast = fast_batch(body, NOW)

    assert fast == _as_batch(body)
    gpu_a = interval()["device"]["uuid"]
    assert fast is not None
    assert fast.intervals.device_uuid == [gpu_a, "GPU-b", "intel-rapl:0", "GPU-b"]
    # GPU-b once, with the range it was given; -0.0 J stored as 0.0.
    assert [(d.uuid, d.min_limit_w) for d in fast.intervals.devices][1] == ("GPU-b", 100.0)
    assert len(fast.intervals.devices) == 3
    assert str(fast.intervals.energy_j[1]) == "0.0"
    assert fast.health is not None
    assert fast.health.spool_backlog == 12


def test_a_time_with_an_offset_is_left_to_batch_and_stored_in_utc() -> None:
    row = interval(0, start="2026-11-23T16:00:00+01:00", end="2026-11-23T16:01:00+01:00")
    body = json.dumps({"cluster": CLUSTER, "node": NODE, "intervals": [row]}).encode()

    assert fast_batch(body, NOW) is None
    batch = parse_batch(body, NOW)

    assert batch.intervals.start == [datetime(2026, 11, 23, 15, 0, tzinfo=UTC)]
    assert batch == _as_batch(body)


@pytest.mark.parametrize("case", CATALOGUE, ids=[c.name for c in CATALOGUE])
def test_no_payload_batch_refuses_takes_the_fast_road(case: Hostile) -> None:
    assert fast_batch(case.body, NOW) is None


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(mutations=_MUTATIONS)
def test_a_mutated_batch_on_the_fast_road_is_what_batch_makes_of_it(
    mutations: list[Mutation],
) -> None:
    body = _generated_body(mutations)

    fast = fast_batch(body, NOW)

    if fast is not None:
        assert fast == _as_batch(body)


def _body_of(*rows: dict[str, Any]) -> bytes:
    return json.dumps({"cluster": CLUSTER, "node": NODE, "intervals": list(rows)}).encode()


def _gpu(**fields: Any) -> dict[str, Any]:
    return {"uuid": "GPU-b", "kind": "gpu", "model": "A100", "minor": 1} | fields


@pytest.mark.parametrize(
    ("devices", "chosen"),
    [
        # No range given: the first description wins.
        ([_gpu(), _gpu(model="H100"), _gpu()], (None, "A100")),
        # The last description given with a range wins, wherever it stands.
        (
            [_gpu(min_limit_w=100.0, max_limit_w=300.0), _gpu(min_limit_w=150, max_limit_w=400)]
            + [_gpu(model="H100")],
            (150.0, "A100"),
        ),
        ([_gpu(model="H100"), _gpu(min_limit_w=100.0, max_limit_w=300.0), _gpu()], (100.0, "A100")),
    ],
    ids=["first-without-range", "last-with-range", "range-in-the-middle"],
)
def test_a_uuid_described_twice_in_a_body_is_what_batch_makes_of_it(
    devices: list[dict[str, Any]], chosen: tuple[float | None, str]
) -> None:
    body = _body_of(*(interval(i, device=device) for i, device in enumerate(devices)))

    fast = fast_batch(body, NOW)

    assert fast is not None
    assert fast == _as_batch(body)
    assert [(d.min_limit_w, d.model) for d in fast.intervals.devices] == [chosen]


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        # true and 1.0 are equal to 1 in Python, but Batch refuses both.
        ({"minor": True}, "intervals[2].device.minor: Input should be a valid integer"),
        ({"minor": 1.0}, "intervals[2].device.minor: Input should be a valid integer"),
        ({"min_limit_w": True, "max_limit_w": 300.0}, "intervals[2].device.min_limit_w: Input"),
        ({"model": "A1\x1b00"}, "intervals[2].device.model: must not contain"),
        ({"cap": 1}, "intervals[2].device.cap: Extra inputs are not permitted"),
    ],
    ids=["minor-true", "minor-float", "limit-true", "model-control", "extra-field"],
)
def test_a_bad_copy_of_a_repeated_device_is_refused_with_batchs_words(
    bad: dict[str, Any], error: str
) -> None:
    good = _gpu(min_limit_w=1.0, max_limit_w=300.0)
    body = _body_of(*(interval(i, device=good) for i in range(2)), interval(2, device=good | bad))

    assert fast_batch(body, NOW) is None
    with pytest.raises(ValidationError) as refused:
        parse_batch(body, NOW)

    assert first_error(refused.value).startswith(error)


def test_a_time_repeated_in_a_body_is_read_as_batch_reads_each() -> None:
    # One instant written two ways; the progress point reuses an interval's text.
    rows = [interval(0, end="2026-11-23T15:01:00Z"), interval(1)]
    points = [{"job_id": 123, "time": "2026-11-23T15:01:00+00:00", "fraction": 0.5}]
    body = json.dumps({"cluster": CLUSTER, "node": NODE, "intervals": rows, "progress": points})

    fast = fast_batch(body.encode(), NOW)

    assert fast is not None
    assert fast == _as_batch(body.encode())
    assert (
        fast.intervals.end[0]
        == fast.intervals.start[1]
        == datetime(2026, 11, 23, 15, 1, tzinfo=UTC)
    )
    assert fast.progress[0].time == fast.intervals.start[1]


@pytest.mark.parametrize("when", ["1700000000", "2026-11-23T15:00:00", "2026-11-25T15:00:00Z"])
def test_a_bad_time_repeated_in_a_body_is_refused(when: str) -> None:
    body = _body_of(interval(0), interval(1, start=when), interval(2, start=when))

    assert fast_batch(body, NOW) is None
    with pytest.raises(ValidationError) as refused:
        parse_batch(body, NOW)

    assert first_error(refused.value).startswith("intervals[1].start: ")


def test_energy_is_bounded_by_each_intervals_own_length() -> None:
    # 200 kJ: within 10 kW over a minute, beyond it over the 10 s interval beside it.
    short = {"start": "2026-11-23T15:05:00Z", "end": "2026-11-23T15:05:10Z"}
    within = _body_of(interval(0, energy_j=200_000.0), interval(5, **short))
    beyond = _body_of(interval(0), interval(5, **short, energy_j=200_000.0))

    fast = fast_batch(within, NOW)

    assert fast is not None
    assert fast.intervals.energy_j == [200_000.0, 17.5]
    assert fast_batch(beyond, NOW) is None
    with pytest.raises(ValidationError) as refused:
        parse_batch(beyond, NOW)
    assert first_error(refused.value) == (
        "intervals[1].energy_j: more than 10000 W over the interval's 10 s"
    )
