"""What-if footprints: the cleanest start on a synthetic daily cycle, shifts, other regions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from slurm_carbon.accounting import EnergySpan, cleanest_start, footprint, in_region, shifted
from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.vocabulary import CiKind, CiSignal

KWH = 3.6e6
DAY = datetime(2024, 6, 1, tzinfo=UTC)


def at(hour: float) -> datetime:
    return DAY + timedelta(hours=hour)


def series(values: list[float], region: str = "DE") -> list[CiPoint]:
    return [
        CiPoint(region, at(h), 3600, ci, "trace", CiKind.ACTUAL, CiSignal.AVERAGE, at(h))
        for h, ci in enumerate(values)
    ]


def daily_cycle(days: int) -> list[float]:
    """Cleanest at 15:00 each day: 100 g/kWh, 20 g more per hour away from it."""
    return [100 + 20 * abs(h % 24 - 15) for h in range(24 * days)]


# A 2-hour job at 10:00: 1 kWh in the first hour, 2 kWh in the second.
JOB = [
    EnergySpan("gpu", at(10), at(11), 1 * KWH),  # type: ignore[arg-type]
    EnergySpan("gpu", at(11), at(12), 2 * KWH),  # type: ignore[arg-type]
]


def test_cleanest_start_on_a_daily_cycle_is_found() -> None:
    ci = series(daily_cycle(3))

    best = cleanest_start(JOB, ci, 1.0, window_h=24, step=timedelta(hours=1))

    # start s costs ci(s) + 2 ci(s+1): 14:00 -> 120 + 2*100 = 320 (15:00 -> 340, 13:00 -> 380)
    assert best.start == at(14)
    assert best.co2e_g == pytest.approx(320)
    assert best.actual_co2e_g == pytest.approx(200 + 2 * 180)
    assert best.savings_g == pytest.approx(560 - 320)
    assert best.savings_pct == pytest.approx(100 * 240 / 560)
    assert best.label == "start=2024-06-01T14:00:00+00:00"


def test_cleanest_start_skips_starts_the_series_does_not_cover() -> None:
    ci = series(daily_cycle(1)[:12])  # 00:00-12:00 only: the job just fits

    best = cleanest_start(JOB, ci, 1.0)

    assert best.start == at(10)
    assert best.savings_g == 0.0


def test_shifted_moves_the_profile_and_the_pue_with_it() -> None:
    ci = series(daily_cycle(2))

    def pue(when: datetime) -> float:
        return 1.5 if when < at(13) else 1.0

    later = shifted(JOB, ci, pue, at(15))

    assert later.co2e_g == pytest.approx(100 + 2 * 120)
    assert later.actual_co2e_g == pytest.approx(1.5 * 560)
    assert later.savings_g == pytest.approx(840 - 340)


def test_in_region_compares_other_regions_cleanest_first() -> None:
    actual = series([300] * 24, "DE")
    others = {"PL": series([700] * 24, "PL"), "SE": series([30] * 24, "SE")}

    results = in_region(JOB, actual, 1.2, others)

    assert [r.label for r in results] == ["region=SE", "region=PL"]
    assert results[0].co2e_g == pytest.approx(3 * 1.2 * 30)
    assert results[0].savings_pct == pytest.approx(90.0)
    assert results[1].savings_g == pytest.approx(3 * 1.2 * (300 - 700))
    assert results[0].footprint.quality.ci_regions == ("SE",)
    assert footprint(JOB, actual, 1.2).co2e_g == pytest.approx(results[0].actual_co2e_g)


def test_counterfactuals_need_spans_and_a_positive_step() -> None:
    ci = series(daily_cycle(1))
    with pytest.raises(ValueError, match="span"):
        shifted([], ci, 1.0, at(3))
    with pytest.raises(ValueError, match="step"):
        cleanest_start(JOB, ci, 1.0, step=timedelta(0))
