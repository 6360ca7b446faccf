"""compute_result with the site file's policy: region by node pattern, a PUE series, quality."""

from __future__ import annotations

import dataclasses
import logging
import tomllib
from datetime import datetime, timedelta

import pytest

from slurm_carbon.config import parse_config
from slurm_carbon.errors import IntensityUnavailable
from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.service.results import NoEnergy, ResultNotFinite, compute_result
from slurm_carbon.service.site import StaticSite
from slurm_carbon.store.results import StoredInterval
from slurm_carbon.vocabulary import CiKind, CiSignal, DeviceKind, EnergyMethod, Sharing
from tests.builders import JOB_START, slurm_job

T0 = JOB_START
SITE = parse_config(
    tomllib.loads(
        """
cluster = "sclocal"
[regions]
default = "DE"
[regions.nodes]
"gpu-se*" = "SE"
[pue]
default = [
  { valid_from = 2026-01-01T00:00:00Z, value = 1.5 },
  { valid_from = 2026-11-23T11:00:00Z, value = 1.1 },
]
"""
    )
)
JOB = slurm_job(
    9,
    job_id="7_1",
    array_job_id=7,
    array_task_id=1,
    name="x",
    submit_time=T0,
    req_tres="cpu=1",
    alloc_tres="cpu=1",
    node_list="gpu-se01",
    comment="",
)


class Series:
    """200 gCO2e/kWh in T0's hour, 50 in the next; remembers what it was asked."""

    name = "series"

    def __init__(self) -> None:
        self.asked: list[tuple[str, datetime, datetime]] = []

    def history(self, region: str, start: datetime, end: datetime) -> list[CiPoint]:
        self.asked.append((region, start, end))
        return [
            CiPoint(
                region,
                T0 + timedelta(hours=h),
                3600,
                ci,
                "series",
                CiKind.ACTUAL,
                CiSignal.AVERAGE,
                T0 + timedelta(hours=h),
            )
            for h, ci in ((0, 200.0), (1, 50.0))
        ]

    def forecast(self, region: str, start: datetime, hours: int) -> list[CiPoint]:
        raise IntensityUnavailable("no forecast")


def interval(hour: int, energy_j: float, sharing: Sharing = Sharing.EXCLUSIVE) -> StoredInterval:
    start = T0 + timedelta(hours=hour, minutes=30)
    return StoredInterval(
        "gpu-se01",
        "GPU-1",
        DeviceKind.GPU,
        start,
        start + timedelta(minutes=10),
        energy_j,
        EnergyMethod.INTEGRATED,
        sharing,
    )


def test_region_by_node_pue_in_force_per_hour_and_quality() -> None:
    series = Series()
    rows = [interval(0, 3.6e6), interval(1, 7.2e6, Sharing.SHARED)]  # 1 kWh, then 2 kWh

    computed = compute_result(JOB, rows, SITE, series, now=T0 + timedelta(hours=3))

    # 1 kWh x 200 x 1.5 + 2 kWh x 50 x 1.1 = 300 + 110
    values = computed.values
    assert values.co2e_g == pytest.approx(410.0)
    assert series.asked == [("SE", rows[0].start, rows[1].end)]
    assert (values.ci_region, values.ci_source) == ("SE", "series")
    assert values.gpu_energy_j == pytest.approx(10.8e6)
    assert values.pue == pytest.approx((1.5 + 2 * 1.1) / 3)
    assert values.ci_mean_g_per_kwh == pytest.approx(410.0 / 3.7)
    assert (values.quality, values.sharing) == (EnergyMethod.INTEGRATED, Sharing.SHARED)
    assert computed.payload == "sc1:co2e_g=410;kwh=3.7;ci=111;pue=1.23;q=int"


def test_no_energy_and_no_intensity_are_errors() -> None:
    with pytest.raises(NoEnergy, match="job 7_1: no energy stored"):
        compute_result(JOB, [], SITE, Series(), now=T0)

    class Nothing(Series):
        def history(self, region: str, start: datetime, end: datetime) -> list[CiPoint]:
            return []

    with pytest.raises(IntensityUnavailable, match="no carbon intensity for SE"):
        compute_result(JOB, [interval(0, 1.0)], SITE, Nothing(), now=T0)


def test_unmeasured_node_parts_are_shared_among_the_nodes_jobs_and_estimated() -> None:
    site = StaticSite("SE", pue=1.0, node_unmeasured_power_w=360.0)
    rows = [interval(0, 3.6e6), interval(1, 3.6e6)]  # 10 min each, 200 then 50 g/kWh
    # Alone on the node in the first slot, one of three jobs in the second.
    sharers = {("gpu-se01", rows[0].start): 1, ("gpu-se01", rows[1].start): 3}

    computed = compute_result(JOB, rows, site, Series(), T0, sharers=sharers)

    # 360 W x 600 s = 0.06 kWh in the first slot; a third of it in the second.
    other_kwh = 0.06 + 0.02
    assert computed.values.other_energy_j == pytest.approx(other_kwh * 3.6e6)
    assert computed.values.co2e_g == pytest.approx((1 + 0.06) * 200 + (1 + 0.02) * 50)
    assert computed.values.quality is EnergyMethod.ESTIMATED
    assert computed.values.sharing is Sharing.SHARED
    without = compute_result(JOB, rows, StaticSite("SE"), Series(), T0, sharers=sharers)
    assert without.values.other_energy_j == 0
    assert without.values.co2e_g == pytest.approx(200 + 50)


