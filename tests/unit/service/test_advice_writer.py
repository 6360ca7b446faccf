"""The advice files the service writes: one per partition with a series, atomic, pruned."""

from __future__ import annotations

import logging
import stat
import threading
import tomllib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from slurm_carbon.config import parse_config
from slurm_carbon.config.site import SiteConfig
from slurm_carbon.errors import SlurmError
from slurm_carbon.forecast.advice import ADVICE_CARRIED_SOURCE, ADVICE_EVERY_S, parse_advice
from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.service.advice import ADVICE_CHECK_S, AdviceWriter
from slurm_carbon.service.site import StaticSite
from slurm_carbon.service.writer import Writer
from slurm_carbon.slurm.fake import FakeSlurm
from slurm_carbon.store import SessionFactory
from slurm_carbon.store.intensity import add_ci_points
from slurm_carbon.vocabulary import CiKind, CiSignal
from tests.unit.service.test_writer import Hourly

NOW = datetime(2026, 12, 1, 12, 20, tzinfo=UTC)
HOUR = NOW.replace(minute=0)
ISSUED = HOUR - timedelta(hours=1)


def site(tmp_path: Path, extra: str = "") -> SiteConfig:
    text = f"""
cluster = "c1"
[regions]
default = "DE"
partitions = {{ cpu = "FR", other = "PL" }}
[pue]
default = 1.25
[advice]
dir = "{tmp_path / "advice"}"
hint_partitions = ["gpu"]
{extra}
"""
    return parse_config(tomllib.loads(text))


def forecast(region: str, values: list[float]) -> list[CiPoint]:
    return [
        CiPoint(
            region,
            HOUR + timedelta(hours=i),
            3600,
            value,
            "slurm_carbon:blend",
            CiKind.FORECAST,
            CiSignal.AVERAGE,
            ISSUED,
        )
        for i, value in enumerate(values)
    ]


def actual(region: str, value: float) -> CiPoint:
    time = HOUR - timedelta(hours=1)
    return CiPoint(region, time, 3600, value, "uk", CiKind.ACTUAL, CiSignal.AVERAGE, time)


def read(tmp_path: Path, partition: str) -> str:
    return (tmp_path / "advice" / f"{partition}.advice").read_text()


def test_each_partition_gets_its_regions_series_and_switches(
    session: Session, factory: SessionFactory, tmp_path: Path
) -> None:
    add_ci_points(session, forecast("DE", [400.0, 300.0, 100.0]))
    add_ci_points(session, [actual("FR", 55.0)])
    slurm = FakeSlurm(partitions=("gpu", "cpu", "other"))
    writer = AdviceWriter(
        factory,
        slurm,
        site(tmp_path, "threshold_pct = 20\nhint_min_minutes = 90"),
        clock=lambda: NOW,
    )

    assert writer.write_all(NOW) == ["gpu", "cpu"]

    gpu = parse_advice(read(tmp_path, "gpu"), int(NOW.timestamp()))
    assert gpu is not None
    assert (gpu.region, gpu.source, gpu.issued) == (
        "DE",
        "slurm_carbon:blend",
        int(ISSUED.timestamp()),
    )
    assert (gpu.start, gpu.step_s, gpu.ci) == (int(HOUR.timestamp()), 3600, (400.0, 300.0, 100.0))
    assert (gpu.hint, gpu.threshold_pct, gpu.defer_default_s) == (True, 20.0, 12 * 3600)
    assert gpu.hint_min_s == 90 * 60
    cpu = parse_advice(read(tmp_path, "cpu"), int(NOW.timestamp()))
    assert cpu is not None
    assert (cpu.region, cpu.source, cpu.hint) == ("FR", ADVICE_CARRIED_SOURCE, False)
    assert set(cpu.ci) == {55.0}
    # PL has nothing stored: no file, never a made-up series.
    assert not (tmp_path / "advice" / "other.advice").exists()
    mode = stat.S_IMODE((tmp_path / "advice" / "gpu.advice").stat().st_mode)
    assert mode == 0o644
    assert not list((tmp_path / "advice").glob(".*"))


