from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from slurm_carbon.store import Device, EnergyInterval, Job, Node
from slurm_carbon.vocabulary import DeviceKind, EnergyMethod, Sharing


def _interval(ids: Any, **overrides: object) -> EnergyInterval:
    values: dict[str, object] = {
        "job_id": ids.job_id,
        "node_id": ids.node_id,
        "device_id": ids.device_id,
        "interval_start": ids.t0,
        "interval_end": ids.t0 + timedelta(seconds=30),
        "energy_j": 10.0,
        "method": EnergyMethod.COUNTER,
        "sharing": Sharing.SHARED,
    }
    values.update(overrides)
    return EnergyInterval(**values)


def _rejected(session: Session, row: object) -> str:
    session.add(row)
    with pytest.raises(IntegrityError) as caught:
        session.flush()
    session.rollback()
    return str(caught.value.orig).lower()


def test_duplicate_node_hostname_in_a_cluster_is_rejected(session: Session, ids: Any) -> None:
    message = _rejected(session, Node(cluster_id=ids.cluster_id, hostname="gpu01"))
    assert "unique" in message


def test_duplicate_device_uuid_on_a_node_is_rejected(session: Session, ids: Any) -> None:
    duplicate = Device(
        node_id=ids.node_id, uuid="GPU-0f3c1c2e-aaaa-bbbb-cccc-000000000001", kind=DeviceKind.GPU
    )
    assert "unique" in _rejected(session, duplicate)


def test_same_uuid_on_another_node_is_a_different_device(session: Session, ids: Any) -> None:
    other = Node(cluster_id=ids.cluster_id, hostname="gpu02")
    session.add(other)
    session.flush()
    device = Device(
        node_id=other.id, uuid="GPU-0f3c1c2e-aaaa-bbbb-cccc-000000000001", kind=DeviceKind.GPU
    )
    session.add(device)
    session.flush()
    assert device.id != ids.device_id


def test_duplicate_job_in_a_cluster_is_rejected(session: Session, ids: Any) -> None:
    assert "unique" in _rejected(session, Job(cluster_id=ids.cluster_id, slurm_job_id=4242))


def test_negative_energy_is_rejected(session: Session, ids: Any) -> None:
    message = _rejected(session, _interval(ids, energy_j=-1.0))
    assert "energy_j_nonnegative" in message


def test_interval_must_end_after_it_starts(session: Session, ids: Any) -> None:
    message = _rejected(session, _interval(ids, interval_end=ids.t0))
    assert "interval_positive" in message


def test_unknown_method_is_rejected(session: Session, ids: Any) -> None:
    message = _rejected(session, _interval(ids, method="guessed"))
    assert "ck_energy_intervals_method" in message


def test_unknown_device_kind_is_rejected(session: Session, ids: Any) -> None:
    message = _rejected(session, Device(node_id=ids.node_id, uuid="x", kind="tpu"))
    assert "ck_devices_kind" in message


def test_foreign_keys_are_enforced(session: Session, ids: Any) -> None:
    message = _rejected(session, _interval(ids, job_id=ids.job_id + 1000))
    assert "foreign key" in message


def test_valid_interval_is_accepted(session: Session, ids: Any) -> None:
    row = _interval(ids)
    session.add(row)
    session.flush()
    key = (ids.node_id, ids.device_id, ids.job_id, ids.t0)
    assert session.get(EnergyInterval, key) is row


def test_negative_time_limit_is_rejected(session: Session, ids: Any) -> None:
    job = Job(cluster_id=ids.cluster_id, slurm_job_id=4343, time_limit_s=-60.0)
    assert "time_limit_s_nonnegative" in _rejected(session, job)
