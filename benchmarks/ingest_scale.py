"""Ingest at cluster scale through the real HTTP service, against a raw COPY of the same rows.

Creates two PostgreSQL databases on the server (dropped at the end unless
``--keep``), starts ``slurm-carbon service`` (uvicorn, as in production) over
the first, and plays, from ``--senders`` processes of its own (asyncio + httpx,
each playing its share of the nodes, one HTTP client per node as each agent has
its own):

1. steady: ``--nodes`` nodes x (``--gpus`` GPUs + 2 CPU packages + 2 DRAM), one
   batch a minute per node, each node at its own offset in the minute, for
   ``--minutes`` minutes played ``--speedup`` times faster than real time;
2. backlog: the next ``--backlog-minutes`` of every node, all nodes at once (the
   service is back after an outage), in batches of at most the agent's
   ``batch_max`` (1,000) intervals. Each simulated agent behaves as
   ``agent/shipper.py`` does: a 30 s read timeout, ``Retry-After`` obeyed on a
   429, exponential backoff with jitter otherwise, the same batch re-sent after
   a timeout;
3. COPY: the backlog's rows, ``COPY``-ed with psycopg into the second database
   (same schema, its jobs and devices created beforehand, untimed).

Prints rows/s (the backlog, received to last acknowledgement) and its ratio to
COPY, p50/p99 latency at the steady rate, how many nodes had their backlog
acknowledged within 5 minutes, the interval rows in the service's database
against the rows sent (nothing lost), and the batches the service processed twice
(answered ``stored`` < ``received`` for a batch sent again), and the CPU
seconds the service, the senders, the service's PostgreSQL connections and
everything else on the machine used during the backlog. Before the backlog and
before the COPY it waits for PostgreSQL's autovacuum workers to finish (and says
how long), so neither phase is timed beside a vacuum of the other's rows. With
``--py-spy FILE`` (py-spy installed in the venv) it samples the service during
the backlog and prints where its time went.

Why one client per node and several sender processes: one httpx client shared
by 1,000 nodes spends its time in its own connection pool (httpcore re-scans
every connection for each request it queues or ends, O(connections²) with
hundreds idle): py-spy of the single sender during the backlog sampled it
running all the time, 80 % of it in ``_assign_requests_to_connections``. The
benchmark then measured its own sender, not the service.

Usage (under the servers' lock; the local server: deploy/local/postgres start):
    flock /tmp/slurm_carbon-servers.lock .venv/bin/python benchmarks/ingest_scale.py
        --server "$(deploy/local/postgres url)" [--nodes 1000] [--py-spy /tmp/ingest.txt]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import multiprocessing
import os
import random
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from slurm_carbon.store import issue_token, make_engine, session_factory, transaction, upgrade

T0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=3)
CLUSTER = "bench"
#: The agent's defaults (agent/shipper.py): intervals per request, read timeout.
BATCH_MAX = 1000
TIMEOUT_S = 30.0
#: The goal's window: every node's backlog acknowledged within it.
ACK_WINDOW_S = 300.0
#: The agent's longest backoff between attempts (shipper: capped exponential).
BACKOFF_MAX_S = 60.0
#: Sender processes by default: the machine's cores, so the simulated nodes are not
#: what bounds the run (the --senders help says it; the CPU they used is printed).
DEFAULT_SENDERS = os.cpu_count() or 1
#: The longest wait for PostgreSQL's autovacuum workers to finish before a timed
#: phase: the steady phase's or the backlog's rows are vacuumed within a minute,
#: and a phase timed beside a vacuum of the other's rows would measure both.
QUIET_WAIT_MAX_S = 300.0
NULL = "\\N"  # COPY's text format
_COLUMNS = (
    "job_id, node_id, device_id, interval_start, interval_end, energy_j, method, sharing,"
    " cap_w, busy_clock_mhz"
)


def _devices(gpus: int) -> list[dict[str, Any]]:
    devices: list[dict[str, Any]] = [
        {
            "uuid": f"GPU-{g:04d}",
            "kind": "gpu",
            "model": "A100",
            "minor": g,
            "min_limit_w": 100.0,
            "max_limit_w": 400.0,
        }
        for g in range(gpus)
    ]
    devices += [{"uuid": f"intel-rapl:{s}", "kind": "cpu", "minor": s} for s in range(2)]
    devices += [{"uuid": f"intel-rapl:{s}:0", "kind": "dram", "minor": s} for s in range(2)]
    return devices


def _job(node: int, device: int, gpus: int) -> int:
    """Two jobs per node, each on half the GPUs; the CPUs and DRAM count for the first."""
    return 1 + 2 * node + (1 if gpus // 2 <= device < gpus else 0)


def _intervals(node: int, minutes: range, gpus: int) -> list[dict[str, Any]]:
    rng = random.Random(node)  # noqa: S311 (synthetic data)
    rows = []
    for minute in minutes:
        start = T0 + timedelta(minutes=minute)
        for index, device in enumerate(_devices(gpus)):
            gpu = device["kind"] == "gpu"
            rows.append(
                {
                    "job_id": _job(node, index, gpus),
                    "device": device,
                    "start": start.isoformat(),
                    "end": (start + timedelta(minutes=1)).isoformat(),
                    "energy_j": round(rng.uniform(6e3, 2.4e4), 1),
                    "method": "counter",
                    "sharing": "exclusive",
                    **({"cap_w": 300.0, "busy_clock_mhz": 1200.0} if gpu else {}),
                }
            )
    return rows


@dataclass
class Tally:
    """What the simulated agents saw.

    ``acked_at_s`` by ``time.monotonic()`` (one clock for all processes of the
    machine); ``cpu_s`` the senders' own CPU time.
    """

    latencies_s: list[float] = field(default_factory=list)
    acked_at_s: dict[int, float] = field(default_factory=dict)
    statuses: collections.Counter[int | str] = field(default_factory=collections.Counter)
    rows_stored: int = 0
    processed_twice: int = 0
    retry_after_s: list[float] = field(default_factory=list)
    cpu_s: float = 0.0

    def add(self, other: Tally) -> None:
        """Count ``other``'s too."""
        self.latencies_s += other.latencies_s
        self.acked_at_s |= other.acked_at_s
        self.statuses.update(other.statuses)
        self.rows_stored += other.rows_stored
        self.processed_twice += other.processed_twice
        self.retry_after_s += other.retry_after_s
        self.cpu_s += other.cpu_s