def test_files_of_partitions_no_longer_advised_are_removed(
    session: Session, factory: SessionFactory, tmp_path: Path
) -> None:
    add_ci_points(session, forecast("DE", [400.0, 300.0]))
    slurm = FakeSlurm(partitions=("gpu", "old"))
    writer = AdviceWriter(factory, slurm, site(tmp_path), clock=lambda: NOW)
    writer.write_all(NOW)
    (tmp_path / "advice" / "notes.txt").write_text("kept")
    slurm.partition_names = ["gpu"]

    writer.write_all(NOW)

    assert sorted(p.name for p in (tmp_path / "advice").iterdir()) == ["gpu.advice", "notes.txt"]
    disabled = AdviceWriter(factory, slurm, site(tmp_path, "enabled = false"), clock=lambda: NOW)
    assert disabled.write_all(NOW) == []
    assert [p.name for p in (tmp_path / "advice").iterdir()] == ["notes.txt"]


def test_errors_are_logged_and_the_next_pass_waits_its_turn(
    session: Session, factory: SessionFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    add_ci_points(session, forecast("DE", [400.0, 300.0]))
    now = [NOW]

    class Down(FakeSlurm):
        def partitions(self) -> list[str]:
            raise SlurmError("scontrol show partition failed: down")

    writer = AdviceWriter(factory, Down(), site(tmp_path), clock=lambda: now[0])
    with caplog.at_level(logging.WARNING):
        writer.maybe_write()
    assert "advice files not written: scontrol show partition failed: down" in caplog.text

    ok = AdviceWriter(factory, FakeSlurm(partitions=("gpu",)), site(tmp_path), clock=lambda: now[0])
    ok.maybe_write()
    first = read(tmp_path, "gpu")
    now[0] = NOW + timedelta(seconds=ADVICE_EVERY_S - 1)
    ok.maybe_write()
    assert read(tmp_path, "gpu") == first
    now[0] = NOW + timedelta(seconds=ADVICE_EVERY_S)
    ok.maybe_write()
    assert read(tmp_path, "gpu") != first


def test_the_writer_process_loop_writes_the_files(
    session: Session, factory: SessionFactory, tmp_path: Path
) -> None:
    add_ci_points(session, forecast("DE", [400.0, 300.0]))
    slurm = FakeSlurm(partitions=("gpu",))
    stop = threading.Event()

    def advice_clock() -> datetime:
        stop.set()  # one pass
        return NOW

    advice = AdviceWriter(factory, slurm, site(tmp_path), clock=advice_clock)
    writer = Writer(factory, slurm, StaticSite("DE"), Hourly(), clock=lambda: NOW, advice=advice)
    writer.run(stop, poll_s=0)

    assert parse_advice(read(tmp_path, "gpu"), int(NOW.timestamp())) is not None


def test_a_new_forecast_is_written_within_a_check_not_a_pass(
    session: Session, factory: SessionFactory, tmp_path: Path
) -> None:
    add_ci_points(session, forecast("DE", [400.0, 300.0]))
    now = [NOW]
    writer = AdviceWriter(
        factory, FakeSlurm(partitions=("gpu",)), site(tmp_path), clock=lambda: now[0]
    )
    writer.maybe_write()
    first = read(tmp_path, "gpu")
    now[0] = NOW + timedelta(seconds=ADVICE_CHECK_S)
    writer.maybe_write()
    assert read(tmp_path, "gpu") == first  # nothing new: not rewritten
    newer = NOW - timedelta(minutes=5)
    add_ci_points(
        session, [replace(p, issued_at=newer, ci_g_per_kwh=50.0) for p in forecast("DE", [0, 0])]
    )
    now[0] = NOW + timedelta(seconds=ADVICE_CHECK_S + 1)
    writer.maybe_write()
    assert read(tmp_path, "gpu") == first  # the next check is a minute after the last
    now[0] = NOW + timedelta(seconds=2 * ADVICE_CHECK_S)
    writer.maybe_write()
    found = parse_advice(read(tmp_path, "gpu"), int(now[0].timestamp()))
    assert found is not None
    assert (found.issued, found.ci) == (int(newer.timestamp()), (50.0, 50.0))
