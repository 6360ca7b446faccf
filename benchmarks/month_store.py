"""A month of a GPU cluster in the store: table size, rollup, the report while it runs.

Creates a PostgreSQL database on the server (dropped at the end unless
``--keep``), migrates it, and has the server generate (``INSERT ... SELECT``
from ``generate_series``, a day a statement, into a table then attached as that
day's partition) ``--days`` days of ``--gpus`` GPUs at 60 s intervals ending
``--rollup-after-days`` + 1 days ago (4-GPU jobs of ``--job-hours`` hours back to
back, each settled: an end and a result). Then it prints:

1. the table's size (rows, bytes with indexes, bytes per row) before the rollup;
2. the first day rolled up row by row in Python (``roll_up_day(in_python=True)``,
   SQLite's path), then ``slurm-carbon db maintain``'s rollup of the other days in
   SQL, each timed while a second connection ingests today's rows through
   ``store.ingest_batch`` (batches of one 8-GPU node's minute, as the service
   does): the ingest rate meanwhile, against the same ingest alone;
3. the report for one user's month (``slurm-carbon report -u``: every job of the
   user, from the results) and one job's detail view (``report -j``: recomputed
   from its intervals), timed, before and after the rollup;
4. the table's size after the rollup (``db maintain`` compacts each day it rolled up,
   saying how long it took), and after ``VACUUM FULL`` of the whole table.

Usage (the local server: deploy/local/postgres start; the shared one under the
servers' lock, a private clone's without it):
    .venv/bin/python benchmarks/month_store.py
        --server "$(deploy/local/postgres url)" [--gpus 2000] [--days 30]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from slurm_carbon.store import (
    ReportedDevice,
    ReportedInterval,
    ingest_batch,
    make_engine,
    session_factory,
    transaction,
    upgrade,
)
from slurm_carbon.store.partitions import create_day_partition, partition_name
from slurm_carbon.store.rollup import roll_up_day
from slurm_carbon.vocabulary import DeviceKind, EnergyMethod, Sharing

CLUSTER = "bench"
_NAME = "slurm_carbon_month_bench"
USER = "alice"
GPUS_PER_NODE = 8
GPUS_PER_JOB = 4
STEP = timedelta(seconds=60)
_COLUMNS = "job_id, node_id, device_id, interval_start, interval_end, energy_j, method, sharing"
REPO = Path(__file__).resolve().parents[1]
SLURM_CARBON = str(Path(sys.executable).with_name("slurm-carbon"))


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="URL of the server's postgres database")
    parser.add_argument("--gpus", type=int, default=2000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--job-hours", type=int, default=6)
    parser.add_argument("--rollup-after-days", type=int, default=30)
    parser.add_argument("--ingest-s", type=float, default=20.0, help="ingest alone, seconds")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    return parser.parse_args()


def _database(server: str) -> str:
    name = _NAME
    with psycopg.connect(_plain(server), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return make_url(server).set(database=name).render_as_string(hide_password=False)


def _plain(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _load(url: str, args: argparse.Namespace, first: datetime) -> tuple[int, float, int]:
    """COPY the month in; return rows, seconds, and one job's Slurm id."""
    nodes = args.gpus // GPUS_PER_NODE
    minutes_per_job = args.job_hours * 60
    jobs_per_gpu_pair = args.days * 24 // args.job_hours
    with psycopg.connect(_plain(url)) as connection, connection.cursor() as cursor:
        cursor.execute("INSERT INTO clusters (name) VALUES (%s) RETURNING id", (CLUSTER,))
        cluster_id = _one(cursor)
        devices: dict[tuple[int, int], tuple[int, int]] = {}
        for node in range(nodes):
            cursor.execute(
                "INSERT INTO nodes (cluster_id, hostname) VALUES (%s, %s) RETURNING id",
                (cluster_id, f"gpu{node:04d}"),
            )
            node_id = _one(cursor)
            for gpu in range(GPUS_PER_NODE):
                cursor.execute(
                    "INSERT INTO devices (node_id, uuid, kind, minor) VALUES (%s, %s, 'gpu', %s)"
                    " RETURNING id",
                    (node_id, f"GPU-{node:04d}-{gpu}", gpu),
                )
                devices[node, gpu] = (node_id, _one(cursor))
        jobs: dict[tuple[int, int, int], int] = {}
        slurm_id = 1
        for node in range(nodes):
            for pair in range(GPUS_PER_NODE // GPUS_PER_JOB):
                for n in range(jobs_per_gpu_pair):
                    start = first + timedelta(minutes=n * minutes_per_job)
                    end = start + timedelta(minutes=minutes_per_job)
                    cursor.execute(
                        "INSERT INTO jobs (cluster_id, slurm_job_id, user_name, partition,"
                        " start_time, end_time, requested_gpus, node_list)"
                        " VALUES (%s, %s, %s, 'gpu', %s, %s, %s, %s) RETURNING id",
                        (
                            cluster_id,
                            slurm_id,
                            USER if node % 50 == 0 else f"u{node % 50}",
                            start,
                            end,
                            GPUS_PER_JOB,
                            f"gpu{node:04d}",
                        ),
                    )
                    job_id = _one(cursor)
                    jobs[node, pair, n] = job_id
                    slurm_id += 1
        cursor.execute(
            "INSERT INTO job_results (job_id, gpu_energy_j, cpu_energy_j, dram_energy_j,"
            " other_energy_j, co2e_g, pue, quality, sharing, computed_at, ci_annual,"
            " ci_synthetic) SELECT id, 1, 0, 0, 0, 1, 1.3, 'counter', 'exclusive', now(),"
            " false, false FROM jobs"
        )
        connection.commit()
        cursor.execute(
            "CREATE TEMP TABLE bench_devices (node int, gpu int, node_id int, device_id int)"
        )
        with cursor.copy("COPY bench_devices FROM STDIN") as copy:
            for (node, gpu), (node_id, device_id) in devices.items():
                copy.write_row((node, gpu, node_id, device_id))
        cursor.execute("CREATE TEMP TABLE bench_jobs (node int, pair int, n int, job_id int)")
        with cursor.copy("COPY bench_jobs FROM STDIN") as copy:
            for (node, pair, n), job_id in jobs.items():
                copy.write_row((node, pair, n, job_id))
        cursor.execute("ANALYZE bench_devices")
        cursor.execute("ANALYZE bench_jobs")
        connection.commit()
        began = time.perf_counter()
        rows = 0
        for day in range(args.days):
            rows += _load_day(cursor, first, day, minutes_per_job)
            connection.commit()
            seconds = time.perf_counter() - began
            print(f"  day {day + 1}: {rows:,} rows, {seconds:.0f} s", flush=True)
        cursor.execute(
            "UPDATE job_results r SET gpu_energy_j = s.e FROM (SELECT job_id, sum(energy_j) e"
            " FROM energy_intervals GROUP BY job_id) s WHERE s.job_id = r.job_id"
        )
        connection.commit()
        return rows, time.perf_counter() - began, jobs_per_gpu_pair + 1


#: One day of every GPU's 60 s intervals, made by the server (generating them in Python
#: and sending them by COPY ran at 8-20k rows/s on 2 shared cores: a month would take hours).
_DAY_ROWS = f"""
INSERT INTO {{table}} ({_COLUMNS})
SELECT j.job_id, d.node_id, d.device_id,
       %(first)s::timestamptz + m * interval '60 s',
       %(first)s::timestamptz + (m + 1) * interval '60 s',
       15000 + (m * 7 + d.gpu * 13) %% 3000, 'counter', 'exclusive'
FROM generate_series(%(m0)s::int, %(m0)s::int + 1439) AS m
CROSS JOIN bench_devices d
JOIN bench_jobs j ON j.node = d.node AND j.pair = d.gpu / {GPUS_PER_JOB}
                 AND j.n = m / %(per_job)s::int
"""  # noqa: S608 (constants)


def _load_day(cursor: psycopg.Cursor[Any], first: datetime, day: int, per_job: int) -> int:
    """Load day ``day`` (0 = ``first``) as a table of its own, then attach it as its partition.

    Inserting into the partition made ahead ran 22-44k rows/s here: every row
    updated two indexes and fired three foreign-key checks. Here the rows go into
    a bare table (in the transaction that created it: no WAL at ``wal_level =
    minimal``), and ``ATTACH PARTITION`` then builds its indexes in bulk, checks
    each foreign key with one anti-join and the day's bounds with one scan, and
    gives it the parent's triggers: the partition ingest would have written into
    (:func:`_check_partition` compares them).
    """
    start = first + timedelta(days=day)
    table = sql.Identifier(*partition_name(start.date()).split("."))
    cursor.execute(
        sql.SQL(
            "CREATE TABLE {} (LIKE energy_intervals INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
        ).format(table)
    )
    cursor.execute(
        sql.SQL(_DAY_ROWS).format(table=table),
        {"first": first, "m0": day * 1440, "per_job": per_job},
    )
    rows = cursor.rowcount
    cursor.execute(
        sql.SQL(
            "ALTER TABLE energy_intervals ATTACH PARTITION {} FOR VALUES FROM ({}) TO ({})"
        ).format(table, sql.Literal(start), sql.Literal(start + timedelta(days=1)))
    )
    return rows


#: A partition's columns, indexes, constraints and triggers, named without its own name.
_STRUCTURE = """
SELECT 'column ' || attname || ' ' || format_type(atttypid, atttypmod) || ' ' || attnotnull
       || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = CAST(:rel AS regclass) AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'index ' || pg_get_indexdef(i.indexrelid)
       || ' of ' || coalesce(p.inhparent::regclass::text, '')
FROM pg_index i LEFT JOIN pg_inherits p ON p.inhrelid = i.indexrelid
WHERE i.indrelid = CAST(:rel AS regclass)
UNION ALL
SELECT 'constraint ' || conname || ' ' || pg_get_constraintdef(oid) || ' valid ' || convalidated
       || ' local ' || conislocal || ' inherited ' || coninhcount || ' ' || (conparentid <> 0)
FROM pg_constraint WHERE conrelid = CAST(:rel AS regclass)
UNION ALL
SELECT 'trigger ' || CASE WHEN t.tgisinternal THEN c.conname ELSE t.tgname END || ' '
       || t.tgfoid::regproc || ' ' || t.tgtype || ' ' || t.tgenabled::text
       || ' ' || (t.tgparentid <> 0)
FROM pg_trigger t LEFT JOIN pg_constraint c ON c.oid = t.tgconstraint
WHERE t.tgrelid = CAST(:rel AS regclass)
UNION ALL
SELECT 'table ' || relkind::text || relpersistence::text || ' ' || relispartition
       || ' ' || coalesce(array_to_string(reloptions, ','), '')
FROM pg_class WHERE oid = CAST(:rel AS regclass)
"""


def _structure(session: Session, day: date) -> set[str]:
    name = partition_name(day)
    found = session.execute(text(_STRUCTURE), {"rel": name}).scalars()
    return {line.replace(name.split(".")[1], "<partition>") for line in found}


def _check_partition(url: str, loaded: date, spare: date) -> int:
    """Fail unless day ``loaded``'s partition is what create_day_partition makes; return lines."""
    engine = make_engine(url)
    with session_factory(engine)() as session:
        create_day_partition(session, spare)
        made, attached = _structure(session, spare), _structure(session, loaded)
        session.rollback()
    engine.dispose()
    if made != attached:
        raise RuntimeError(
            f"loaded partition differs from a created one: {sorted(made ^ attached)}"
        )
    return len(made)


def _python_day(url: str, first: datetime, ingest: _Ingest) -> tuple[int, float, float]:
    """The first loaded day rolled up row by row in Python: rows, seconds, ingest rate meanwhile."""
    engine = make_engine(url)
    before, began = ingest.rows, time.perf_counter()
    with transaction(session_factory(engine)) as session:
        done = roll_up_day(session, first.date(), datetime.now(UTC), in_python=True)
    seconds = time.perf_counter() - began
    engine.dispose()
    return done.rows_before, seconds, (ingest.rows - before) / seconds


def _one(cursor: psycopg.Cursor[Any]) -> int:
    found = cursor.fetchone()
    if found is None:
        raise RuntimeError("no id returned")
    return int(found[0])


def _size(url: str, *, vacuum: bool = False) -> tuple[int, int]:
    """Rows and bytes (with indexes); ``vacuum``: after VACUUM FULL (what the rows need)."""
    if vacuum:
        with psycopg.connect(_plain(url), autocommit=True) as connection:
            connection.execute("VACUUM FULL energy_intervals")
    engine = make_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT count(*) FROM energy_intervals")).scalar_one()
        size = connection.execute(
            text(
                "SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0) FROM pg_inherits"
                " WHERE inhparent = 'energy_intervals'::regclass"
            )
        ).scalar_one()
    engine.dispose()
    return int(rows), int(size)


class _Ingest(threading.Thread):
    """Today's rows of one 8-GPU node a batch, through ingest_batch, until stopped."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.engine = make_engine(url)
        self.rows = 0
        self.stop = threading.Event()

    def run(self) -> None:
        factory = session_factory(self.engine)
        at = datetime.now(UTC).replace(second=0, microsecond=0)
        node = 0
        while not self.stop.is_set():
            batch = [
                ReportedInterval(
                    slurm_job_id=10_000_000 + node,
                    device=ReportedDevice(f"GPU-live-{gpu}", DeviceKind.GPU),
                    start=at,
                    end=at + STEP,
                    energy_j=15_000.0,
                    method=EnergyMethod.COUNTER,
                    sharing=Sharing.EXCLUSIVE,
                )
                for gpu in range(GPUS_PER_NODE)
            ]
            with transaction(factory, write_lock=True) as session:
                self.rows += ingest_batch(session, CLUSTER, f"live{node % 1000:04d}", batch)
            node += 1
            if node % 1000 == 0:
                at += STEP

    def rate_over(self, seconds: float) -> float:
        before = self.rows
        time.sleep(seconds)
        return (self.rows - before) / seconds


def _timed(*command: str) -> tuple[float, str]:
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:3])} failed: {done.stderr.strip()}")
    return time.perf_counter() - began, done.stdout


def _reports(url: str, job: int, days: int) -> str:
    env_url = ("--url", url)
    user_s, user_out = _timed(
        SLURM_CARBON, "report", *env_url, "-u", USER, "-S", "2000-01-01", "-P", "-n"
    )
    job_s, _ = _timed(SLURM_CARBON, "report", *env_url, "-j", str(job))
    return (
        f"report -u {USER} ({days} days, {len(user_out.splitlines())} jobs): {user_s:.2f} s;"
        f" report -j {job} (detail, from its intervals): {job_s:.2f} s"
    )


def main() -> None:
    """Load, measure, roll up, measure again."""
    args = _args()
    url = _database(args.server)
    try:
        upgrade(url)
        now = datetime.now(UTC)
        first = (now - timedelta(days=args.rollup_after_days + 1 + args.days)).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        rows, seconds, job = _load(url, args, first)
        print(
            f"loaded {rows:,} rows ({args.gpus} GPUs x {args.days} days) in "
            f"{seconds:.0f} s ({rows / seconds:,.0f} rows/s)"
        )
        compared = _check_partition(url, first.date(), (first - timedelta(days=1)).date())
        print(
            "each day's partition attached: foreign keys and bounds checked by ATTACH PARTITION;"
            f" the same {compared} columns, indexes, constraints and triggers as a partition"
            " made ahead"
        )
        rows, size = _size(url)
        print(f"before rollup: {rows:,} rows, {size / 1e6:,.0f} MB, {size / rows:.0f} B/row")
        print(_reports(url, job, args.days))
        ingest = _Ingest(url)
        ingest.start()
        alone = ingest.rate_over(args.ingest_s)
        site = Path("/tmp/month_store_site.toml")  # noqa: S108 (a benchmark's scratch file)
        site.write_text(
            f'cluster = "{CLUSTER}"\n[regions]\ndefault = "DE"\n[pue]\ndefault = 1.3\n'
            f"[storage]\nrollup_after_days = {args.rollup_after_days}\n"
        )
        in_python, python_s, python_during = _python_day(url, first, ingest)
        print(
            f"rollup of day 1 in Python: {in_python:,} rows in {python_s:.0f} s"
            f" ({in_python / python_s:,.0f} rows/s), ingest meanwhile {python_during:,.0f} rows/s"
        )
        before = ingest.rows
        rolled_s, out = _timed(SLURM_CARBON, "db", "maintain", "--url", url, "--config", str(site))
        during = (ingest.rows - before) / rolled_s
        ingest.stop.set()
        ingest.join()
        print(out, end="")  # each day rolled up (and compacted), then the totals
        in_sql = rows - in_python
        print(
            f"rollup of the other days in SQL (db maintain): {in_sql:,} rows in {rolled_s:.0f} s"
            f" ({in_sql / rolled_s:,.0f} rows/s); ingest alone {alone:,.0f} rows/s,"
            f" during the rollup {during:,.0f} rows/s"
        )
        rows, size = _size(url)
        print(f"after rollup: {rows:,} rows, {size / 1e6:,.0f} MB", end="")
        rows, size = _size(url, vacuum=True)
        print(f"; after VACUUM FULL {size / 1e6:,.0f} MB")
        print(_reports(url, job, args.days))
    finally:
        if not args.keep:
            with psycopg.connect(_plain(args.server), autocommit=True) as connection:
                connection.execute(
                    'DROP DATABASE IF EXISTS "slurm_carbon_month_bench" WITH (FORCE)'
                )


if __name__ == "__main__":
    main()