async def _ship(
    client: httpx.AsyncClient, token: str, body: bytes, rows: int, tally: Tally
) -> None:
    """Send one batch until a 200, as the agent does; count what it cost."""
    attempt, sent_before = 0, False
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    while True:
        began = time.perf_counter()
        try:
            response = await client.post("/api/v1/intervals", content=body, headers=headers)
        except httpx.TimeoutException:
            tally.statuses["timeout"] += 1
            sent_before = True
        except httpx.TransportError:
            tally.statuses["connection error"] += 1
        else:
            tally.statuses[response.status_code] += 1
            if response.status_code == 200:
                tally.latencies_s.append(time.perf_counter() - began)
                stored = int(response.json()["stored"])
                tally.rows_stored += stored
                tally.processed_twice += int(sent_before and stored < rows)
                return
            if response.status_code == 429:
                tally.retry_after_s.append(float(response.headers.get("Retry-After", "1")))
                await asyncio.sleep(tally.retry_after_s[-1])
                continue
            sent_before = sent_before or response.status_code >= 500
        attempt += 1
        await asyncio.sleep(min(BACKOFF_MAX_S, 2.0**attempt) * random.uniform(0.5, 1.0))  # noqa: S311


def _steady_bodies(nodes: list[int], args: argparse.Namespace) -> dict[tuple[int, int], bytes]:
    """Each node's one-minute batch of each steady minute."""
    return {
        (node, minute): json.dumps(
            {
                "cluster": CLUSTER,
                "node": f"n{node:05d}",
                "intervals": _intervals(node, range(minute, minute + 1), args.gpus),
            }
        ).encode()
        for node in nodes
        for minute in range(args.minutes)
    }


def _backlog_bodies(
    nodes: list[int], args: argparse.Namespace
) -> dict[int, list[tuple[bytes, int]]]:
    """Each node's backlog as the agent sends it: batches of at most BATCH_MAX intervals."""
    first = args.minutes
    per_node = {}
    for node in nodes:
        rows = _intervals(node, range(first, first + args.backlog_minutes), args.gpus)
        per_node[node] = [
            (
                json.dumps(
                    {
                        "cluster": CLUSTER,
                        "node": f"n{node:05d}",
                        "intervals": rows[i : i + BATCH_MAX],
                    }
                ).encode(),
                len(rows[i : i + BATCH_MAX]),
            )
            for i in range(0, len(rows), BATCH_MAX)
        ]
    return per_node


