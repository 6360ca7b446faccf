from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from slurm_carbon.store import add_intervals, upsert_job
from slurm_carbon.store.results import jobs_on_node_slots


def test_jobs_on_node_slots_counts_every_job_with_energy_on_the_node_in_the_slot(
    session: Session, ids: Any
) -> None:
    later = ids.t0 + timedelta(seconds=30)
    other = upsert_job(session, ids.cluster_id, 4243, user_name="bob")
    add_intervals(
        session,
        [
            ids.interval(),
            ids.interval(later),
            replace(ids.interval(later), job_id=other.id),
        ],
    )

    slots = jobs_on_node_slots(session, ids.job_id)

    assert slots == {("gpu01", ids.t0): 1, ("gpu01", later): 2}
    assert jobs_on_node_slots(session, other.id) == {("gpu01", later): 2}
