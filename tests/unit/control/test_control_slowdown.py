"""The slowdown measured against a job's own profile (control.slowdown)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from slurm_carbon.control.slowdown import CappedSpan, measured_slowdown, nominal_s
from slurm_carbon.sensors.profiles import PowerProfile, ProfilePoint

START = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
# At 200 W the job does 95 % of the work it does at 300 W: 5 % of each second is lost.
PROFILE = PowerProfile(
    name="three",
    model="m",
    points=(
        ProfilePoint(100.0, 100.0, 0.6),
        ProfilePoint(200.0, 170.0, 0.95),
        ProfilePoint(300.0, 250.0, 1.0),
    ),
    idle_power_w=10.0,
    source="hand-made",
)


def minutes(first: int, last: int, cap_w: float | None) -> list[CappedSpan]:
    """One-minute spans from minute ``first`` to ``last`` (excluded) under ``cap_w``."""
    return [
        CappedSpan(START + timedelta(minutes=m), START + timedelta(minutes=m + 1), cap_w)
        for m in range(first, last)
    ]


def test_half_an_hour_at_200_w_in_an_hour_loses_90_s() -> None:
    spans = minutes(0, 30, 300.0) + minutes(30, 60, 200.0)

    found = measured_slowdown(spans, PROFILE, START, START + timedelta(hours=1))

    # 1800 s x 5 % lost: 3510 s nominal, 3600 / 3510 - 1 = 2.564 % slower.
    assert found is not None
    assert (found.slowdown, found.nominal_s) == pytest.approx((3600 / 3510 - 1, 3510.0))


def test_the_time_after_the_last_span_runs_at_its_limit() -> None:
    spans = minutes(0, 50, 200.0)

    # 50 minutes shipped at 200 W, the last 10 at the same limit: 3600 s x 5 % lost.
    assert nominal_s(spans, PROFILE, START, START + timedelta(hours=1)) == pytest.approx(3420.0)


def test_gpus_sharing_an_interval_count_it_once() -> None:
    spans = minutes(0, 60, 200.0) * 2  # two GPUs, the same intervals

    assert nominal_s(spans, PROFILE, START, START + timedelta(hours=1)) == pytest.approx(3420.0)


def test_only_the_part_within_the_range_counts() -> None:
    spans = minutes(0, 60, 200.0)

    # [10:20, 10:30): 600 s at 200 W, 30 s lost; the spans after it are not counted.
    assert nominal_s(
        spans, PROFILE, START + timedelta(minutes=20), START + timedelta(minutes=30)
    ) == pytest.approx(570.0)


def test_spans_whose_limit_is_not_known_did_all_the_work() -> None:
    spans = minutes(0, 30, None) + minutes(30, 60, 200.0)

    assert nominal_s(spans, PROFILE, START, START + timedelta(hours=1)) == pytest.approx(3510.0)


def test_no_known_limit_is_no_figure_not_zero() -> None:
    spans = minutes(0, 60, None)

    assert measured_slowdown(spans, PROFILE, START, START + timedelta(hours=1)) is None
    assert measured_slowdown([], PROFILE, START, START + timedelta(hours=1)) is None


def test_a_run_of_no_time_is_no_figure() -> None:
    assert measured_slowdown(minutes(0, 1, 200.0), PROFILE, START, START) is None
