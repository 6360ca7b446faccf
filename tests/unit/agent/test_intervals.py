from __future__ import annotations

import pytest

from slurm_carbon.agent.intervals import Holder, attribute, slot_of


def test_slots_are_aligned_to_wall_clock_multiples() -> None:
    assert slot_of(119.999, 60) == 60
    assert slot_of(120.0, 60) == 120
    assert slot_of(1_795_447_633.5, 60) == 1_795_447_620


def test_a_span_across_a_boundary_is_split_in_proportion_to_time() -> None:
    shares = attribute(110.0, 130.0, 100.0, [Holder(1, 0.0, None)], 60)

    assert [(s.slot_start_s, s.energy_j) for s in shares] == [(60.0, 50.0), (120.0, 50.0)]
    assert not any(s.shared for s in shares)


def test_a_span_over_several_intervals_gives_each_its_time_share() -> None:
    shares = attribute(50.0, 190.0, 140.0, [Holder(1, 0.0, None)], 60)

    assert [(s.slot_start_s, s.energy_j) for s in shares] == [
        (0.0, pytest.approx(10.0)),
        (60.0, pytest.approx(60.0)),
        (120.0, pytest.approx(60.0)),
        (180.0, pytest.approx(10.0)),
    ]


def test_energy_outside_every_job_is_left_out_and_jobs_are_clipped() -> None:
    # job 1 runs 105..112, job 2 from 108: 100..105 idle, 108..112 shared
    holders = [Holder(1, 105.0, 112.0), Holder(2, 108.0, None)]
    shares = attribute(100.0, 120.0, 200.0, holders, 60)

    by_job: dict[int, float] = {}
    for s in shares:
        by_job[s.job_id] = by_job.get(s.job_id, 0.0) + s.energy_j
    assert by_job[1] == pytest.approx(30 + 20)  # 105..108 alone, 108..112 half
    assert by_job[2] == pytest.approx(20 + 80)  # 108..112 half, 112..120 alone
    assert {s.shared for s in shares if s.job_id == 1} == {False, True}


def test_weights_split_a_shared_piece() -> None:
    shares = attribute(0.0, 10.0, 100.0, [Holder(1, 0, None, 3.0), Holder(2, 0, None, 1.0)], 60)

    assert {s.job_id: s.energy_j for s in shares} == {1: 75.0, 2: 25.0}
    assert all(s.shared for s in shares)


def test_zero_weights_share_equally_and_empty_spans_give_nothing() -> None:
    shares = attribute(0.0, 10.0, 100.0, [Holder(1, 0, None, 0.0), Holder(2, 0, None, 0.0)], 60)
    assert {s.job_id: s.energy_j for s in shares} == {1: 50.0, 2: 50.0}
    assert attribute(5.0, 5.0, 10.0, [Holder(1, 0, None)], 60) == []
