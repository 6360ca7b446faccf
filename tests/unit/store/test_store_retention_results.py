"""Retention drops old intervals only: every job's result, and a running job's recent rows, stay.

``slurm-carbon db maintain`` with ``[storage] retention_days`` drops the intervals
older than the retention (whole day partitions on PostgreSQL, rows on SQLite);
jobs and their stored results are never touched, and an unsettled job whose
intervals lie inside the retention keeps every one of them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from slurm_carbon.cli.main import cli
from slurm_carbon.store import (
    EnergyInterval,
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
from slurm_carbon.store.partitions import ensure_partitions
from slurm_carbon.store.results import get_result, save_result
from slurm_carbon.vocabulary import DeviceKind, EnergyMethod, Sharing
from tests.builders import job_figures
from tests.unit.store.test_store_rollup import _stored

#: Past a 60-day retention (the least allowed is 31) and the 30-day rollup.
RETENTION_DAYS = 60
OLD_AGE = timedelta(days=90)
#: Inside the retention, and younger than the rollup: nothing may happen to these rows.
RECENT_AGE = timedelta(days=1)
MINUTES = 10
SITE = 'cluster = "c1"\n[regions]\ndefault = "DE"\n[pue]\ndefault = 1.4\n'

Row = tuple[int, datetime, datetime, float]


def _minutes(job_id: int, node_id: int, device_id: int, start: datetime) -> list[NewInterval]:
    return [
        NewInterval(
            job_id=job_id,
            node_id=node_id,
            device_id=device_id,
            interval_start=start + timedelta(minutes=n),
            interval_end=start + timedelta(minutes=n + 1),
            energy_j=12_000.0 + 1_000.3 * n,
            method=EnergyMethod.COUNTER,
            sharing=Sharing.EXCLUSIVE,
        )
        for n in range(MINUTES)
    ]


def _rows(session: Session, job_id: int) -> list[Row]:
    found = session.execute(
        select(
            EnergyInterval.device_id,
            EnergyInterval.interval_start,
            EnergyInterval.interval_end,
            EnergyInterval.energy_j,
        )
        .where(EnergyInterval.job_id == job_id)
        .order_by(EnergyInterval.interval_start)
    )
    return [(device, start, end, energy) for device, start, end, energy in found]


def test_retention_keeps_every_result_and_a_running_jobs_recent_rows(
    empty_db: Callable[[str], str], tmp_path: Path
) -> None:
    url = empty_db("retention")
    upgrade(url)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    old_start, recent_start = now - OLD_AGE, now - RECENT_AGE
    engine = make_engine(url)
    factory = session_factory(engine)
    try:
        with transaction(factory) as session:
            ensure_partitions(session, old_start)  # PostgreSQL: the old day has its partition
            ensure_partitions(session, recent_start)  # ...and so does the recent one
            cluster = get_or_create_cluster(session, "c1")
            node = get_or_create_node(session, cluster.id, "gpu01")
            gpu = get_or_create_device(session, node.id, "GPU-1", kind=DeviceKind.GPU)
            settled = upsert_job(
                session, cluster.id, 1, start_time=old_start,
                end_time=old_start + timedelta(minutes=MINUTES), partition="gpu",
            )  # fmt: skip
            running = upsert_job(session, cluster.id, 2, start_time=recent_start, partition="gpu")
            add_intervals(session, _minutes(settled.id, node.id, gpu.id, old_start))
            add_intervals(session, _minutes(running.id, node.id, gpu.id, recent_start))
            save_result(session, settled.id, job_figures(old_start + timedelta(hours=1)))
            settled_id, running_id = settled.id, running.id
        with transaction(factory) as session:
            result_before = _stored(session, settled_id)
            running_before = _rows(session, running_id)
        site = tmp_path / "site.toml"
        site.write_text(SITE + f"[storage]\nretention_days = {RETENTION_DAYS}\n")

        done = CliRunner().invoke(cli, ["db", "maintain", "--url", url, "--config", str(site)])

        assert done.exit_code == 0, done.output
        # The settled job's ten minutes were rolled into one row, which retention dropped.
        assert done.output.splitlines()[-1].endswith(
            f"{MINUTES} intervals rolled up into 1, 1 dropped past retention"
        )
        with transaction(factory) as session:
            assert _rows(session, settled_id) == []
            assert _stored(session, settled_id) == result_before
            assert result_before["co2e_g"] == 30.0
            assert _rows(session, running_id) == running_before
            assert len(running_before) == MINUTES
            assert get_result(session, running_id) is None
    finally:
        engine.dispose()