async def _play(
    phase: str, base: str, tokens: dict[int, str], args: argparse.Namespace, start: Any
) -> Tally:
    """One sender's nodes through ``phase``: each node with an HTTP client of its own.

    ``start`` (a barrier of every sender and the parent) is passed once the bodies
    are built, so the load starts at once in every sender.
    """
    tally = Tally()
    nodes = sorted(tokens)
    steady_bodies = _steady_bodies(nodes, args) if phase == "steady" else {}
    backlog_bodies = _backlog_bodies(nodes, args) if phase == "backlog" else {}
    tls = ssl.create_default_context()  # one for all clients (each would build its own)
    async with AsyncExitStack() as stack:
        clients = {
            node: await stack.enter_async_context(
                httpx.AsyncClient(base_url=base, timeout=TIMEOUT_S, verify=tls)
            )
            for node in nodes
        }
        await asyncio.to_thread(start.wait)
        cpu_began_s, began = time.process_time(), time.monotonic()

        async def node_backlog(node: int) -> None:
            for body, rows in backlog_bodies[node]:
                await _ship(clients[node], tokens[node], body, rows, tally)
            tally.acked_at_s[node] = time.monotonic()

        async def node_steady(node: int) -> None:
            for minute in range(args.minutes):  # every node at its own offset in the minute
                due = began + 60.0 / args.speedup * (minute + node / args.nodes)
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                body = steady_bodies[node, minute]
                await _ship(clients[node], tokens[node], body, args.gpus + 4, tally)

        play = node_steady if phase == "steady" else node_backlog
        await asyncio.gather(*(play(node) for node in nodes))
        tally.cpu_s = time.process_time() - cpu_began_s
    return tally


def _sender(
    share: tuple[str, str, dict[int, str]], args: argparse.Namespace, start: Any, out: Any
) -> None:
    """A sender process: play ``(phase, base URL, tokens by node)``, put its tally on ``out``."""
    out.put(asyncio.run(_play(*share, args, start)))


def play(
    phase: str, base: str, tokens: list[str], args: argparse.Namespace, started: Any = None
) -> tuple[Tally, float]:
    """``phase`` ("steady" or "backlog") from ``--senders`` processes.

    Returns the tallies added up and the monotonic time the load started;
    ``started()`` (if given) is called just after.
    """
    context = multiprocessing.get_context("spawn")  # no fork of a process with threads
    start, out = context.Barrier(args.senders + 1), context.Queue()
    shares = [
        {node: tokens[node] for node in range(k, args.nodes, args.senders)}
        for k in range(args.senders)
    ]
    senders = [
        context.Process(target=_sender, args=((phase, base, share), args, start, out))
        for share in shares
    ]
    for sender in senders:
        sender.start()
    start.wait()
    began = time.monotonic()
    if started is not None:
        started()
    tally = Tally()
    for _ in senders:
        tally.add(out.get())
    for sender in senders:
        sender.join()
    return tally, began


