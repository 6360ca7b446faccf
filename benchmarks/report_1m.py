"""Time ``slurm-carbon report`` for one user's month among 1,000,000 jobs, vs a plain SQL scan.

Loads ``--jobs`` synthetic finished jobs, each with a result, into a dedicated
PostgreSQL database (created here, dropped at the end unless ``--keep``) with
COPY, then in the same process times:

- report: ``slurm-carbon report -P -u <user> -S <month> -E <month end>`` run
  in-process with its output to /dev/null (engine, query, formatting);
- scan: the same rows with one hand-written ``SELECT ... FROM jobs LEFT JOIN
  job_results ... WHERE user_name = %s AND end_time BETWEEN %s AND %s``,
  fetched with psycopg over a fresh connection, not formatted;

and prints the medians and their ratio, for a heavy user (10 % of all jobs)
and a typical one.

Usage (the local server: deploy/local/postgres start):
    .venv/bin/python benchmarks/report_1m.py --server "$(deploy/local/postgres url)"
        [--jobs 1000000] [--runs 7] [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from slurm_carbon.cli.report import Caller
from slurm_carbon.cli.report import report as report_command
from slurm_carbon.store import make_engine, upgrade

YEAR_START = datetime(2024, 1, 1, tzinfo=UTC)
MONTH = (datetime(2024, 6, 1, tzinfo=UTC), datetime(2024, 7, 1, tzinfo=UTC))
USERS = 500
HEAVY_SHARE = 0.10
STATES = ["COMPLETED"] * 8 + ["FAILED", "CANCELLED by 1000", "TIMEOUT", "OUT_OF_MEMORY"]
BATCH = 50_000


def _libpq(url: str) -> str:
    """A SQLAlchemy URL as a libpq conninfo URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def load(url: str, jobs: int, seed: int = 1) -> None:
    """COPY ``jobs`` jobs and their results; users ``heavy`` (10 %) and ``u0``..``u499``."""
    rng = random.Random(seed)  # noqa: S311 (synthetic data, not secrets)
    year_s = 365 * 86400
    began = time.perf_counter()
    with psycopg.connect(_libpq(url)) as connection, connection.cursor() as cursor:
        cluster_id = cursor.execute(
            "INSERT INTO clusters (name) VALUES ('bench') RETURNING id"
        ).fetchone()
        if cluster_id is None:
            raise RuntimeError("no cluster id returned")
        with cursor.copy(
            "COPY jobs (id, cluster_id, slurm_job_id, name, user_name, account, partition,"
            " start_time, end_time, state, requested_gpus) FROM STDIN"
        ) as jobs_copy:
            lines: list[str] = []
            for job in range(1, jobs + 1):
                user = "heavy" if rng.random() < HEAVY_SHARE else f"u{rng.randrange(USERS)}"
                end = YEAR_START + timedelta(seconds=rng.randrange(year_s))
                start = end - timedelta(seconds=rng.randrange(60, 86400))
                lines.append(
                    f"{job}\t{cluster_id[0]}\t{job}\tjob-{job}\t{user}\tacct{job % 40}"
                    f"\tgpu\t{start.isoformat()}\t{end.isoformat()}\t{rng.choice(STATES)}"
                    f"\t{rng.randrange(0, 9)}\n"
                )
                if len(lines) == BATCH:
                    jobs_copy.write("".join(lines))
                    lines.clear()
                    print(f"\rjobs: {job:,}/{jobs:,}", end="", file=sys.stderr, flush=True)
            jobs_copy.write("".join(lines))
        print(file=sys.stderr)
        with cursor.copy(
            "COPY job_results (job_id, gpu_energy_j, cpu_energy_j, dram_energy_j, co2e_g,"
            " ci_mean_g_per_kwh, ci_region, ci_source, pue, quality, sharing, computed_at)"
            " FROM STDIN"
        ) as results_copy:
            lines = []
            for job in range(1, jobs + 1):
                gpu_j = rng.uniform(0, 5e7)
                cpu_j = rng.uniform(0, 1e7)
                dram_j = rng.uniform(0, 1e6)
                ci = rng.uniform(50, 500)
                co2e = (gpu_j + cpu_j + dram_j) / 3.6e6 * ci * 1.3
                quality = "estimated" if job % 10 == 0 else "counter"
                lines.append(
                    f"{job}\t{gpu_j:.1f}\t{cpu_j:.1f}\t{dram_j:.1f}\t{co2e:.3f}\t{ci:.1f}\tFR"
                    f"\telectricitymaps\t1.3\t{quality}\texclusive\t{YEAR_START.isoformat()}\n"
                )
                if len(lines) == BATCH:
                    results_copy.write("".join(lines))
                    lines.clear()
                    print(f"\rresults: {job:,}/{jobs:,}", end="", file=sys.stderr, flush=True)
            results_copy.write("".join(lines))
        print(file=sys.stderr)
        cursor.execute("SELECT setval(pg_get_serial_sequence('jobs', 'id'), %s)", (jobs,))
        connection.commit()
        connection.autocommit = True
        cursor.execute("VACUUM ANALYZE jobs")
        cursor.execute("VACUUM ANALYZE job_results")
    print(f"loaded {jobs:,} jobs in {time.perf_counter() - began:.1f} s", file=sys.stderr)


def time_report(url: str, user: str) -> float:
    """Seconds for one in-process ``report -P`` of the user's month, output to /dev/null."""
    args = ["--url", url, "-P", "-u", user, "-S", "2024-06-01", "-E", "2024-06-30T23:59:59"]
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        began = time.perf_counter()
        report_command.main(args, obj=Caller("root", now=MONTH[1]), standalone_mode=False)
        return time.perf_counter() - began


def time_scan(url: str, user: str) -> tuple[float, int]:
    """Seconds (and rows) for the same rows by a plain SQL query over a fresh connection."""
    began = time.perf_counter()
    with psycopg.connect(_libpq(url)) as connection:
        rows = connection.execute(
            "SELECT j.*, r.* FROM jobs j LEFT JOIN job_results r ON r.job_id = j.id"
            " WHERE j.user_name = %s AND j.end_time BETWEEN %s AND %s",
            (user, MONTH[0], MONTH[1] - timedelta(seconds=1)),
        ).fetchall()
    return time.perf_counter() - began, len(rows)


def main() -> None:
    """Create the database, load it, time report vs scan, drop it."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True, help="SQLAlchemy URL of the server")
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="do not drop the database")
    args = parser.parse_args()
    name = f"slurm_carbon_bench_report_{os.getpid()}"
    admin = make_engine(make_url(args.server).set(database="postgres")).execution_options(
        isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(args.server).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        load(url, args.jobs)
        for user in ("heavy", "u7"):
            time_report(url, user)  # warm the caches and imports
            time_scan(url, user)
            report_s = statistics.median(time_report(url, user) for _ in range(args.runs))
            scans = [time_scan(url, user) for _ in range(args.runs)]
            scan_s = statistics.median(seconds for seconds, _ in scans)
            rows = scans[0][1]
            print(
                f"{user}: {rows:,} jobs in June of {args.jobs:,}:"
                f" report -P {report_s * 1000:.1f} ms,"
                f" plain SQL {scan_s * 1000:.1f} ms, ratio {report_s / scan_s:.2f}"
                f" (medians of {args.runs})"
            )
    finally:
        if not args.keep:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
