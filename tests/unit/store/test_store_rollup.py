"""Rolling old intervals up per job, node, device and hour keeps every job's figures."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from slurm_carbon.cli.main import cli
from slurm_carbon.errors import IntensityUnavailable
from slurm_carbon.intensity.base import CiPoint
from slurm_carbon.service.results import compute_result
from slurm_carbon.service.site import StaticSite
from slurm_carbon.store import (
    EnergyInterval,
    JobResult,
    NewInterval,
    add_intervals,
    get_or_create_cluster,
    get_or_create_device,
    get_or_create_node,
    make_engine,
    session_factory,
    transaction,
    upgrade,
    upsert_job,
)
from slurm_carbon.store.figures import JobFigures
from slurm_carbon.store.results import get_result, job_intervals, jobs_on_node_slots, save_result
from slurm_carbon.store.rollup import days_to_roll, roll_up_day
from slurm_carbon.vocabulary import CiKind, CiSignal, DeviceKind, EnergyMethod, Sharing
from tests.builders import slurm_job

START = datetime(2024, 3, 1, 10, 0, 30, tzinfo=UTC)  # not on the minute: the agent's own clock
END = START + timedelta(hours=3, minutes=10)
NOW = END + timedelta(days=40)
SITE = StaticSite("DE", pue=1.4)
_MINUTE = timedelta(seconds=60)
MINIMAL_SITE = 'cluster = "c1"\n[regions]\ndefault = "DE"\n[pue]\ndefault = 1.4\n'


class Hourly:
    """A different carbon intensity each hour, so energy put in a wrong hour shows."""

    name = "hourly"

    def history(self, region: str, start: datetime, end: datetime) -> list[CiPoint]:
        first = start.replace(minute=0, second=0, microsecond=0)
        return [
            CiPoint(
                region,
                first + timedelta(hours=h),
                3600,
                100.0 + 97.0 * h,
                "hourly",
                CiKind.ACTUAL,
                CiSignal.AVERAGE,
                first + timedelta(hours=h),
            )
            for h in range(int((end - first) / timedelta(hours=1)) + 1)
        ]

    def forecast(self, region: str, start: datetime, hours: int) -> list[CiPoint]:
        raise IntensityUnavailable("no forecast")


def _minutes(ids: Any, device_id: int, job_id: int) -> list[NewInterval]:
    """60 s intervals over the run, power varying, a method change and a cap mid-way."""
    rows = []
    at = START
    n = 0
    while at + timedelta(seconds=60) <= END:
        rows.append(
            NewInterval(
                job_id=job_id,
                node_id=ids.node_id,
                device_id=device_id,
                interval_start=at,
                interval_end=at + timedelta(seconds=60),
                energy_j=12_000.0 + 1_000.3 * (n % 7),
                method=EnergyMethod.INTEGRATED if 50 <= n < 53 else EnergyMethod.COUNTER,
                sharing=Sharing.EXCLUSIVE,
                cap_w=250.0 if n % 2 else None,
                busy_clock_mhz=900.0 + n,
            )
        )
        at += timedelta(seconds=60)
        n += 1
    return rows


def _settled_job(session: Session, ids: Any) -> tuple[int, list[NewInterval]]:
    job = upsert_job(session, ids.cluster_id, 4242, start_time=START, end_time=END, partition="gpu")
    cpu = get_or_create_device(session, ids.node_id, "intel-rapl:0", kind=DeviceKind.CPU)
    rows = _minutes(ids, ids.device_id, job.id) + _minutes(ids, cpu.id, job.id)
    assert add_intervals(session, rows) == len(rows)
    return job.id, rows


def _figures(session: Session, job_id: int) -> JobFigures:
    """The job's figures recomputed from its stored intervals, as the writer computes them."""
    job = slurm_job(4242, partition="gpu", node_list="gpu01", start_time=START, end_time=END)
    rows = job_intervals(session, job_id)
    sharers = jobs_on_node_slots(session, job_id)
    return compute_result(job, rows, SITE, Hourly(), NOW, sharers=sharers).values


def _split(values: dict[str, Any]) -> tuple[dict[str, float], dict[str, Any]]:
    """The float fields, and the others."""
    floats = {k: v for k, v in values.items() if isinstance(v, float)}
    return floats, {k: v for k, v in values.items() if k not in floats}


def _stored(session: Session, job_id: int) -> dict[str, object]:
    row = get_result(session, job_id)
    assert row is not None
    return {column.name: getattr(row, column.name) for column in JobResult.__table__.columns}


def _count(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(EnergyInterval)).scalar_one())


def _roll_all(session: Session) -> tuple[int, int]:
    before = NOW - timedelta(days=30)
    done = [roll_up_day(session, day, before) for day in days_to_roll(session, before)]
    return sum(d.rows_before for d in done), sum(d.rows_after for d in done)