def _libpq(url: str) -> str:
    """The libpq form of a SQLAlchemy URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def copy_rows(url: str, args: argparse.Namespace) -> tuple[int, float, float]:
    """COPY the backlog's rows into a fresh database.

    Returns rows, seconds of the COPY alone, and the CPU seconds it cost (this
    process and its PostgreSQL connection).
    """
    first = args.minutes
    with psycopg.connect(_libpq(url)) as connection, connection.cursor() as cursor:
        cursor.execute("INSERT INTO clusters (name) VALUES (%s) RETURNING id", (CLUSTER,))
        cluster_id = _one(cursor)
        devices = _devices(args.gpus)
        ids: dict[tuple[int, int], tuple[int, int]] = {}
        job_ids: dict[int, int] = {}
        for node in range(args.nodes):
            cursor.execute(
                "INSERT INTO nodes (cluster_id, hostname) VALUES (%s, %s) RETURNING id",
                (cluster_id, f"n{node:05d}"),
            )
            node_id = _one(cursor)
            for index, device in enumerate(devices):
                cursor.execute(
                    "INSERT INTO devices (node_id, uuid, kind, minor) VALUES (%s, %s, %s, %s)"
                    " RETURNING id",
                    (node_id, device["uuid"], device["kind"], device["minor"]),
                )
                ids[node, index] = (node_id, _one(cursor))
                job = _job(node, index, args.gpus)
                if job not in job_ids:
                    cursor.execute(
                        "INSERT INTO jobs (cluster_id, slurm_job_id, requested_gpus)"
                        " VALUES (%s, %s, 0) RETURNING id",
                        (cluster_id, job),
                    )
                    job_ids[job] = _one(cursor)
        connection.commit()
        lines = []
        for node in range(args.nodes):
            for row_index, row in enumerate(
                _intervals(node, range(first, first + args.backlog_minutes), args.gpus)
            ):
                node_id, device_id = ids[node, row_index % len(devices)]
                lines.append(
                    f"{job_ids[row['job_id']]}\t{node_id}\t{device_id}\t{row['start']}\t{row['end']}"
                    f"\t{row['energy_j']}\tcounter\texclusive\t{row.get('cap_w', NULL)}"
                    f"\t{row.get('busy_clock_mhz', NULL)}\n"
                )
        connection.commit()
        wait_for_autovacuum(url, "COPY")
        cursor.execute("SELECT pg_backend_pid()")
        backend = _one(cursor)
        cpu_began_s = time.process_time() + _process_cpu_s(backend)
        began = time.perf_counter()
        with cursor.copy(f"COPY energy_intervals ({_COLUMNS}) FROM STDIN") as copy:
            for start in range(0, len(lines), 10_000):
                copy.write("".join(lines[start : start + 10_000]))
        connection.commit()
        took_s = time.perf_counter() - began
        return len(lines), took_s, time.process_time() + _process_cpu_s(backend) - cpu_began_s


def wait_for_autovacuum(url: str, phase: str) -> None:
    """Wait (at most QUIET_WAIT_MAX_S) until no autovacuum worker runs on the server; print it."""
    began = time.monotonic()
    with psycopg.connect(_libpq(url), autocommit=True) as connection:
        while time.monotonic() - began < QUIET_WAIT_MAX_S:
            busy = connection.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"
            ).fetchone()
            if busy is None or busy[0] == 0:
                break
            time.sleep(0.5)
    print(f"before {phase}: waited {time.monotonic() - began:.0f} s for autovacuum")


def _print_stored(args: argparse.Namespace, url: str) -> None:
    """Print the service database's interval rows against the rows sent (steady + backlog)."""
    sent = args.nodes * (args.minutes + args.backlog_minutes) * (args.gpus + 4)
    engine = make_engine(url)
    try:
        with transaction(session_factory(engine)) as session:
            count = session.execute(text("SELECT count(*) FROM energy_intervals"))
            stored = int(count.scalar_one())
    finally:
        engine.dispose()
    print(f"in the database: {stored:,} interval rows of the {sent:,} sent, {sent - stored:,} lost")


