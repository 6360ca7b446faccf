"""The fast road into columns takes only what ``Batch`` takes, with the same values."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings

from slurm_carbon.service.batch_columns import ValidBatch, fast_batch, parse_batch
from slurm_carbon.service.schemas import Batch
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
