"""Footprints computed by hand: splitting at hour boundaries, PUE, quality, gaps, kinds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from slurm_carbon.accounting import EnergySpan, PueSeries, align, footprint
from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.vocabulary import CiKind, CiSignal, DeviceKind, EnergyMethod, Sharing

KWH = 3.6e6
DAY = datetime(2024, 3, 1, tzinfo=UTC)


def at(hour: float) -> datetime:
    return DAY + timedelta(hours=hour)


def point(
    hour: float,
    ci: float,
    *,
    kind: CiKind = CiKind.ACTUAL,
    step_h: float = 1,
    source: str = "trace",
    issued_h: float | None = None,
    region: str = "DE",
    signal: CiSignal = CiSignal.AVERAGE,
) -> CiPoint:
    return CiPoint(
        region=region,
        time=at(hour),
        step_s=int(step_h * 3600),
        ci_g_per_kwh=ci,
        source=source,
        kind=kind,
        signal=signal,
        issued_at=at(hour if issued_h is None else issued_h),
    )


def span(
    start_h: float,
    end_h: float,
    kwh: float,
    *,
    kind: str = "gpu",
    method: str = "counter",
    sharing: str = "exclusive",
) -> EnergySpan:
    return EnergySpan(kind, at(start_h), at(end_h), kwh * KWH, method, sharing)  # type: ignore[arg-type]


def test_two_spans_across_an_hour_boundary_give_the_hand_computed_grams() -> None:
    # GPU 10:30-11:30, 1 kWh: half at 100 g/kWh, half at 300; CPU 10:00-11:00, 0.5 kWh at 100.
    spans = [span(10.5, 11.5, 1.0), span(10, 11, 0.5, kind="cpu", method="estimated")]
    series = [point(10, 100), point(11, 300)]

    fp = footprint(spans, series, 1.2)

    # 1.2 * (0.5*100 + 0.5*300) + 1.2 * 0.5*100 = 240 + 60
    assert fp.co2e_g == pytest.approx(300.0)
    assert fp.gpu_kwh == pytest.approx(1.0)
    assert fp.cpu_kwh == pytest.approx(0.5)
    assert fp.dram_kwh == 0.0
    assert fp.device_kwh == pytest.approx(1.5)
    assert fp.facility_kwh == pytest.approx(1.8)
    assert fp.pue == pytest.approx(1.2)
    assert fp.ci_mean_g_per_kwh == pytest.approx(300 / 1.8)
    assert fp.start == at(10)
    assert fp.end == at(11.5)
    assert fp.quality.methods == pytest.approx(
        {EnergyMethod.COUNTER: 2 / 3, EnergyMethod.ESTIMATED: 1 / 3}
    )
    assert fp.quality.sharing == pytest.approx({Sharing.EXCLUSIVE: 1.0})
    assert fp.quality.ci_kinds == pytest.approx({CiKind.ACTUAL: 1.0})
    assert fp.quality.ci_sources == ("trace",)
    assert fp.quality.signal is CiSignal.AVERAGE
    assert fp.summary_quality() == "est"


def test_align_splits_in_proportion_to_time_and_keeps_the_energy() -> None:
    parts = align([span(10.75, 12.25, 3.0)], [point(h, 100 * h) for h in range(9, 14)])

    assert [(p.start, p.end) for p in parts] == [
        (at(10.75), at(11)),
        (at(11), at(12)),
        (at(12), at(12.25)),
    ]
    assert [p.energy_j / KWH for p in parts] == pytest.approx([0.5, 2.0, 0.5])
    assert [p.point.ci_g_per_kwh for p in parts] == [1000, 1100, 1200]
    assert not any(p.gap for p in parts)


def test_summary_quality_is_the_weakest_method_with_energy() -> None:
    series = [point(0, 100, step_h=24)]
    counter = span(1, 2, 1.0)
    integrated = span(1, 2, 1.0, kind="cpu", method="integrated")
    empty_estimate = span(1, 2, 0.0, kind="dram", method="estimated")

    assert footprint([counter], series, 1.0).summary_quality() == "meas"
    assert footprint([counter, integrated], series, 1.0).summary_quality() == "int"
    assert footprint([counter, integrated, empty_estimate], series, 1).summary_quality() == "int"
    assert footprint([empty_estimate], series, 1.0).summary_quality() == "est"
    assert footprint([], series, 1.0).summary_quality() == "none"


def test_shared_energy_is_reported_as_a_share() -> None:
    fp = footprint(
        [span(1, 2, 3.0), span(1, 2, 1.0, sharing="shared")], [point(0, 100, step_h=24)], 1.0
    )

    assert fp.quality.sharing == pytest.approx({Sharing.EXCLUSIVE: 0.75, Sharing.SHARED: 0.25})
    assert fp.quality.any_shared


def test_a_gap_uses_the_nearest_earlier_point_and_is_marked() -> None:
    series = [point(10, 100), point(12, 300)]  # nothing for 11:00-12:00

    fp = footprint([span(10, 13, 3.0)], series, 1.0)

    assert fp.co2e_g == pytest.approx(100 + 100 + 300)
    assert fp.quality.gap_share == pytest.approx(1 / 3)
    assert fp.quality.estimated_ci
    parts = align([span(10, 13, 3.0)], series)
    assert [p.gap for p in parts] == [False, True, False]


def test_before_and_after_the_series_use_its_ends_and_are_gaps() -> None:
    series = [point(10, 100), point(11, 300)]

    fp = footprint([span(9, 10, 1.0), span(12, 13, 1.0)], series, 1.0)

    assert fp.co2e_g == pytest.approx(100 + 300)
    assert fp.quality.gap_share == pytest.approx(1.0)


def test_actual_beats_forecast_beats_annual_and_the_latest_forecast_wins() -> None:
    series = [
        point(10, 200, kind=CiKind.ACTUAL, source="electricitymaps"),
        point(10, 50, kind=CiKind.FORECAST, issued_h=9, source="electricitymaps"),
        point(11, 400, kind=CiKind.FORECAST, issued_h=9, source="electricitymaps"),
        point(11, 300, kind=CiKind.FORECAST, issued_h=10, source="electricitymaps"),
        point(0, 999, kind=CiKind.ANNUAL, step_h=24, source="codecarbon-annual"),
    ]

    fp = footprint([span(10, 13, 3.0)], series, 1.0)

    assert fp.co2e_g == pytest.approx(200 + 300 + 999)
    assert fp.quality.ci_kinds == pytest.approx(
        {CiKind.ACTUAL: 1 / 3, CiKind.FORECAST: 1 / 3, CiKind.ANNUAL: 1 / 3}
    )
    assert fp.quality.ci_sources == ("codecarbon-annual", "electricitymaps")
    assert fp.quality.gap_share == 0.0
    assert fp.quality.estimated_ci  # an annual mean stood in for one hour


def test_pue_series_is_applied_per_span() -> None:
    spans = [span(10, 10.5, 0.5), span(10.5, 11, 0.5)]
    series = [point(0, 100, step_h=24)]
    pue = PueSeries(((at(-100), 1.5), (at(10.5), 1.1)))

    fp = footprint(spans, series, pue)

    assert fp.facility_kwh == pytest.approx(0.5 * 1.5 + 0.5 * 1.1)
    assert fp.co2e_g == pytest.approx(130.0)
    assert fp.pue == pytest.approx(1.3)
    # the same as pairs and as a function
    assert footprint(spans, series, [(at(-100), 1.5), (at(10.5), 1.1)]).co2e_g == pytest.approx(130)
    assert footprint(spans, series, lambda when: 1.5 if when < at(10.5) else 1.1).co2e_g == (
        pytest.approx(130)
    )


def test_bad_inputs_are_refused() -> None:
    series = [point(0, 100, step_h=24)]
    with pytest.raises(ValueError, match="PUE"):
        footprint([span(1, 2, 1.0)], series, 0.9)
    with pytest.raises(ValueError, match="PUE"):
        footprint([span(1, 2, 1.0)], series, lambda _when: 0.5)
    with pytest.raises(ValueError, match="increasing"):
        PueSeries(((at(2), 1.2), (at(1), 1.3)))
    with pytest.raises(ValueError, match="no carbon-intensity"):
        footprint([span(1, 2, 1.0)], [], 1.0)
    with pytest.raises(ValueError, match="one region"):
        footprint([span(1, 2, 1.0)], [point(0, 1, step_h=24), point(0, 2, region="FR")], 1.0)
    with pytest.raises(ValueError, match="timezone"):
        EnergySpan(DeviceKind.GPU, datetime(2024, 1, 1), datetime(2024, 1, 2), 1.0)  # noqa: DTZ001
    with pytest.raises(ValueError, match="before"):
        span(2, 1, 1.0)
    with pytest.raises(ValueError, match="energy_j"):
        span(1, 2, -1.0)


def test_no_spans_give_a_zero_footprint() -> None:
    fp = footprint([], [], 1.2)

    assert fp.co2e_g == 0.0
    assert fp.device_kwh == 0.0
    assert fp.ci_mean_g_per_kwh is None
    assert fp.pue is None
    assert fp.start is None


def test_co2e_by_device_kind_uses_each_parts_own_ci_and_adds_up_to_the_total() -> None:
    # GPU 10:00-11:00 at 100 g/kWh, CPU 11:00-12:00 at 300 g/kWh, 1 kWh each, PUE 1.5: an
    # energy-share split would give each half (300 g); each part's own CI gives 150 and 450.
    spans = [span(10, 11, 1.0), span(11, 12, 1.0, kind="cpu"), span(11, 11.5, 0.5, kind="dram")]
    series = [point(10, 100), point(11, 300)]

    fp = footprint(spans, series, 1.5)

    assert fp.co2e_g_by_kind == pytest.approx(
        {
            DeviceKind.GPU: 1.5 * 100,
            DeviceKind.CPU: 1.5 * 300,
            DeviceKind.DRAM: 1.5 * 0.5 * 300,
            DeviceKind.OTHER: 0.0,
        }
    )
    assert sum(fp.co2e_g_by_kind.values()) == fp.co2e_g  # exactly, not approximately
    assert fp.co2e_g == pytest.approx(825.0)
    assert footprint([], series, 1.5).co2e_g_by_kind == dict.fromkeys(DeviceKind, 0.0)
