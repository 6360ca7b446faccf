"""Cap decisions in the store: recorded once, in force per node, a job's timeline in order."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from slurm_carbon.channel import DECISION_CARRY_S
from slurm_carbon.store import add_intervals, get_or_create_device, upsert_job
from slurm_carbon.store.caps import (
    CapDecisionRecord,
    NodeCap,
    cap_timeline,
    caps_for_node,
    interval_caps,
    record_decision,
)
from slurm_carbon.vocabulary import DeviceKind
from tests.unit.store.conftest import Ids

T = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
GPU = "GPU-0f3c1c2e-aaaa-bbbb-cccc-000000000001"
HALF_HOUR = timedelta(minutes=30)


def decision(
    job_id: int, start: datetime = T, watts: float = 250.0, **changes: object
) -> CapDecisionRecord:
    record = CapDecisionRecord(
        job_id=job_id,
        device=GPU,
        period_start=start,
        period_end=start + HALF_HOUR,
        power_limit_w=watts,
        policy="carbon",
        reason="ci 420 g/kWh ahead, slowdown 1.1 % of 2.5 %",
        decided_at=start - timedelta(minutes=1),
    )
    return dataclasses.replace(record, **changes)  # type: ignore[arg-type]


def running_on(session: Session, ids: Ids, slurm_job_id: int, node_list: str | None) -> int:
    return upsert_job(session, ids.cluster_id, slurm_job_id, node_list=node_list).id


def test_a_decision_is_recorded_once(session: Session, ids: Ids) -> None:
    first = record_decision(session, decision(ids.job_id))
    again = record_decision(session, decision(ids.job_id, watts=180.0, reason="other"))
    other_gpu = record_decision(session, decision(ids.job_id, device=None))

    assert (first, again, other_gpu) == (True, False, True)
    assert cap_timeline(session, ids.job_id) == [
        decision(ids.job_id, device=None),
        decision(ids.job_id),
    ]


def test_the_timeline_is_in_period_order(session: Session, ids: Ids) -> None:
    later = decision(ids.job_id, T + HALF_HOUR, 300.0)
    record_decision(session, later)
    record_decision(session, decision(ids.job_id))

    assert [d.power_limit_w for d in cap_timeline(session, ids.job_id)] == [250.0, 300.0]
    assert cap_timeline(session, ids.job_id + 999) == []


def test_a_node_gets_the_decisions_in_force_for_its_running_jobs(
    session: Session, ids: Ids
) -> None:
    mine = running_on(session, ids, 501, "gpu[01-02]")
    elsewhere = running_on(session, ids, 502, "gpu03")
    unknown_nodes = running_on(session, ids, 503, None)
    ended = upsert_job(session, ids.cluster_id, 504, node_list="gpu01", end_time=T).id
    for job_id in (mine, elsewhere, unknown_nodes, ended):
        record_decision(session, decision(job_id))
    record_decision(session, decision(mine, T - HALF_HOUR, 200.0))  # over
    record_decision(session, decision(mine, T + HALF_HOUR, 300.0))  # not yet

    at = T + timedelta(minutes=10)
    assert caps_for_node(session, "tc", "gpu01", at) == [NodeCap(501, GPU, 250.0, T + HALF_HOUR)]
    assert caps_for_node(session, "tc", "gpu03", at) == [NodeCap(502, GPU, 250.0, T + HALF_HOUR)]
    assert caps_for_node(session, "other-cluster", "gpu01", at) == []
    assert caps_for_node(session, "tc", "gpu01", T + HALF_HOUR) == [
        NodeCap(501, GPU, 300.0, T + 2 * HALF_HOUR)
    ]


def test_the_latest_decision_wins_and_the_list_is_bounded(session: Session, ids: Ids) -> None:
    job = running_on(session, ids, 601, "gpu01")
    record_decision(session, decision(job, period_end=T + 2 * HALF_HOUR))
    record_decision(session, decision(job, T + timedelta(minutes=5), 150.0))
    record_decision(session, decision(job, device=None, watts=275.0))
    for n in range(3):
        record_decision(session, decision(running_on(session, ids, 700 + n, "gpu01")))

    at = T + timedelta(minutes=10)
    caps = caps_for_node(session, "tc", "gpu01", at)
    assert caps[:2] == [
        NodeCap(601, None, 275.0, T + HALF_HOUR),
        NodeCap(601, GPU, 150.0, T + timedelta(minutes=35)),
    ]
    assert [c.slurm_job_id for c in caps[2:]] == [700, 701, 702]
    assert caps_for_node(session, "tc", "gpu01", at, limit=3) == caps[:3]


def test_a_limit_must_be_positive_and_the_period_must_last(session: Session, ids: Ids) -> None:
    with pytest.raises(IntegrityError):
        record_decision(session, decision(ids.job_id, watts=0.0))
    session.rollback()
    with pytest.raises(IntegrityError):
        record_decision(session, decision(ids.job_id, period_end=T))


def test_interval_caps_are_the_gpus_mean_where_every_gpu_reported_one(
    session: Session, ids: Ids
) -> None:
    gpu2 = get_or_create_device(session, ids.node_id, "GPU-2", kind=DeviceKind.GPU, minor=1).id
    cpu = get_or_create_device(session, ids.node_id, "intel-rapl:0", kind=DeviceKind.CPU).id
    later, last = ids.t0 + timedelta(seconds=30), ids.t0 + timedelta(seconds=60)
    add_intervals(
        session,
        [
            dataclasses.replace(ids.interval(), cap_w=200.0),
            dataclasses.replace(ids.interval(), device_id=gpu2, cap_w=150.0),
            dataclasses.replace(ids.interval(), device_id=cpu),  # a CPU has no limit
            dataclasses.replace(ids.interval(later), cap_w=200.0),
            dataclasses.replace(ids.interval(later), device_id=gpu2),  # not known
            dataclasses.replace(ids.interval(last), device_id=cpu),
        ],
    )

    assert interval_caps(session, ids.job_id) == {ids.t0: 175.0}


def test_a_decision_holds_into_the_next_period_until_that_one_is_decided(
    session: Session, ids: Ids
) -> None:
    # The writer decides a period at its first sweep after the period starts: until
    # then the last decision stays in force (its lease extended), never a gap in which
    # an agent finds no cap and restores its GPU.
    job = running_on(session, ids, 801, "gpu01")
    record_decision(session, decision(job))
    carried_until = T + HALF_HOUR + timedelta(seconds=DECISION_CARRY_S)

    assert caps_for_node(session, "tc", "gpu01", T + HALF_HOUR) == [
        NodeCap(801, GPU, 250.0, carried_until)
    ]
    assert caps_for_node(session, "tc", "gpu01", carried_until - timedelta(seconds=1)) == [
        NodeCap(801, GPU, 250.0, carried_until)
    ]
    assert caps_for_node(session, "tc", "gpu01", carried_until) == []
    record_decision(session, decision(job, T + HALF_HOUR, 175.0))
    assert caps_for_node(session, "tc", "gpu01", T + HALF_HOUR + timedelta(seconds=5)) == [
        NodeCap(801, GPU, 175.0, T + 2 * HALF_HOUR)
    ]
