"""The overview's node panel: silent nodes and nodes holding dead letters, with spool health."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from slurm_carbon.store import (
    ReportedDevice,
    ReportedInterval,
    get_or_create_cluster,
    get_or_create_node,
    ingest_batch,
)
from slurm_carbon.store.nodes import NodeHealth, record_node_health
from slurm_carbon.vocabulary import DeviceKind, EnergyMethod, Sharing
from tests.unit.cli.test_report_data import NOW
from tests.unit.service.test_api_auth import ROOT, client, unmunge
from tests.unit.service.test_web import login

__all__ = ["client", "unmunge"]  # fixtures, shared

GPU = ReportedDevice("GPU-bbbb", DeviceKind.GPU, minor=0)


def test_a_silent_node_shows_its_last_spool_health(client: TestClient, session: Session) -> None:
    # gpu01's latest interval ended at 11:00, seven hours before the app's clock.
    record_node_health(session, "tc", "gpu01", NodeHealth(40, 2, NOW))
    session.commit()
    login(client, ROOT)
    page = client.get("/web/").text
    assert "<td>tc</td><td>gpu01</td><td>2024-03-14 11:00 UTC</td><td>40</td><td>2</td>" in page


def test_a_silent_node_of_an_older_agent_shows_no_health(client: TestClient) -> None:
    login(client, ROOT)
    page = client.get("/web/").text
    assert "<td>tc</td><td>gpu01</td><td>2024-03-14 11:00 UTC</td><td>-</td><td>-</td>" in page


def test_a_node_without_intervals_is_not_listed(client: TestClient, session: Session) -> None:
    cluster = get_or_create_cluster(session, "tc")
    get_or_create_node(session, cluster.id, "gpu09")
    record_node_health(session, "tc", "gpu09", NodeHealth(0, 5, NOW))
    session.commit()
    login(client, ROOT)
    assert "gpu09" not in client.get("/web/").text


def test_a_reporting_node_is_listed_while_it_holds_dead_letters(
    client: TestClient, session: Session
) -> None:
    start = NOW - timedelta(minutes=5)
    interval = ReportedInterval(
        100, GPU, start, start + timedelta(minutes=1), 60.0, EnergyMethod.COUNTER, Sharing.EXCLUSIVE
    )
    ingest_batch(session, "tc", "gpu02", [interval])
    record_node_health(session, "tc", "gpu02", NodeHealth(0, 1, NOW))
    session.commit()
    login(client, ROOT)
    page = client.get("/web/").text
    assert "<td>tc</td><td>gpu02</td><td>2024-03-14 17:56 UTC</td><td>0</td><td>1</td>" in page
    record_node_health(session, "tc", "gpu02", NodeHealth(0, 0, NOW))
    session.commit()
    assert "gpu02" not in client.get("/web/").text
