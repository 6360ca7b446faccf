"""A multi-node job's energy, node by node (``report -j``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from slurm_carbon.accounting import NodeSpan, node_coverage
from slurm_carbon.service.detail import node_split
from slurm_carbon.store.results import StoredInterval
from slurm_carbon.vocabulary import DeviceKind, EnergyMethod, Sharing

T0 = datetime(2026, 12, 1, tzinfo=UTC)
STEP = timedelta(seconds=5)


def interval(node: str, kind: DeviceKind, energy_j: float, uuid: str = "GPU-0") -> StoredInterval:
    return StoredInterval(
        node,
        uuid,
        kind,
        T0,
        T0 + STEP,
        energy_j,
        EnergyMethod.COUNTER,
        Sharing.EXCLUSIVE,
    )


def test_each_node_gets_its_energy_its_gpus_and_its_share() -> None:
    intervals = [
        interval("scn2", DeviceKind.GPU, 300.0),
        interval("scn1", DeviceKind.GPU, 500.0),
        interval("scn1", DeviceKind.GPU, 100.0, uuid="GPU-1"),
        interval("scn1", DeviceKind.CPU, 50.0, uuid="cpu0"),
        interval("scn2", DeviceKind.DRAM, 50.0, uuid="dram0"),
    ]

    nodes = node_split(intervals)

    assert [(n.node, n.energy_j, n.gpu_energy_j) for n in nodes] == [
        ("scn1", 650.0, 600.0),
        ("scn2", 350.0, 300.0),
    ]
    assert [n.share_pct for n in nodes] == pytest.approx([65.0, 35.0])


def test_no_intervals_no_nodes() -> None:
    assert node_split([]) == ()


def test_a_silent_node_is_listed_with_no_energy_and_no_coverage() -> None:
    intervals = [interval("scn1", DeviceKind.GPU, 300.0), interval("scn1", DeviceKind.CPU, 100.0)]
    coverage = node_coverage(["scn1", "scn2"], [NodeSpan("scn1", T0, T0 + STEP)], T0, T0 + STEP)

    nodes = node_split(intervals, coverage, co2e_g=40.0)

    assert [(n.node, n.energy_j, n.co2e_g, n.coverage_pct) for n in nodes] == [
        ("scn1", 400.0, 40.0, 100.0),
        ("scn2", 0.0, 0.0, 0.0),
    ]
