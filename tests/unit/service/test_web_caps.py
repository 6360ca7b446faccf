"""The overview's caps panel: GPUs under a cap decision, and the limit each running GPU reported."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from slurm_carbon.store import (
    ReportedDevice,
    ReportedInterval,
    get_or_create_cluster,
    ingest_batch,
    upsert_job,
)
from slurm_carbon.vocabulary import DeviceKind, EnergyMethod, Sharing
from tests.unit.cli.test_report_data import NOW
from tests.unit.service.test_api_auth import ALICE, ROOT, client, unmunge
from tests.unit.service.test_web import login

__all__ = ["client", "unmunge"]  # fixtures, shared


def _running_capped_job(session: Session) -> None:
    cluster = get_or_create_cluster(session, "tc")
    upsert_job(session, cluster.id, 900, user_name="alice", start_time=NOW - timedelta(hours=1))
    gpu = ReportedDevice("GPU-cccc", DeviceKind.GPU, minor=3)
    minutes = [NOW - timedelta(minutes=m) for m in (3, 2)]
    intervals = [
        ReportedInterval(
            900,
            gpu,
            start,
            start + timedelta(minutes=1),
            9000.0,
            EnergyMethod.COUNTER,
            Sharing.EXCLUSIVE,
            cap_w=cap_w,
        )
        for start, cap_w in zip(minutes, (250.0, 175.0), strict=True)
    ]
    ingest_batch(session, "tc", "gpu05", intervals)
    session.commit()


def test_an_admin_sees_the_limit_each_running_gpu_reported_last(
    client: TestClient, session: Session
) -> None:
    _running_capped_job(session)
    login(client, ROOT)
    page = client.get("/web/").text
    # The latest interval's limit (175 W), not the first.
    assert "<td>tc</td><td>gpu05</td><td>3</td><td>175 W</td>" in page


def test_a_user_sees_no_gpu_limits(client: TestClient, session: Session) -> None:
    _running_capped_job(session)
    login(client, ALICE)
    assert "gpu05" not in client.get("/web/").text
