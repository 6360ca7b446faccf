"""On the real cluster: a cap the service decided reaches the agent, is applied and recorded.

Shims -> agent (simulated GPUs) -> service -> PostgreSQL, and back: a decision
stored for a running job is pulled by the agent (``GET /api/v1/caps``), applied
on the job's GPU, reported with its intervals (``cap_w``) and undone at job
end; a job that said ``carbon_cap=off`` is left alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest

from slurm_carbon.sensors.sim import state_path
from slurm_carbon.store import Session, make_engine, session_factory, upsert_job
from slurm_carbon.store.caps import CapDecisionRecord, interval_caps, record_decision
from slurm_carbon.store.repositories import get_or_create_cluster
from tests.integration.conftest import Rig

pytestmark = pytest.mark.integration

CAP_W = 150.0
_T = TypeVar("_T")


def in_store(rig: Rig, work: Callable[[Session], _T]) -> _T:
    engine = make_engine(rig.service.db_url)
    try:
        with session_factory(engine).begin() as session:
            return work(session)
    finally:
        engine.dispose()


def limit_w(rig: Rig, minor: int) -> float:
    limit_mw: float = json.loads(state_path(rig.sim_dir, minor).read_text())["limit_mw"]
    return limit_mw / 1000


def decide(rig: Rig, job_id: str) -> Callable[[Session], int]:
    """What the decision loop does: the job's nodes known, a cap for all its GPUs now."""

    def work(session: Session) -> int:
        cluster = get_or_create_cluster(session, "sclocal")
        job = upsert_job(session, cluster.id, int(job_id), node_list=rig.cluster.node_name)
        now = datetime.now(UTC)
        record_decision(
            session,
            CapDecisionRecord(
                job_id=job.id,
                device=None,
                period_start=now - timedelta(minutes=1),
                period_end=now + timedelta(minutes=10),
                power_limit_w=CAP_W,
                policy="carbon",
                reason="integration test",
                decided_at=now,
            ),
        )
        return job.id

    return work


def test_a_decided_cap_is_applied_recorded_and_restored_and_an_opt_out_respected(
    rig: Rig,
) -> None:
    capped = rig.submit_work("--gres=gpu:1", units=2000)
    opted_out = rig.submit_work("--gres=gpu:1", "--comment=carbon_cap=off", units=2000)
    rig.cluster.wait_for_hooks(capped, ["prolog"])
    rig.cluster.wait_for_hooks(opted_out, ["prolog"])
    calls = rig.cluster.hook_calls()
    minor = {
        c.fields["job"]: int(c.fields["gpus"])
        for c in calls
        if c.hook == "prolog" and c.fields.get("job") in (capped, opted_out)
    }
    default_w = limit_w(rig, minor[capped])
    stored_id = in_store(rig, decide(rig, capped))
    in_store(rig, decide(rig, opted_out))
    rig.stop("agent")  # a new agent pulls its caps at once (then every CAP_POLL_S)
    rig.start_agent()

    rig.wait_for(lambda: limit_w(rig, minor[capped]) == CAP_W, "the decided cap applied")
    rig.wait_for(
        lambda: CAP_W in in_store(rig, lambda s: interval_caps(s, stored_id)).values(),
        "an interval stored with the cap in force",
    )
    assert limit_w(rig, minor[opted_out]) == default_w

    rig.cluster.run("scancel", capped, opted_out)
    rig.cluster.wait_for_job(capped)
    rig.cluster.wait_for_job(opted_out)
    rig.wait_for(lambda: limit_w(rig, minor[capped]) == default_w, "restore at job end")
    assert limit_w(rig, minor[opted_out]) == default_w