def test_only_intervals_from_the_jobs_nodes_and_run_time_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    site = StaticSite("SE")
    job = dataclasses.replace(JOB, node_list="gpu-se[01-02]")
    own = [interval(0, 3.6e6), dataclasses.replace(interval(1, 3.6e6), node="gpu-se02")]
    # Another node's token claiming energy for this job, and energy long after it ended.
    foreign = dataclasses.replace(interval(0, 7.2e6), node="gpu-se09")
    late = interval(5, 7.2e6)
    # Clock skew of less than one interval around Start and End is kept.
    edge = dataclasses.replace(
        interval(0, 0.0), start=T0 - timedelta(seconds=30), end=T0 + timedelta(seconds=30)
    )

    with caplog.at_level(logging.WARNING):
        computed = compute_result(job, [*own, foreign, late, edge], site, Series(), T0)

    assert computed.values.gpu_energy_j == pytest.approx(7.2e6)
    assert computed.values.co2e_g == pytest.approx(200 + 50)
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning == (
        "job 7_1: 2 of 5 intervals dropped: 1 from nodes not in its NodeList gpu-se[01-02]"
        " (gpu-se09), 1 outside its run time"
    )


def test_a_job_whose_intervals_all_fall_outside_has_no_energy() -> None:
    job = dataclasses.replace(JOB, node_list="other01")

    with pytest.raises(NoEnergy, match="7_1"):
        compute_result(job, [interval(0, 3.6e6)], StaticSite("SE"), Series(), T0)


def test_a_result_that_is_not_finite_is_refused() -> None:
    rows = [interval(0, 1.7e308), interval(0, 1.7e308)]

    with pytest.raises(ResultNotFinite, match=r"job 7_1: .*co2e_g=inf"):
        compute_result(JOB, rows, StaticSite("SE"), Series(), T0)


LONG = "a-" + "x" * 60


class Mixed:
    """T0's hour from a long-named hourly source, the next from a (flagged) yearly mean."""

    name = "mixed"

    def history(self, region: str, start: datetime, end: datetime) -> list[CiPoint]:
        hourly = CiPoint(region, T0, 3600, 100.0, LONG, CiKind.ACTUAL, CiSignal.AVERAGE, T0)
        annual = CiPoint(
            region,
            T0 + timedelta(hours=1),
            3600,
            300.0,
            "codecarbon-annual",
            CiKind.ANNUAL,
            CiSignal.AVERAGE,
            T0,
            synthetic=True,
        )
        return [hourly, annual]

    def forecast(self, region: str, start: datetime, hours: int) -> list[CiPoint]:
        raise IntensityUnavailable("no forecast")


def test_the_result_records_its_ci_kinds_flags_and_every_source_uncut() -> None:
    rows = [interval(0, 3.6e6), interval(1, 1.08e7)]  # 1 kWh actual, then 3 kWh annual

    values = compute_result(JOB, rows, SITE, Mixed(), now=T0 + timedelta(hours=3)).values

    assert values.ci_source == f"{LONG},codecarbon-annual"  # 80 characters, not cut
    assert (values.ci_annual, values.ci_synthetic) == (True, True)
    assert values.ci_actual_share == pytest.approx(0.25)
    assert values.ci_annual_share == pytest.approx(0.75)
    assert values.ci_forecast_share == 0.0
    assert values.estimated


@pytest.mark.parametrize("clock_s", [-90, 90])
def test_a_node_whose_clock_is_90_s_off_keeps_its_energy_and_its_coverage(clock_s: int) -> None:
    """Its intervals, on its own clock, lie 90 s outside sacct's Start..End, more than one
    default agent interval (60 s); they are the job's all the same, and cover its run."""
    run = timedelta(minutes=10)
    job = dataclasses.replace(JOB, node_list="gpu-se[01-02]", end_time=T0 + run)
    rows = [
        dataclasses.replace(
            interval(0, 3.6e5),
            node=node,
            start=T0 + half + timedelta(seconds=skew_s),
            end=T0 + half + run / 2 + timedelta(seconds=skew_s),
        )
        for node, skew_s in (("gpu-se01", 0), ("gpu-se02", clock_s))
        for half in (timedelta(0), run / 2)
    ]

    computed = compute_result(job, rows, StaticSite("SE"), Series(), T0 + run)

    assert computed.values.gpu_energy_j == pytest.approx(4 * 3.6e5)
    assert computed.values.node_coverage == pytest.approx(1.0)
    assert computed.values.missing_nodes is None


def test_the_result_keeps_the_co2e_of_each_device_kind_at_its_own_ci_and_pue() -> None:
    # GPU 1 kWh at 200 g/kWh x PUE 1.5; CPU 1 kWh in the next hour at 50 x 1.1. Split by
    # energy share, each would have half of 355 g.
    cpu = dataclasses.replace(interval(1, 3.6e6), device_uuid="cpu0", kind=DeviceKind.CPU)
    rows = [interval(0, 3.6e6), cpu]

    values = compute_result(JOB, rows, SITE, Series(), now=T0 + timedelta(hours=3)).values

    split = (values.gpu_co2e_g, values.cpu_co2e_g, values.dram_co2e_g, values.other_co2e_g)
    assert split == pytest.approx((300.0, 55.0, 0.0, 0.0))
    assert sum(part or 0.0 for part in split) == values.co2e_g
