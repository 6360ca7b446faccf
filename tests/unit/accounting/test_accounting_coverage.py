"""Node coverage computed by hand: a silent node, gaps, overlaps, clipping to the run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from slurm_carbon.accounting import NodeSpan, node_coverage

START = datetime(2026, 12, 1, 10, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


def test_a_silent_node_of_two_leaves_half_the_node_time_uncovered() -> None:
    spans = [NodeSpan("n1", at(m), at(m + 1)) for m in range(60)]
    found = node_coverage(["n1", "n2"], spans, at(0), at(60))
    assert found.share == pytest.approx(0.5)
    assert found.silent == ("n2",)
    assert [(n.node, n.share) for n in found.nodes] == [("n1", 1.0), ("n2", 0.0)]
    assert not found.complete


def test_gaps_count_overlaps_do_not_and_time_outside_the_run_is_clipped() -> None:
    spans = [
        NodeSpan("n1", at(-5), at(10)),  # 10 min inside the run
        NodeSpan("n1", at(5), at(15)),  # overlaps: 5 more minutes
        NodeSpan("n1", at(30), at(90)),  # 30 min inside
        NodeSpan("n2", at(0), at(60)),
        NodeSpan("n2", at(0), at(60)),  # GPU and CPU of the same time: counted once
    ]
    found = node_coverage(["n1", "n2"], spans, at(0), at(60))
    assert found.nodes[0].covered_s == pytest.approx(45 * 60)
    assert found.share == pytest.approx((45 + 60) / 120)
    assert found.silent == ()
    assert found.complete  # every node reported: the gaps show in the share only


def test_a_node_not_in_the_list_is_ignored_and_a_whole_job_is_complete() -> None:
    spans = [NodeSpan("n1", at(0), at(60)), NodeSpan("other", at(0), at(60))]
    found = node_coverage(["n1"], spans, at(0), at(60))
    assert found.share == 1.0
    assert found.complete


def test_an_empty_run_is_covered_by_any_interval() -> None:
    found = node_coverage(["n1", "n2"], [NodeSpan("n1", at(0), at(1))], at(0), at(0))
    assert [n.share for n in found.nodes] == [1.0, 0.0]
    assert found.silent == ("n2",)


def test_no_nodes_is_refused() -> None:
    with pytest.raises(ValueError, match="no node"):
        node_coverage([], [], at(0), at(1))


@pytest.mark.parametrize("clock_min", [-1.5, 1.5, -90.0])
def test_a_node_whose_clock_is_off_covers_its_run_on_its_own_clock(clock_min: float) -> None:
    """Its intervals lie outside the run by its clock's offset, even wholly outside it."""
    spans = [
        NodeSpan("n1", at(0), at(10)),
        NodeSpan("n2", at(clock_min), at(clock_min + 5)),
        NodeSpan("n2", at(clock_min + 5), at(clock_min + 10)),
    ]
    found = node_coverage(["n1", "n2"], spans, at(0), at(10))
    assert [n.share for n in found.nodes] == [1.0, pytest.approx(1.0)]
    assert found.silent == ()


def test_a_node_that_reported_part_of_its_run_is_not_moved() -> None:
    """Only the first 4 of 10 minutes (its agent down after), or only the last 4: moving
    its intervals could not cover more of the run, so none is moved."""
    spans = [NodeSpan("n1", at(0.5), at(4)), NodeSpan("n2", at(6), at(10))]
    found = node_coverage(["n1", "n2"], spans, at(0), at(10))
    assert [n.covered_s for n in found.nodes] == [pytest.approx(210), pytest.approx(240)]


def test_a_skewed_node_that_reported_part_of_its_run_covers_only_that_part() -> None:
    spans = [NodeSpan("n1", at(-1.5), at(2.5))]  # 90 s behind; 4 of the run's 10 minutes
    found = node_coverage(["n1"], spans, at(0), at(10))
    assert found.nodes[0].covered_s == pytest.approx(240)