def test_rollup_keeps_every_figure_and_rolls_nothing_twice(session: Session, ids: Any) -> None:
    job_id, rows = _settled_job(session, ids)
    before = _figures(session, job_id)
    save_result(session, job_id, before)
    stored = _stored(session, job_id)
    assert len(rows) == 2 * 190
    rolled_from, rolled_to = _roll_all(session)
    # Per device, 190 rows from 10:00:30: the rows across 11:00, 12:00 and 13:00 stay;
    # hour 10's 59 become 3 (the integrated rows 50-52 split it), 11's and 12's 59 and
    # 13's 10 become one each.
    assert (rolled_from, rolled_to) == (2 * 187, 2 * 6)
    assert _count(session) == 2 * (6 + 3)
    after = _figures(session, job_id)
    # The same figures, to the last bits of float summation (the energy is summed in
    # another order); a wrong hour would move the CO2e by percents.
    numbers, others = _split(asdict(after))
    assert (numbers, others) == (
        pytest.approx(_split(asdict(before))[0], rel=1e-12),
        _split(asdict(before))[1],
    )
    assert after.co2e_g > 0
    assert _stored(session, job_id) == stored
    assert _roll_all(session) == (0, 0)


def _all_rows(session: Session) -> list[dict[str, Any]]:
    query = select(EnergyInterval.__table__).order_by(
        EnergyInterval.job_id, EnergyInterval.device_id, EnergyInterval.interval_start
    )
    return [dict(row._mapping) for row in session.execute(query)]


def test_the_sql_and_the_python_rollup_give_the_same_rows(session: Session, ids: Any) -> None:
    job_id, _ = _settled_job(session, ids)
    save_result(session, job_id, _figures(session, job_id))
    running = upsert_job(session, ids.cluster_id, 4243, start_time=START, partition="gpu")
    assert add_intervals(session, _minutes(ids, ids.device_id, running.id)[:30]) == 30
    before = NOW - timedelta(days=30)
    days = days_to_roll(session, before)
    savepoint = session.begin_nested()
    in_python = [roll_up_day(session, day, before, in_python=True) for day in days]
    python_rows = _all_rows(session)
    savepoint.rollback()

    in_sql = [roll_up_day(session, day, before) for day in days]  # SQL on PostgreSQL

    assert in_sql == in_python
    assert (in_sql[0].rows_before, in_sql[0].rows_after) == (2 * 187, 2 * 6)
    assert all(d.rows_before == 0 for d in in_sql[1:])
    sql_rows = _all_rows(session)
    assert len(sql_rows) == 2 * 9 + 30  # the running job's 30 rows stay as they were
    for got, want in zip(sql_rows, python_rows, strict=True):
        numbers, others = _split(got)
        assert (numbers, others) == (pytest.approx(_split(want)[0], rel=1e-12), _split(want)[1])
    # The GPU's hour 11: rows 60..118 (11:00:30 to 11:59:30), a cap of 250 W on the odd
    # ones only (a mean that counted the others as 0 W would give 123 W), clock 900 + n.
    hour_11 = next(
        row
        for row in sql_rows
        if row["device_id"] == ids.device_id and row["interval_start"] == START + 60 * _MINUTE
    )
    assert hour_11["interval_end"] == START + 119 * _MINUTE
    assert hour_11["energy_j"] == pytest.approx(
        sum(12_000.0 + 1_000.3 * (n % 7) for n in range(60, 119)), rel=1e-15
    )
    assert (hour_11["cap_w"], hour_11["busy_clock_mhz"]) == (250.0, pytest.approx(989.0))


def test_a_batch_resent_after_its_rollup_adds_nothing(session: Session, ids: Any) -> None:
    job_id, rows = _settled_job(session, ids)
    save_result(session, job_id, _figures(session, job_id))
    _roll_all(session)
    kept = _count(session)
    energy = sum(row.energy_j for row in job_intervals(session, job_id))
    assert add_intervals(session, rows) == 0
    assert _count(session) == kept
    assert sum(row.energy_j for row in job_intervals(session, job_id)) == energy


def test_unsettled_jobs_and_recent_rows_are_not_rolled(session: Session, ids: Any) -> None:
    job_id, rows = _settled_job(session, ids)  # no result stored: not settled
    assert _roll_all(session) == (0, 0)
    save_result(session, job_id, _figures(session, job_id))
    done = roll_up_day(session, START.date(), START + timedelta(hours=1))  # hour 10 only
    assert (done.rows_before, done.rows_after) == (2 * 59, 2 * 3)
    assert _count(session) == len(rows) - 2 * 59 + 2 * 3


def test_db_maintain_rolls_up_and_says_what_it_did(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    engine = make_engine(url)
    with transaction(session_factory(engine)) as session:
        cluster = get_or_create_cluster(session, "c1")
        node = get_or_create_node(session, cluster.id, "gpu01")
        gpu = get_or_create_device(session, node.id, "GPU-1", kind=DeviceKind.GPU)
        ids = SimpleNamespace(cluster_id=cluster.id, node_id=node.id, device_id=gpu.id)
        job_id, _ = _settled_job(session, ids)
        save_result(session, job_id, _figures(session, job_id))
    engine.dispose()
    site = tmp_path / "site.toml"
    site.write_text(MINIMAL_SITE + "[storage]\nrollup_after_days = 30\n")

    done = CliRunner().invoke(cli, ["db", "maintain", "--url", url, "--config", str(site)])

    assert done.exit_code == 0, done.output
    assert done.output.splitlines() == [
        "2024-03-01: 374 intervals rolled up into 12",
        f"{url}: 0 partitions created, 374 intervals rolled up into 12, 0 dropped past retention",
    ]
