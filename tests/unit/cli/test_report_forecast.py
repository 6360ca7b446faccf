"""``report -j`` of a running job shows its forecast and budget share; a finished job, none."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner, Result

from slurm_carbon.cli.main import cli
from slurm_carbon.cli.report import Caller
from slurm_carbon.cli.report_json import REPORT_JSON_SCHEMA
from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.service.results import store_job
from slurm_carbon.store import make_engine, session_factory, transaction, upgrade
from slurm_carbon.store.ingest import ReportedDevice, ReportedInterval, ingest_batch
from slurm_carbon.store.intensity import add_ci_points
from slurm_carbon.store.progress import ProgressPoint, add_progress
from slurm_carbon.vocabulary import CiKind, CiSignal, DeviceKind, EnergyMethod, Sharing
from tests.builders import slurm_job

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
#: 20 minutes in; the job reported 10 % and 20 % at the ends of minutes 10 and 20.
NOW = T0 + 20 * MINUTE
#: 300 W GPU + 50 W CPU. So far 420 kJ (117 Wh) x 100 g/kWh x 1.5 = 17.5 g; ahead 80 minutes,
#: 1.68 MJ (467 Wh) x 200 g/kWh (the stored forecast) x 1.5 = 140 g; total 157.5 g of 5 kg.
GPU_W, CPU_W = 300.0, 50.0
SITE_TOML = """
cluster = "tc"
[regions]
default = "SE"
[pue]
default = 1.5
"""
RUNNING = slurm_job(
    77,
    cluster="tc",
    start_time=T0,
    end_time=None,
    state="RUNNING",
    node_list="gpu01",
    comment="carbon_budget=5kg",
)
FINISHED = slurm_job(78, cluster="tc", start_time=T0, end_time=NOW, node_list="gpu01")

pytestmark = pytest.mark.usefixtures("local_time_utc")


def _ci(hour: int, ci: float, kind: CiKind) -> CiPoint:
    time = (NOW if kind is CiKind.FORECAST else T0) + timedelta(hours=hour)
    issued = NOW if kind is CiKind.FORECAST else time
    return CiPoint("SE", time, 3600, ci, "trace", kind, CiSignal.AVERAGE, issued)


def _intervals(raw: int) -> list[ReportedInterval]:
    devices = {
        GPU_W: ReportedDevice("GPU-1", DeviceKind.GPU, "A40", 0),
        CPU_W: ReportedDevice("rapl-0", DeviceKind.CPU),
    }
    return [
        ReportedInterval(
            raw,
            device,
            T0 + m * MINUTE,
            T0 + (m + 1) * MINUTE,
            watts * 60,
            EnergyMethod.COUNTER,
            Sharing.EXCLUSIVE,
        )
        for m in range(20)
        for watts, device in devices.items()
    ]


@pytest.fixture
def url(empty_db: Callable[[str], str]) -> str:
    url = empty_db("forecast")
    upgrade(url)
    engine = make_engine(url)
    with transaction(session_factory(engine)) as session:
        add_ci_points(session, [_ci(0, 100.0, CiKind.ACTUAL)])
        add_ci_points(session, [_ci(h, 200.0, CiKind.FORECAST) for h in range(3)])
        for job in (RUNNING, FINISHED):
            ingest_batch(session, "tc", "gpu01", _intervals(job.job_id_raw))
            job_id = store_job(session, job)
            reports = [(10, 0.1), (20, 0.2)]
            add_progress(session, [(job_id, ProgressPoint(T0 + m * MINUTE, f)) for m, f in reports])
    engine.dispose()
    return url


def _report(url: str, tmp_path: Path, *args: str) -> Result:
    site = tmp_path / "site.toml"
    site.write_text(SITE_TOML)
    return CliRunner().invoke(
        cli,
        ["report", "--url", url, "--config", str(site), *args],
        obj=Caller("root", now=NOW),
    )


def test_a_running_job_shows_so_far_forecast_total_and_its_budget_share(
    url: str, tmp_path: Path
) -> None:
    result = _report(url, tmp_path, "-j", "77")

    assert result.exit_code == 0, result.output
    out = [" ".join(line.split()) for line in result.stdout.splitlines()]
    assert "Forecast (an estimate; method observed, progress 20 %):" in out
    assert "So far 117 Wh, 17.5 g CO2e" in out
    assert "CO2e forecast total 158 g (90 %: 156 g to 159 g), remaining 140 g, ends ~11:40" in out
    assert "Energy forecast total 583 Wh (90 %: 579 Wh to 588 Wh), remaining 467 Wh" in out
    assert "Budget forecast to use 3 % of its 5,000 g CO2e budget" in out
    assert "CI ahead trace" in out


def _item(url: str, tmp_path: Path, job: str) -> dict[str, Any]:
    result = _report(url, tmp_path, "--json", "-j", job)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    jsonschema.validate(document, REPORT_JSON_SCHEMA)
    (item,) = document["jobs"]
    return dict(item)


def test_a_running_jobs_json_holds_its_forecast(url: str, tmp_path: Path) -> None:
    forecast = _item(url, tmp_path, "77")["forecast"]

    assert forecast["method"] == "observed"
    assert forecast["progress"] == pytest.approx(0.2)
    assert forecast["end"] == (T0 + 100 * MINUTE).isoformat()
    assert forecast["so_far_co2e_g"] == pytest.approx(17.5)
    assert forecast["remaining_co2e_g"] == pytest.approx(140.0)
    assert forecast["total_co2e_g"] == pytest.approx(157.5)
    assert forecast["remaining_kwh"] == pytest.approx(1.68e6 / 3.6e6)
    assert forecast["budget_co2e_pct"] == pytest.approx(157.5 / 5000 * 100)
    assert forecast["budget_energy_pct"] is None


def test_a_finished_job_has_no_forecast(url: str, tmp_path: Path) -> None:
    result = _report(url, tmp_path, "-j", "78")

    assert result.exit_code == 0, result.output
    assert "Forecast" not in result.stdout
    assert _item(url, tmp_path, "78")["forecast"] is None


def test_a_running_job_without_progress_shows_a_bound_by_its_time_limit(
    url: str, tmp_path: Path
) -> None:
    # 20 minutes in of a 1 h limit, no progress: 40 minutes more at 350 W is 840 kJ (233 Wh)
    # x 200 g/kWh x 1.5 = 70 g; with the 17.5 g so far, at most 87.5 g.
    bounded = dataclasses.replace(RUNNING, job_id="79", job_id_raw=79, time_limit_s=3600.0)
    engine = make_engine(url)
    with transaction(session_factory(engine)) as session:
        ingest_batch(session, "tc", "gpu01", _intervals(79))
        store_job(session, bounded)
    engine.dispose()

    result = _report(url, tmp_path, "-j", "79")

    assert result.exit_code == 0, result.output
    out = [" ".join(line.split()) for line in result.stdout.splitlines()]
    assert (
        "Bound (no progress reported; method time_limit: at most its highest power so far"
        " until its time limit):"
    ) in out
    assert (
        "CO2e at most 87.5 g by its time limit (87.5 g at its mean power so far),"
        " remaining at most 70.0 g"
    ) in out
    assert (
        "Energy at most 350 Wh by its time limit (350 Wh at its mean power so far),"
        " remaining at most 233 Wh"
    ) in out
    assert "Budget 2 % of its 5,000 g CO2e budget at its mean power until its time limit" in out