def _one(cursor: psycopg.Cursor[Any]) -> int:
    found = cursor.fetchone()
    if found is None:
        raise RuntimeError("no id returned")
    return int(found[0])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_healthy(base: str, service: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if service.poll() is not None:
            raise RuntimeError("the service exited at start")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the service did not answer /healthz within 60 s")


def profile_summary(path: Path) -> list[tuple[str, float]]:
    """Share of the service's samples (py-spy raw stacks) in each part of the ingest path."""
    parts = {
        "interval INSERT (store/ingest.py _insert_intervals)": "_insert_intervals",
        "devices and jobs (store/ingest.py upserts)": ("_device_ids", "_job_ids"),
        "token lookup (store/tokens.py)": "node_for_token",
        "validation (pydantic, schemas.py)": ("_parse", "to_store"),
        "commit": "commit (",
        "HTTP (uvicorn, h11, starlette)": ("h11", "httptools"),
    }
    counts: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        for name, marks in parts.items():
            if any(mark in stack for mark in ((marks,) if isinstance(marks, str) else marks)):
                counts[name] += count
    return [(name, 100.0 * counts[name] / max(total, 1)) for name in parts]


def _py_spy(pid: int, path: str) -> subprocess.Popen[bytes]:
    """py-spy sampling ``pid`` and its children into ``path`` (raw stacks) until SIGINT."""
    command = [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid)]
    return subprocess.Popen(
        [*command, "--subprocesses", "--format", "raw", "-o", path, "--nonblocking"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def _process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) ``pid`` has used, from /proc; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS_PER_S


def _machine_busy_s() -> float:
    """CPU seconds all cores have spent not idle since boot, from /proc/stat."""
    ticks = [int(t) for t in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / _TICKS_PER_S  # less idle and iowait


class CpuMeter:
    """CPU seconds of the service (and its workers), its PostgreSQL connections, the machine."""

    def __init__(self, service_pid: int, service_url: str) -> None:
        """Measure ``service_pid`` and the server processes serving ``service_url``'s database."""
        self.service_pid = service_pid
        self.database = make_url(service_url).database
        self.libpq = _libpq(service_url)
        self.before: dict[str, float] = {}
        self.backends: dict[int, float] = {}

    def _service_pids(self) -> list[int]:
        children = [
            int(stat.parent.name)
            for stat in Path("/proc").glob("[0-9]*/stat")
            if _parent_pid(stat) == self.service_pid
        ]
        return [self.service_pid, *children]

    def _backend_pids(self) -> list[int]:
        with psycopg.connect(self.libpq) as connection:
            rows = connection.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (self.database,),
            ).fetchall()
        return [int(row[0]) for row in rows]

    def begin(self) -> None:
        """Start counting."""
        self.backends = {pid: _process_cpu_s(pid) for pid in self._backend_pids()}
        self.before = {
            "service": sum(_process_cpu_s(pid) for pid in self._service_pids()),
            "machine": _machine_busy_s(),
            "load_before": os.getloadavg()[0],
        }

    def end(self) -> dict[str, float]:
        """CPU seconds since :meth:`begin` by part, and the load averages."""
        backends = sum(
            _process_cpu_s(pid) - self.backends.get(pid, 0.0) for pid in self._backend_pids()
        )
        return {
            "service": sum(_process_cpu_s(pid) for pid in self._service_pids())
            - self.before["service"],
            "postgresql": backends,
            "machine": _machine_busy_s() - self.before["machine"],
            "load_before": self.before["load_before"],
            "load_after": os.getloadavg()[0],
        }


def _parent_pid(stat: Path) -> int:
    try:
        return int(stat.read_text().rpartition(")")[2].split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return 0


def _print_cpu(
    args: argparse.Namespace, storm: Tally, backlog_s: float, cpu_s: dict[str, float]
) -> None:
    """Where the machine's CPU went during the backlog."""
    others_s = cpu_s["machine"] - cpu_s["service"] - cpu_s["postgresql"] - storm.cpu_s
    print(
        f"backlog CPU seconds: service {cpu_s['service']:.1f}, senders ({args.senders})"
        f" {storm.cpu_s:.1f}, the service's PostgreSQL connections {cpu_s['postgresql']:.1f},"
        f" everything else {others_s:.1f}"
        f" (of {os.cpu_count()} cores x {backlog_s:.1f} s);"
        f" load average before/after {cpu_s['load_before']:.2f}/{cpu_s['load_after']:.2f}"
    )


def _print_cpu_per_row(
    backlog_rows: int, storm: Tally, cpu_s: dict[str, float], copy: tuple[int, float]
) -> None:
    """CPU per 1,000 rows, the service's way (service, PostgreSQL, senders) and COPY's."""
    copy_n, copy_cpu_s = copy
    service_cpu_s = cpu_s["service"] + cpu_s["postgresql"] + storm.cpu_s
    print(
        f"CPU ms per 1,000 rows: the service's way {1e6 * service_cpu_s / backlog_rows:.0f}"
        f" (service {1e6 * cpu_s['service'] / backlog_rows:.0f}, PostgreSQL"
        f" {1e6 * cpu_s['postgresql'] / backlog_rows:.0f}, senders"
        f" {1e6 * storm.cpu_s / backlog_rows:.0f}), COPY {1e6 * copy_cpu_s / copy_n:.0f};"
        f" ratio {copy_cpu_s / copy_n * backlog_rows / service_cpu_s:.2f}x"
    )


def _start_service(url: str, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    """``slurm-carbon service`` over ``url`` on a free port: the process and its base URL."""
    port = _free_port()
    command = [str(Path(sys.executable).parent / "slurm-carbon"), "service", "--port", str(port)]
    service = subprocess.Popen(
        [*command, "--workers", str(workers)],
        env={**os.environ, "SLURM_CARBON_DB_URL": url},
        stdout=subprocess.DEVNULL,  # its access log: written, as in production, not shown
        stderr=subprocess.DEVNULL,
    )
    return service, f"http://127.0.0.1:{port}"


def run(args: argparse.Namespace, service_url: str, copy_url: str) -> None:
    """Start the service, play both loads, COPY, print."""
    upgrade(service_url)
    upgrade(copy_url)
    engine = make_engine(service_url)
    with transaction(session_factory(engine)) as session:
        tokens = [issue_token(session, CLUSTER, f"n{node:05d}") for node in range(args.nodes)]
    engine.dispose()
    service, base = _start_service(service_url, args.workers)
    try:
        _wait_healthy(base, service)
        calm, _ = play("steady", base, tokens, args)
        wait_for_autovacuum(service_url, "the backlog")
        spy: list[subprocess.Popen[bytes]] = []
        cpu = CpuMeter(service.pid, service_url)

        def started() -> None:
            if args.py_spy:
                spy.append(_py_spy(service.pid, args.py_spy))
            cpu.begin()

        storm, began = play("backlog", base, tokens, args, started)
        backlog_s = max(storm.acked_at_s.values()) - began
        cpu_s = cpu.end()
        for profiler in spy:
            profiler.send_signal(2)
            profiler.wait(60)
    finally:
        service.terminate()
        service.wait(30)
    backlog_rows = args.nodes * args.backlog_minutes * (args.gpus + 4)
    copy_n, copy_s, copy_cpu_s = copy_rows(copy_url, args)
    service_rate, copy_rate = backlog_rows / backlog_s, copy_n / copy_s
    p50 = statistics.median(calm.latencies_s) * 1000
    p99 = statistics.quantiles(calm.latencies_s, n=100)[98] * 1000
    acks = sorted(at - began for at in storm.acked_at_s.values())
    acked = sum(1 for s in acks if s <= ACK_WINDOW_S)
    print(f"nodes {args.nodes} x ({args.gpus} GPUs + 4 CPU/DRAM), workers {args.workers}")
    print(
        f"steady: {len(calm.latencies_s):,} batches ({args.minutes} min at x{args.speedup:g}):"
        f" p50 {p50:.0f} ms, p99 {p99:.0f} ms; answers {dict(calm.statuses)}"
    )
    print(
        f"backlog: {backlog_rows:,} rows in {backlog_s:.1f} s = {service_rate:,.0f} rows/s;"
        f" acknowledged within {ACK_WINDOW_S:.0f} s: {acked}/{args.nodes};"
        f" batches processed twice: {storm.processed_twice + calm.processed_twice};"
        f" rows stored {storm.rows_stored:,}; answers {dict(storm.statuses)}"
    )
    _print_stored(args, service_url)
    _print_cpu(args, storm, backlog_s, cpu_s)
    if storm.retry_after_s:
        told = statistics.quantiles(storm.retry_after_s, n=10)
        print(
            f"backlog 429s told Retry-After: median {statistics.median(storm.retry_after_s):.0f} s,"
            f" 90 % {told[8]:.0f} s, max {max(storm.retry_after_s):.0f} s; nodes acknowledged:"
            f" half by {acks[len(acks) // 2]:.1f} s, 90 % by {acks[len(acks) * 9 // 10]:.1f} s"
        )
    print(f"COPY: {copy_n:,} rows in {copy_s:.1f} s = {copy_rate:,.0f} rows/s")
    _print_cpu_per_row(backlog_rows, storm, cpu_s, (copy_n, copy_cpu_s))
    print(f"ratio to COPY: {service_rate / copy_rate:.2f}x")
    if args.py_spy:
        for name, share in profile_summary(Path(args.py_spy)):
            print(f"profile: {share:5.1f} %  {name}")


def main() -> None:
    """Create the databases, run, drop them."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True, help="SQLAlchemy URL of the server")
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--gpus", type=int, default=8)
    parser.add_argument("--minutes", type=int, default=3, help="steady minutes played")
    parser.add_argument("--speedup", type=float, default=3.0, help="steady time compression")
    parser.add_argument("--backlog-minutes", type=int, default=60)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--senders",
        type=int,
        default=DEFAULT_SENDERS,
        help="processes playing the nodes (default: the machine's cores)",
    )
    parser.add_argument("--py-spy", help="raw py-spy profile of the service to write")
    parser.add_argument("--keep", action="store_true", help="do not drop the databases")
    args = parser.parse_args()
    # A `timeout` still stops the service and drops the databases (the finally blocks).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped by SIGTERM"))
    names = [f"slurm_carbon_bench_ingest_{os.getpid()}_{part}" for part in ("service", "copy")]
    admin = make_engine(make_url(args.server).set(database="postgres")).execution_options(
        isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        for name in names:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    urls = [
        make_url(args.server).set(database=n).render_as_string(hide_password=False) for n in names
    ]
    try:
        run(args, *urls)
    finally:
        if not args.keep:
            with admin.connect() as connection:
                for name in names:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
