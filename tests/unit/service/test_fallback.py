"""A job given the yearly mean although hourly figures are stored is said loudly (issue 8, item 2).

The writer logs a warning naming the job and region; the report prints a line
beside its SYNTHETIC one; the demo prints a WARNING. Where nothing hourly is
stored the yearly mean is the configured default and only the ``~`` marks it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from slurm_carbon.cli.demo import _say_fallbacks
from slurm_carbon.cli.main import cli
from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.intensity.embedded import EmbeddedAnnual
from slurm_carbon.service.site import StaticSite
from slurm_carbon.service.writer import Backoff, Writer
from slurm_carbon.slurm.fake import FakeSlurm
from slurm_carbon.store import (
    ReportedInterval,
    SessionFactory,
    ingest_batch,
    make_engine,
    session_factory,
    transaction,
    upgrade,
)
from slurm_carbon.store.intensity import save_points
from slurm_carbon.vocabulary import CiKind, CiSignal, EnergyMethod, Sharing
from tests.builders import slurm_job
from tests.unit.service.test_writer import CLUSTER, GPU, T0

REGION = "SE"
TRACE_START = T0.replace(year=2020)  # a trace replayed into another year: misses the job


@dataclass
class Site:
    url: str
    factory: SessionFactory


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    url = f"sqlite:///{tmp_path}/fallback.db"
    upgrade(url)
    engine = make_engine(url)
    yield Site(url, session_factory(engine))
    engine.dispose()


def _store_trace(factory: SessionFactory) -> None:
    save_points(
        factory,
        [
            CiPoint(
                REGION,
                TRACE_START + timedelta(hours=h),
                3600,
                40.0,
                "t.csv (replayed)",
                CiKind.ACTUAL,
                CiSignal.AVERAGE,
                TRACE_START + timedelta(hours=h),
            )
            for h in range(48)
        ],
    )


def _settle_job(factory: SessionFactory, raw: int) -> None:
    interval = ReportedInterval(
        raw,
        GPU,
        T0,
        T0 + timedelta(minutes=10),
        360_000.0,
        EnergyMethod.COUNTER,
        Sharing.EXCLUSIVE,
    )
    with transaction(factory) as session:
        ingest_batch(session, CLUSTER, "vm", [interval])
    writer = Writer(
        factory,
        FakeSlurm(slurm_job(raw)),
        StaticSite(REGION, 1.5),
        # what the writer's stored-then-annual series gives when the stored trace misses the job
        EmbeddedAnnual(),
        backoff=Backoff(first_s=10, factor=2, max_s=60, max_attempts=4),
        clock=lambda: T0 + timedelta(hours=3),
    )
    report = writer.run_once()
    assert report.written == 1, report


def _report(url: str, *args: str) -> str:
    result = CliRunner().invoke(
        cli, ["report", "--url", url, "-S", (T0 - timedelta(days=1)).isoformat()[:19], *args]
    )
    assert result.exit_code == 0, result.output
    return result.output


LOUD = (
    "YEARLY MEAN carbon intensity for SE although hourly figures are stored for it"
    " (t.csv (replayed): 2020-11-23T10:00:00+00:00 to 2020-11-25T09:00:00+00:00):"
    " none covered the run"
)


def test_fallback_with_a_stored_series_is_said_in_the_log_report_and_demo(
    site: Site, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    _store_trace(site.factory)

    with caplog.at_level(logging.WARNING, logger="slurm_carbon.service.writer"):
        _settle_job(site.factory, 301)

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"job=301 region=SE: {LOUD}"]
    assert f"{LOUD} of job(s) 301." in _report(site.url)
    assert f"{LOUD} of job(s) 301." in _report(site.url, "-j", "301")
    _say_fallbacks(site.url, T0 - timedelta(days=1))
    assert capsys.readouterr().out == f"WARNING: {LOUD} of job(s) 301.\n"


def test_the_yearly_mean_as_the_only_source_is_not_a_loud_fallback(
    site: Site, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    with caplog.at_level(logging.WARNING, logger="slurm_carbon.service.writer"):
        _settle_job(site.factory, 302)

    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    out = _report(site.url)
    assert "~" in out  # still marked as an estimate
    assert "YEARLY MEAN" not in out
    _say_fallbacks(site.url, T0 - timedelta(days=1))
    assert capsys.readouterr().out == ""
