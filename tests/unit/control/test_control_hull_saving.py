"""What caps saved against the static-cap hull (control.hull_saving)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from slurm_carbon.control.hull_saving import SavingSpan, hull_saving
from slurm_carbon.sensors.profiles import PowerProfile, ProfilePoint

START = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
# At 200 W: 90 % of the work for 200 W, 222.2 J per unit of work against 300 at 300 W.
# 250 W: 95 % of the work for 270 W, 284.2 J per unit: above the hull (a 300/200 W mix is
# as fast for 263.2 J).
PROFILE = PowerProfile(
    name="two",
    model="m",
    points=(
        ProfilePoint(200.0, 200.0, 0.9),
        ProfilePoint(250.0, 270.0, 0.95),
        ProfilePoint(300.0, 300.0, 1.0),
    ),
    idle_power_w=10.0,
    source="hand-made",
)
CLEAN, DIRTY = 100.0, 500.0
PUE = 1.2


def hour(n: int, cap_w: float | None, ci: float, scale: float = 1.0) -> SavingSpan:
    """Hour ``n`` of the run under ``cap_w``, drawing the profile's power (times ``scale``)."""
    power_w = PROFILE.at(300.0 if cap_w is None else cap_w).power_w
    return SavingSpan(START + n * HOUR, START + (n + 1) * HOUR, cap_w, power_w * 3600 * scale, ci)


def test_a_job_capped_only_when_dirty_beats_the_hull() -> None:
    found = hull_saving([hour(0, 300.0, CLEAN), hour(1, 200.0, DIRTY)], PROFILE, PUE)

    assert found is not None
    # 1.9 h of work in 2 h: 5.26 % slower. The hull there mixes 300 W and 200 W, 0.5 kWh
    # over the two hours at the mean 300 g/kWh: 180 g; the job put its 0.3 kWh in the
    # clean hour and 0.2 in the dirty: (30 + 100) x 1.2 = 156 g. Saved 24 g.
    assert found.slowdown == pytest.approx(2 / 1.9 - 1)
    assert found.static_energy_j == pytest.approx(1.8e6)
    assert found.static_co2e_g == pytest.approx(180.0)
    assert found.co2e_g == pytest.approx(156.0)
    assert found.saved_co2e_g == pytest.approx(24.0)


def test_capping_in_the_clean_hour_loses_as_much() -> None:
    found = hull_saving([hour(0, 200.0, CLEAN), hour(1, 300.0, DIRTY)], PROFILE, PUE)

    assert found is not None
    assert found.saved_co2e_g == pytest.approx(-24.0)


def test_a_job_at_the_hulls_cap_all_the_time_saves_nothing() -> None:
    found = hull_saving([hour(0, 200.0, CLEAN), hour(1, 200.0, DIRTY)], PROFILE, PUE)

    assert found is not None
    assert found.static_co2e_g == pytest.approx(0.4 * 300 * PUE)
    assert found.saved_co2e_g == pytest.approx(0.0, abs=1e-9)


def test_a_cap_above_the_hull_loses_against_it() -> None:
    found = hull_saving([hour(0, 250.0, CLEAN), hour(1, 250.0, CLEAN)], PROFILE, 1.0)

    assert found is not None
    # 5.26 % slower, as the 300/200 W mix that does the work with 0.5 kWh where 250 W
    # drew 0.54: 50 g against 54 g at 100 g/kWh.
    assert found.static_co2e_g == pytest.approx(50.0)
    assert found.saved_co2e_g == pytest.approx(-4.0)


def test_a_profile_that_reads_low_cancels_out() -> None:
    spans = [hour(0, 300.0, CLEAN, 1.1), hour(1, 200.0, DIRTY, 1.1)]

    found = hull_saving(spans, PROFILE, PUE)

    assert found is not None
    assert found.saved_co2e_g == pytest.approx(24.0 * 1.1)


def test_a_jobs_gpus_in_one_slot_are_one_time_slot() -> None:
    spans = [hour(0, 300.0, CLEAN), hour(0, 300.0, CLEAN), hour(1, 200.0, DIRTY)]
    spans.append(hour(1, 200.0, DIRTY))

    found = hull_saving(spans, PROFILE, PUE)

    assert found is not None
    assert found.slowdown == pytest.approx(2 / 1.9 - 1)
    assert found.saved_co2e_g == pytest.approx(48.0)


def test_a_job_never_capped_has_no_figure() -> None:
    assert hull_saving([hour(0, None, CLEAN), hour(1, None, DIRTY)], PROFILE, PUE) is None


def test_a_job_without_energy_has_no_figure() -> None:
    assert hull_saving([hour(0, 200.0, CLEAN, 0.0)], PROFILE, PUE) is None
