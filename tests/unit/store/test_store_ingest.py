from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, delete, event, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from slurm_carbon.errors import StoreError
from slurm_carbon.store import (
    Cluster,
    Device,
    EnergyInterval,
    Job,
    Node,
    ReportedDevice,
    ReportedInterval,
    SessionFactory,
    get_or_create_cluster,
    ingest_batch,
    ingest_engine,
    make_engine,
    ping,
    session_factory,
    stored_node_lists,
    transaction,
    upgrade,
    upsert_job,
)
from slurm_carbon.vocabulary import DeviceKind, EnergyMethod, Sharing
from tests.conftest import PostgresDatabases

T0 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
GPU = ReportedDevice("GPU-aaaa", DeviceKind.GPU, model="Tesla V100", minor=0)
DRAM = ReportedDevice("intel-rapl:0:0", DeviceKind.DRAM)


def _interval(
    minute: int, job: int = 123, device: ReportedDevice = GPU, energy_j: float = 60.0
) -> ReportedInterval:
    start = T0 + timedelta(minutes=minute)
    return ReportedInterval(
        slurm_job_id=job,
        device=device,
        start=start,
        end=start + timedelta(minutes=1),
        energy_j=energy_j,
        method=EnergyMethod.COUNTER,
        sharing=Sharing.EXCLUSIVE,
    )


def _count(session: Session, model: type[object]) -> int:
    return session.execute(select(func.count()).select_from(model)).scalar_one()


@pytest.fixture
def factory(session: Session) -> SessionFactory:
    connection = session.get_bind()
    assert isinstance(connection, Connection)
    return sessionmaker(bind=connection, join_transaction_mode="create_savepoint")


def test_a_batch_creates_what_it_needs_and_counts_new_intervals(session: Session) -> None:
    batch = [_interval(0), _interval(0, device=DRAM), _interval(1, job=124), _interval(1)]

    assert ingest_batch(session, "sclocal", "vm", batch) == 4
    assert ingest_batch(session, "sclocal", "vm", batch) == 0

    assert [_count(session, m) for m in (Cluster, Node, Device, Job, EnergyInterval)] == [
        1,
        1,
        2,
        2,
        4,
    ]
    devices = session.execute(select(Device.uuid, Device.kind, Device.model, Device.minor))
    assert sorted(tuple(row) for row in devices) == [
        ("GPU-aaaa", DeviceKind.GPU, "Tesla V100", 0),
        ("intel-rapl:0:0", DeviceKind.DRAM, None, None),
    ]


def test_a_batch_leaves_a_known_job_as_it_was(session: Session) -> None:
    cluster = get_or_create_cluster(session, "sclocal")
    upsert_job(session, cluster.id, 123, user_name="alice", state="RUNNING")

    ingest_batch(session, "sclocal", "vm", [_interval(0)])

    job = session.execute(select(Job)).scalar_one()
    assert (job.slurm_job_id, job.user_name, job.state) == (123, "alice", "RUNNING")


def test_the_same_job_id_on_two_clusters_is_two_jobs(session: Session) -> None:
    ingest_batch(session, "a", "vm", [_interval(0)])
    ingest_batch(session, "b", "vm", [_interval(0)])

    assert _count(session, Job) == 2
    assert _count(session, EnergyInterval) == 2


def test_a_batch_that_fails_leaves_nothing(session: Session, factory: SessionFactory) -> None:
    # Validation upstream refuses negative energy; the CHECK constraint is the backstop.
    batch = [_interval(0), _interval(1, energy_j=-1.0)]

    with pytest.raises(IntegrityError), transaction(factory) as inner:
        ingest_batch(inner, "sclocal", "vm", batch)

    assert [_count(session, m) for m in (Cluster, Node, Device, Job, EnergyInterval)] == [0] * 5


def test_a_transaction_commits_its_work(session: Session, factory: SessionFactory) -> None:
    with transaction(factory) as inner:
        ingest_batch(inner, "sclocal", "vm", [_interval(0)])

    assert _count(session, EnergyInterval) == 1


def test_ping_answers_on_a_live_database(factory: SessionFactory) -> None:
    ping(factory)


