"""``report -j``'s figures and energy card come from the function the writer's result does.

A job with a share of its node's unmeasured parts, a PUE series and an
interval reported by a node it did not run on: the detail view and the card
show the stored result's figures, not a recomputation that forgets any of it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from slurm_carbon.cli.main import cli
from slurm_carbon.cli.report import Caller
from slurm_carbon.config import load_config
from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.intensity.chain import BestSeries
from slurm_carbon.service.results import settle_result
from slurm_carbon.store import make_engine, session_factory, transaction, upgrade
from slurm_carbon.store.ingest import ReportedDevice, ReportedInterval, ingest_batch
from slurm_carbon.store.intensity import add_ci_points, stored_actuals
from slurm_carbon.units import format_co2e
from slurm_carbon.vocabulary import CiKind, CiSignal, DeviceKind, EnergyMethod, Sharing
from tests.builders import slurm_job

T0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=3)
SITE_TOML = """
cluster = "tc"
[regions]
default = "SE"
[pue]
default = 1.1
[pue.partitions]
gpu = [
    { valid_from = 2026-01-01T00:00:00Z, value = 1.5 },
    { valid_from = 2026-11-20T01:00:00Z, value = 1.2 },
]
[node_types.gpu]
nodes = ["gpu-se*"]
unmeasured_power_w = 180.0
"""
JOB = slurm_job(
    41,
    cluster="tc",
    name="train",
    partition="gpu",
    submit_time=T0,
    start_time=T0,
    end_time=T0 + timedelta(hours=2),
    req_tres="cpu=1,gres/gpu=1",
    alloc_tres="cpu=1,gres/gpu=1",
    node_list="gpu-se[01-02]",
    comment="",
)


def _interval(hour: int, energy_j: float) -> ReportedInterval:
    start = T0 + timedelta(hours=hour, minutes=10)
    return ReportedInterval(
        41,
        ReportedDevice("GPU-1", DeviceKind.GPU, "A40", 0),
        start,
        start + timedelta(minutes=30),
        energy_j,
        EnergyMethod.COUNTER,
        Sharing.EXCLUSIVE,
    )


pytestmark = pytest.mark.usefixtures("local_time_utc")


@pytest.fixture
def url(empty_db: Callable[[str], str]) -> str:
    url = empty_db("detail")
    upgrade(url)
    return url


def _settle(url: str, site_file: Path) -> float:
    """Store CI, the job's intervals (and a stranger's), settle the job as the writer does."""
    engine = make_engine(url)
    factory = session_factory(engine)
    with transaction(factory) as session:
        add_ci_points(
            session,
            [
                CiPoint(
                    "SE",
                    T0 + timedelta(hours=h),
                    3600,
                    ci,
                    "trace",
                    CiKind.ACTUAL,
                    CiSignal.AVERAGE,
                    T0,
                )
                for h, ci in enumerate([200.0, 50.0, 120.0, 80.0] * 12)
            ],
        )
        ingest_batch(session, "tc", "gpu-se01", [_interval(0, 3.6e6), _interval(1, 1.8e6)])
        ingest_batch(session, "tc", "intruder", [_interval(0, 3.6e8)])
    with transaction(factory) as session:
        computed = settle_result(
            session, JOB, load_config(site_file), BestSeries(stored_actuals(factory)), NOW
        )
    engine.dispose()
    return computed.values.co2e_g


def _report(url: str, site_file: Path | None) -> Result:
    env = {"SLURM_CARBON_CONFIG": None if site_file is None else str(site_file)}
    return CliRunner(env=env).invoke(
        cli, ["report", "--url", url, "-j", "41"], obj=Caller("root", now=NOW)
    )


def test_detail_and_card_show_the_stored_result(url: str, tmp_path: Path) -> None:
    site_file = tmp_path / "site.toml"
    site_file.write_text(SITE_TOML)
    co2e_g = _settle(url, site_file)
    # 1 kWh x 200 x 1.5 + 0.5 kWh x 50 x 1.2, plus 180 W x 30 min = 0.09 kWh in each
    # slot, the intruder's 100 kWh dropped.
    assert co2e_g == pytest.approx(1.09 * 200 * 1.5 + 0.59 * 50 * 1.2)

    result = _report(url, site_file)

    assert result.exit_code == 0, result.output
    shown = format_co2e(co2e_g)
    assert re.search(rf"CO2e\s+~?{re.escape(shown)}", result.stdout), result.stdout
    assert f"| Emissions | {shown} CO2e |" in result.stdout, result.stdout
    assert "Recomputed" not in result.stdout


def test_a_recomputation_that_differs_is_said(url: str, tmp_path: Path) -> None:
    site_file = tmp_path / "site.toml"
    site_file.write_text(SITE_TOML)
    co2e_g = _settle(url, site_file)

    result = _report(url, None)  # no site file: no PUE series, no unmeasured parts

    assert result.exit_code == 0, result.output
    assert f"the stored result {format_co2e(co2e_g)}" in " ".join(result.stdout.split())
