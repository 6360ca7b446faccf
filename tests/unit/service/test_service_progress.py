"""Progress in the ingest API: stored per job, idempotent, bounded, for the node's jobs only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from slurm_carbon.service.schemas import MAX_PROGRESS
from slurm_carbon.store import Job, JobProgress, ProgressPoint, job_progress, upsert_job
from slurm_carbon.store.repositories import get_or_create_cluster
from tests.unit.service.conftest import CLUSTER


def point(second: int, fraction: float, job_id: int = 123) -> dict[str, Any]:
    """One point as the agent sends it: at 15:00:<second> UTC of the intervals' day."""
    return {"job_id": job_id, "time": f"2026-11-23T15:00:{second:02d}+00:00", "fraction": fraction}


def _stored(api: Any, slurm_job_id: int = 123) -> list[ProgressPoint]:
    job = api.session.query(Job).filter_by(slurm_job_id=slurm_job_id).one()
    return job_progress(api.session, job.id)


def test_progress_is_stored_beside_the_intervals(api: Any) -> None:
    response = api.post(api.batch(progress=[point(30, 0.5), point(10, 0.25)]))

    assert response.status_code == 200, response.text
    assert response.json() == {
        "received": 2,
        "stored": 2,
        "progress_received": 2,
        "progress_stored": 2,
    }
    assert _stored(api) == [
        ProgressPoint(datetime(2026, 11, 23, 15, 0, 10, tzinfo=UTC), 0.25),
        ProgressPoint(datetime(2026, 11, 23, 15, 0, 30, tzinfo=UTC), 0.5),
    ]


def test_a_resent_batch_stores_no_progress_again(api: Any) -> None:
    body = api.batch(progress=[point(10, 0.25), point(20, 1.0)])
    api.post(body)
    again = api.post(body)

    assert again.json()["progress_stored"] == 0
    assert api.count(JobProgress) == 2


def test_progress_of_a_job_the_node_did_not_run_is_refused_whole(api: Any) -> None:
    cluster = get_or_create_cluster(api.session, CLUSTER)
    upsert_job(api.session, cluster.id, 124, node_list="gpu[01-02]")
    upsert_job(api.session, cluster.id, 125, node_list="vm,gpu01")
    api.session.commit()

    response = api.post(api.batch(progress=[point(10, 0.5, job_id=125), point(10, 0.5, 124)]))

    assert response.status_code == 422
    assert response.json() == {
        "error": "progress[1].job_id: job 124 did not run on node 'vm' "
        "(its NodeList is 'gpu[01-02]')"
    }
    assert (api.count(JobProgress), api.counts()["energy_intervals"]) == (0, 0)


BAD = [
    ([point(10, 1.5)], "progress[0].fraction: Input should be less than or equal to 1"),
    ([point(10, -0.1)], "progress[0].fraction: Input should be greater than or equal to 0"),
    ([{**point(10, 0.5), "fraction": "0.5"}], "progress[0].fraction: Input should be a valid"),
    ([{**point(10, 0.5), "time": "1764600000"}], "progress[0].time: must be an ISO 8601 time"),
    ([point(10, 0.5, job_id=0)], "progress[0].job_id: Input should be greater than 0"),
    ([{**point(10, 0.5), "node": "x"}], "progress[0].node: Extra inputs are not permitted"),
    ([point(10, 0.5)] * (MAX_PROGRESS + 1), f"progress: List should have at most {MAX_PROGRESS}"),
]


@pytest.mark.parametrize(
    ("progress", "said"),
    BAD,
    ids=["above-1", "negative", "text", "unix-time", "job-0", "extra-field", "too-many"],
)
def test_bad_progress_is_one_line_422(api: Any, progress: list[Any], said: str) -> None:
    response = api.post(api.batch(progress=progress))

    assert response.status_code == 422
    assert response.json()["error"].startswith(said)
    assert "\n" not in response.json()["error"]
    assert api.count(JobProgress) == 0


def test_nan_fraction_is_refused(api: Any) -> None:
    nan = '{"job_id": 123, "time": "2026-11-23T15:00:10+00:00", "fraction": NaN}'
    body = f'{{"cluster": "{CLUSTER}", "node": "vm", "intervals": [], "progress": [{nan}]}}'
    response = api.post(None, content=body)

    assert response.status_code == 422
    assert response.json()["error"].startswith(
        "progress[0].fraction: Input should be a finite number"
    )
