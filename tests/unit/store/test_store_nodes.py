"""A node's health as its agent reports it: the latest is kept, read with its last report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from slurm_carbon.store import ReportedDevice, ReportedInterval, ingest_batch
from slurm_carbon.store.metrics import NodeReport, node_last_reports
from slurm_carbon.store.nodes import NodeHealth, record_node_health
from slurm_carbon.vocabulary import DeviceKind, EnergyMethod, Sharing

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
GPU = ReportedDevice("GPU-aaaa", DeviceKind.GPU, minor=0)


def _report(session: Session, node: str) -> None:
    interval = ReportedInterval(
        7, GPU, T0, T0 + timedelta(minutes=1), 60.0, EnergyMethod.COUNTER, Sharing.EXCLUSIVE
    )
    ingest_batch(session, "tc", node, [interval])


def test_a_node_without_health_reads_none(session: Session) -> None:
    _report(session, "gpu01")
    assert node_last_reports(session) == [
        NodeReport("tc", "gpu01", T0 + timedelta(minutes=1), None)
    ]


def test_the_latest_health_of_each_node_is_read_back(session: Session) -> None:
    _report(session, "gpu01")
    _report(session, "gpu02")
    record_node_health(session, "tc", "gpu01", NodeHealth(40, 2, T0))
    record_node_health(session, "tc", "gpu01", NodeHealth(3, 5, T0 + timedelta(seconds=60)))
    record_node_health(session, "tc", "gpu02", NodeHealth(0, 0, T0))
    health = {report.node: report.health for report in node_last_reports(session)}
    assert health == {
        "gpu01": NodeHealth(3, 5, T0 + timedelta(seconds=60)),
        "gpu02": NodeHealth(0, 0, T0),
    }


def test_health_of_a_node_not_stored_yet_is_dropped(session: Session) -> None:
    _report(session, "gpu01")
    record_node_health(session, "tc", "gpu09", NodeHealth(1, 1, T0))
    record_node_health(session, "other", "gpu01", NodeHealth(1, 1, T0))
    assert [report.health for report in node_last_reports(session)] == [None]
