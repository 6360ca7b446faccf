"""A rolled-up day gives its disk back (PostgreSQL), and ingest does not wait for it."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from slurm_carbon.cli.main import cli
from slurm_carbon.errors import StoreError
from slurm_carbon.store import (
    add_intervals,
    get_or_create_cluster,
    get_or_create_device,
    get_or_create_node,
    make_engine,
    session_factory,
    transaction,
    upgrade,
)
from slurm_carbon.store.compact import compact_day
from slurm_carbon.store.ingest import ReportedDevice, ReportedInterval, ingest_batch
from slurm_carbon.store.partitions import create_day_partition, ensure_partitions, partition_name
from slurm_carbon.store.results import job_intervals, save_result
from slurm_carbon.store.rollup import RolledDay, maintain
from slurm_carbon.store.transactions import SessionFactory
from slurm_carbon.vocabulary import DeviceKind, EnergyMethod, Sharing
from tests.conftest import PostgresDatabases
from tests.unit.store.test_store_rollup import (
    MINIMAL_SITE,
    NOW,
    START,
    _figures,
    _minutes,
    _settled_job,
    _split,
)

pytestmark = pytest.mark.integration

#: GPUs of the settled job besides the rollup test's GPU and CPU: 16 devices x 190
#: minutes fill about 40 heap pages, rolled to 9 rows a device, one page.
EXTRA_GPUS = 14
#: How long a statement of the ingest test may wait for a lock: far longer than an
#: ingest of a few rows takes here, and short enough that a waiting ingest fails fast.
INGEST_LOCK_TIMEOUT = "3s"
PARTITION = partition_name(START.date())
T = TypeVar("T")


@pytest.fixture
def pg(postgres_databases: PostgresDatabases) -> Iterator[Engine]:
    """A migrated PostgreSQL database with START's day partition, committed rows of a
    settled 16-device job in it (with its result)."""
    url = postgres_databases.create("compact")
    upgrade(url)
    engine = make_engine(url)
    with transaction(session_factory(engine)) as session:
        create_day_partition(session, START.date())
        cluster = get_or_create_cluster(session, "c1")
        node = get_or_create_node(session, cluster.id, "gpu01")
        gpu = get_or_create_device(session, node.id, "GPU-0", kind=DeviceKind.GPU)
        ids = SimpleNamespace(cluster_id=cluster.id, node_id=node.id, device_id=gpu.id)
        job_id, _ = _settled_job(session, ids)
        for n in range(EXTRA_GPUS):
            more = get_or_create_device(session, node.id, f"GPU-{n + 1}", kind=DeviceKind.GPU)
            add_intervals(session, _minutes(ids, more.id, job_id))
        save_result(session, job_id, _figures(session, job_id))
    yield engine
    engine.dispose()


def _size(engine: Engine) -> int:
    with engine.connect() as connection:
        size = connection.execute(text(f"SELECT pg_total_relation_size('{PARTITION}')"))
        return int(size.scalar_one())


def _job_figures(engine: Engine) -> Any:
    with transaction(session_factory(engine)) as session:
        job_id = session.execute(text("SELECT id FROM jobs")).scalar_one()
        return _split(asdict(_figures(session, job_id)))


@pytest.mark.parametrize("compact", [True, False])
def test_maintain_gives_a_rolled_days_disk_back(pg: Engine, compact: bool) -> None:
    size, figures = _size(pg), _job_figures(pg)
    rolled: list[RolledDay] = []

    done = maintain(
        session_factory(pg),
        NOW,
        rollup_after=timedelta(days=30),
        retention=None,
        compact=compact,
        progress=rolled.append,
    )

    assert (done.rolled_from, done.rolled_to) == (16 * 187, 16 * 6)
    [day] = [day for day in rolled if day.rows_before]  # the days after hold no rows
    numbers, others = _job_figures(pg)
    assert (numbers, others) == (pytest.approx(figures[0], rel=1e-12), figures[1])
    if compact:
        assert _size(pg) < size / 2
        assert day.compacted is not None
        assert day.compacted.partition == PARTITION
        assert day.compacted.bytes_before >= size  # the rolled rows went in at its end
        assert (day.compacted.bytes_after, day.compacted.busy) == (_size(pg), False)
    else:
        assert _size(pg) >= size
        assert day.compacted is None


def test_no_partition_of_its_own_or_today_is_not_compacted(pg: Engine) -> None:
    factory = session_factory(pg)
    assert compact_day(factory, START.date() - timedelta(days=1), NOW.date()) is None  # DEFAULT
    assert compact_day(factory, START.date(), START.date()) is None  # today


def _today_batch(now: datetime) -> list[ReportedInterval]:
    at = now.replace(second=0, microsecond=0) - timedelta(minutes=5)
    return [
        ReportedInterval(
            slurm_job_id=77,
            device=ReportedDevice(f"GPU-today-{gpu}", DeviceKind.GPU),
            start=at,
            end=at + timedelta(seconds=60),
            energy_j=15_000.0,
            method=EnergyMethod.COUNTER,
            sharing=Sharing.EXCLUSIVE,
        )
        for gpu in range(4)
    ]


def _waiting_briefly(factory: SessionFactory, work: Callable[[Session], T]) -> T:
    """``work`` in a transaction whose statements wait for a lock :data:`INGEST_LOCK_TIMEOUT`."""
    with transaction(factory) as session:
        session.execute(text(f"SET LOCAL lock_timeout = '{INGEST_LOCK_TIMEOUT}'"))
        return work(session)


def test_ingest_of_today_goes_on_while_an_old_day_is_locked(pg: Engine) -> None:
    now = datetime.now(UTC)
    factory = session_factory(pg)
    with transaction(factory) as session:
        ensure_partitions(session, now)
    batch = _today_batch(now)
    with pg.connect() as holder:
        holder.execute(text(f"LOCK TABLE {PARTITION} IN ACCESS EXCLUSIVE MODE"))  # VACUUM FULL's
        # The first by COPY, the re-sent one through the stage table.
        stored = [_waiting_briefly(factory, lambda s: ingest_batch(s, "c1", "gpu02", batch))]
        stored.append(_waiting_briefly(factory, lambda s: ingest_batch(s, "c1", "gpu02", batch)))
        # The lock holds: a reader of the old day waits, and gives up after the timeout.
        with pytest.raises(StoreError, match="lock timeout"):
            _waiting_briefly(factory, lambda s: job_intervals(s, 1))
        holder.rollback()
    assert stored == [4, 0]


@pytest.mark.parametrize(("setting", "said"), [("true", "compacted from"), ("false", None)])
def test_db_maintain_says_what_it_compacted(
    pg: Engine, tmp_path: Path, setting: str, said: str | None
) -> None:
    site = tmp_path / "site.toml"
    site.write_text(
        MINIMAL_SITE + f"[storage]\nrollup_after_days = 30\ncompact_rolled_days = {setting}\n"
    )
    url = pg.url.render_as_string(hide_password=False)

    done = CliRunner().invoke(cli, ["db", "maintain", "--url", url, "--config", str(site)])

    assert done.exit_code == 0, done.output
    day = next(line for line in done.output.splitlines() if line.startswith("2024-03-01: "))
    if said is None:
        assert day == "2024-03-01: 2992 intervals rolled up into 96"
    else:
        assert re.fullmatch(
            rf"2024-03-01: 2992 intervals rolled up into 96; {PARTITION} compacted from"
            r" 0\.\d MB to 0\.\d MB in \d+\.\d s",
            day,
        ), day