def test_an_unreachable_database_is_a_store_error() -> None:
    engine = make_engine("postgresql+psycopg://carbon:s3cret@127.0.0.1:9/slurm_carbon")
    try:
        with pytest.raises(StoreError, match="connection refused") as raised:
            ping(session_factory(engine))
        assert "s3cret" not in str(raised.value)
    finally:
        engine.dispose()


def test_a_missing_table_is_a_store_error(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/empty.db")
    try:
        with (
            pytest.raises(StoreError, match="database unavailable: no such table"),
            transaction(session_factory(engine)) as session,
        ):
            ingest_batch(session, "sclocal", "vm", [_interval(0)])
    finally:
        engine.dispose()


def _energies(session: Session) -> list[tuple[int, float]]:
    query = select(EnergyInterval.interval_start, EnergyInterval.energy_j).order_by(
        EnergyInterval.interval_start
    )
    return [
        (int((start - T0).total_seconds() // 60), energy)
        for start, energy in session.execute(query)
    ]


def test_a_row_twice_in_one_batch_is_stored_once_the_first_time(session: Session) -> None:
    batch = [_interval(0, energy_j=60.0), _interval(1), _interval(0, energy_j=99.0)]

    assert ingest_batch(session, "sclocal", "vm", batch) == 2

    assert _energies(session) == [(0, 60.0), (1, 60.0)]


def test_overlapping_batches_store_each_row_once_as_first_sent(session: Session) -> None:
    first = [_interval(0, energy_j=10.0), _interval(1, energy_j=11.0)]
    second = [_interval(1, energy_j=99.0), _interval(2, energy_j=12.0)]

    stored = [ingest_batch(session, "sclocal", "vm", b) for b in (first, second, second)]

    assert stored == [2, 1, 0]
    assert _energies(session) == [(0, 10.0), (1, 11.0), (2, 12.0)]


def test_a_second_batch_in_one_transaction_moves_only_its_own_rows(session: Session) -> None:
    assert ingest_batch(session, "sclocal", "vm", [_interval(0)]) == 1
    session.execute(delete(EnergyInterval))  # e.g. a rollup in the same transaction

    assert ingest_batch(session, "sclocal", "vm", [_interval(1)]) == 1

    assert _energies(session) == [(1, 60.0)]


def test_an_engine_connected_before_the_migrations_still_ingests(
    empty_db: Callable[[str], str],
) -> None:
    # Its pooled connection has no stage table (PostgreSQL): the batch makes one.
    url = empty_db("early")
    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        upgrade(url)
        factory = session_factory(engine)
        for _ in range(2):  # the second batch, on the same connection, is all re-sent
            with transaction(factory) as session:
                stored = ingest_batch(session, "sclocal", "vm", [_interval(0), _interval(1)])
        with transaction(factory) as session:
            assert _energies(session) == [(0, 60.0), (1, 60.0)]
        assert stored == 0
    finally:
        engine.dispose()


@pytest.mark.parametrize("ingest_stage", [False, True])
def test_only_the_ingest_engine_makes_the_stage_table_when_it_connects(
    postgres_databases: PostgresDatabases, ingest_stage: bool
) -> None:
    # A temporary table is catalog rows written and dropped per connection: the
    # report, the writer and every other CLI connection go without.
    url = postgres_databases.create("stage")
    upgrade(url)
    engine = ingest_engine(url) if ingest_stage else make_engine(url)
    try:
        with engine.connect() as connection:
            found = connection.exec_driver_sql("SELECT to_regclass('pg_temp.ingest_stage')")
            assert (found.scalar() is not None) is ingest_stage
    finally:
        engine.dispose()


def test_no_job_ids_ask_the_database_nothing(session: Session) -> None:
    # A batch without progress asks for the node lists of no jobs: no round trip.
    session.execute(select(1))
    seen: list[str] = []

    def count(*args: object) -> None:
        seen.append(str(args[2]))

    connection = session.connection()
    event.listen(connection, "before_cursor_execute", count)
    try:
        assert stored_node_lists(session, "sclocal", []) == {}
    finally:
        event.remove(connection, "before_cursor_execute", count)
    assert seen == []
