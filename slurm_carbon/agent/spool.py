"""The agent's durable state: ``$STATE/agent.db`` (stdlib SQLite, WAL, synchronous=FULL).

Tables:

* ``open_interval`` — energy accumulated so far per (job, device, aligned
  interval start), updated every tick, with a GPU's power limit integrated over
  the seconds it was known (``cap_mws``, ``cap_s``), likewise its busy clock
  (``busy_mhzs``, ``busy_s``), and its limit range (``min_limit_w``, ``max_limit_w``);
* ``reading`` — the last counter reading per device and when it was taken,
  written in the same transaction as the energy it produced, so a restarted
  agent resumes from exactly the reading its energy was counted up to;
* ``outbox`` — closed intervals waiting to be shipped, unique on
  (node, device, job, start), with the GPU's time-weighted mean limit ``cap_w``,
  mean busy clock ``busy_clock_mhz`` and limit range;
* ``progress`` — jobs' progress points (from their progress files) waiting to
  be shipped with the intervals, unique on (job, time);
* ``dead_letter`` — batches the service refused (kept, never retried);
* ``saved_cap`` — each capped GPU's original limit, written before the cap;
* ``finished_job`` — jobs fully accounted (a second Epilog is then a no-op);
* ``meta`` — e.g. ``closed_until``, the time up to which intervals are closed.

Columns added after a release are added to an older ``agent.db`` when it is
opened. Units: joules, milliwatts, seconds since the epoch.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DeviceRef",
    "OpenInterval",
    "OutboxRow",
    "ProgressRow",
    "Reading",
    "SavedCap",
    "Spool",
    "read_health",
]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS open_interval (
    job_id INTEGER NOT NULL,
    device TEXT NOT NULL,
    slot_start REAL NOT NULL,
    kind TEXT NOT NULL,
    model TEXT,
    minor INTEGER,
    energy_j REAL NOT NULL,
    method TEXT NOT NULL,
    sharing TEXT NOT NULL,
    cap_mws REAL NOT NULL DEFAULT 0,
    cap_s REAL NOT NULL DEFAULT 0,
    busy_mhzs REAL NOT NULL DEFAULT 0,
    busy_s REAL NOT NULL DEFAULT 0,
    min_limit_w REAL,
    max_limit_w REAL,
    PRIMARY KEY (job_id, device, slot_start)
);
CREATE TABLE IF NOT EXISTS reading (
    device TEXT PRIMARY KEY,
    value INTEGER,
    power_mw INTEGER,
    t REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    node TEXT NOT NULL,
    device TEXT NOT NULL,
    job_id INTEGER NOT NULL,
    start_s REAL NOT NULL,
    end_s REAL NOT NULL,
    kind TEXT NOT NULL,
    model TEXT,
    minor INTEGER,
    energy_j REAL NOT NULL,
    method TEXT NOT NULL,
    sharing TEXT NOT NULL,
    cap_w REAL,
    busy_clock_mhz REAL,
    min_limit_w REAL,
    max_limit_w REAL,
    UNIQUE (node, device, job_id, start_s)
);
CREATE TABLE IF NOT EXISTS progress (
    id INTEGER PRIMARY KEY,
    job_id INTEGER NOT NULL,
    t REAL NOT NULL,
    fraction REAL NOT NULL,
    UNIQUE (job_id, t)
);
CREATE TABLE IF NOT EXISTS dead_letter (
    id INTEGER PRIMARY KEY,
    t REAL NOT NULL,
    status INTEGER NOT NULL,
    error TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS saved_cap (
    uuid TEXT PRIMARY KEY,
    original_mw INTEGER NOT NULL,
    job_id INTEGER,
    saved_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS finished_job (
    job_id INTEGER PRIMARY KEY,
    stop_s REAL NOT NULL,
    t REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value REAL NOT NULL
);
"""

# Columns an older agent.db lacks: (table, column, declaration).
_ADDED_COLUMNS = (
    ("open_interval", "cap_mws", "REAL NOT NULL DEFAULT 0"),
    ("open_interval", "cap_s", "REAL NOT NULL DEFAULT 0"),
    ("outbox", "cap_w", "REAL"),
    ("open_interval", "busy_mhzs", "REAL NOT NULL DEFAULT 0"),
    ("open_interval", "busy_s", "REAL NOT NULL DEFAULT 0"),
    ("open_interval", "min_limit_w", "REAL"),
    ("open_interval", "max_limit_w", "REAL"),
    ("outbox", "busy_clock_mhz", "REAL"),
    ("outbox", "min_limit_w", "REAL"),
    ("outbox", "max_limit_w", "REAL"),
)

# A merged interval keeps the weakest method seen (counter > integrated > estimated)
# and is shared if any part of it was.
_ADD_ENERGY_SQL = (
    "INSERT INTO open_interval (job_id, device, slot_start, kind, model, minor, "
    "energy_j, method, sharing, cap_mws, cap_s, busy_mhzs, busy_s, min_limit_w, max_limit_w) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (job_id, device, slot_start) DO UPDATE SET "
    "energy_j = energy_j + excluded.energy_j, cap_mws = cap_mws + excluded.cap_mws, "
    "cap_s = cap_s + excluded.cap_s, busy_mhzs = busy_mhzs + excluded.busy_mhzs, "
    "busy_s = busy_s + excluded.busy_s, "
    "min_limit_w = coalesce(excluded.min_limit_w, min_limit_w), "
    "max_limit_w = coalesce(excluded.max_limit_w, max_limit_w), method = "
    "CASE WHEN excluded.method = 'estimated' OR method = 'estimated' THEN 'estimated' "
    "WHEN excluded.method = 'integrated' OR method = 'integrated' THEN 'integrated' "
    "ELSE 'counter' END, "
    "sharing = CASE WHEN excluded.sharing = 'shared' THEN 'shared' ELSE sharing END"
)
_CLOSE_SQL = (
    "INSERT INTO outbox (node, device, job_id, start_s, end_s, kind, model, minor, "
    "energy_j, method, sharing, cap_w, busy_clock_mhz, min_limit_w, max_limit_w) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (node, device, job_id, start_s) DO UPDATE SET "
    "energy_j = energy_j + excluded.energy_j, end_s = max(end_s, excluded.end_s), "
    "cap_w = coalesce(excluded.cap_w, cap_w), "
    "busy_clock_mhz = coalesce(excluded.busy_clock_mhz, busy_clock_mhz), "
    "min_limit_w = coalesce(excluded.min_limit_w, min_limit_w), "
    "max_limit_w = coalesce(excluded.max_limit_w, max_limit_w), method = "
    "CASE WHEN excluded.method = 'estimated' OR method = 'estimated' THEN 'estimated' "
    "WHEN excluded.method = 'integrated' OR method = 'integrated' THEN 'integrated' "
    "ELSE 'counter' END, "
    "sharing = CASE WHEN excluded.sharing = 'shared' THEN 'shared' ELSE sharing END"
)


@dataclass(frozen=True)
class DeviceRef:
    """A device as the wire names it: GPU UUID or e.g. ``cpu-package-0``.

    ``min_limit_w`` and ``max_limit_w`` are a GPU's power-limit range (NVML's
    constraints), None when not read. Units: watts.
    """

    uuid: str
    kind: str
    model: str | None = None
    minor: int | None = None
    min_limit_w: float | None = None
    max_limit_w: float | None = None

    def as_wire(self) -> dict[str, object]:
        """The ``device`` object of the wire format (the limit range only when known)."""
        wire: dict[str, object] = {
            "uuid": self.uuid,
            "kind": self.kind,
            "model": self.model,
            "minor": self.minor,
        }
        if self.min_limit_w is not None and self.max_limit_w is not None:
            wire["min_limit_w"] = self.min_limit_w
            wire["max_limit_w"] = self.max_limit_w
        return wire


@dataclass(frozen=True)
class Reading:
    """The last reading of a device. Units: counter's own, milliwatts, seconds."""

    value: int | None
    power_mw: int | None
    t_s: float


@dataclass(frozen=True)
class OpenInterval:
    """Energy accumulated for one job, device and aligned interval. Units: joules, watts.

    ``cap_w`` is the GPU's power limit, time-weighted over the samples where it
    was known; None when it never was (or not a GPU). ``busy_clock_mhz`` likewise
    the GPU's busy clock (utilization x SM clock). Units: MHz.
    """

    job_id: int
    device: DeviceRef
    slot_start_s: float
    energy_j: float
    method: str
    sharing: str
    cap_w: float | None = None
    busy_clock_mhz: float | None = None


@dataclass(frozen=True)
class OutboxRow:
    """A closed interval waiting to be shipped. Units: seconds, joules, watts, MHz."""

    id: int
    job_id: int
    device: DeviceRef
    start_s: float
    end_s: float
    energy_j: float
    method: str
    sharing: str
    cap_w: float | None = None
    busy_clock_mhz: float | None = None


@dataclass(frozen=True)
class ProgressRow:
    """A job's progress point waiting to be shipped. Units: seconds, fraction 0..1."""

    id: int
    job_id: int
    time_s: float
    fraction: float


@dataclass(frozen=True)
class SavedCap:
    """A GPU's original power limit, saved before we changed it. Units: milliwatts."""

    uuid: str
    original_mw: int
    job_id: int | None


def _health(db: sqlite3.Connection) -> tuple[int, int]:
    waiting, dead = db.execute(
        "SELECT (SELECT count(*) FROM outbox) + (SELECT count(*) FROM progress), "
        "(SELECT count(*) FROM dead_letter)"
    ).fetchone()
    return int(waiting), int(dead)


def read_health(path: Path, timeout_s: float) -> tuple[int, int]:
    """:meth:`Spool.health` from any thread, on a read-only connection of its own.

    Creates nothing: a missing ``agent.db`` raises. Readers do not wait on the
    agent's writes (WAL). Units: seconds.

    Raises:
        sqlite3.Error: ``agent.db`` cannot be opened or read within ``timeout_s``.
    """
    db = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=timeout_s)
    try:
        return _health(db)
    finally:
        db.close()


class Spool:
    """``agent.db``: one connection, used by one thread.

    Args:
        path: The database file; its directory is created 0700.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, timeout=30.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        for table, column, declaration in _ADDED_COLUMNS:
            present = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            if column not in present:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
        self._in_transaction = False

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Run the block in one write transaction (nested calls join the outer one)."""
        if self._in_transaction:
            yield
            return
        self._db.execute("BEGIN IMMEDIATE")
        self._in_transaction = True
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            # SQLite has rolled back already after some errors (a full disk).
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        finally:
            self._in_transaction = False

    # -- meta and readings -----------------------------------------------------

    def meta(self, key: str) -> float | None:
        """A stored number, or ``None``."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else float(row[0])

    def set_meta(self, key: str, value: float) -> None:
        """Store a number."""
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def readings(self) -> dict[str, Reading]:
        """Every device's last reading."""
        rows = self._db.execute("SELECT device, value, power_mw, t FROM reading").fetchall()
        return {device: Reading(value, power, t) for device, value, power, t in rows}

    def set_reading(self, device: str, reading: Reading) -> None:
        """Store a device's last reading."""
        self._db.execute(
            "INSERT INTO reading (device, value, power_mw, t) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (device) DO UPDATE SET value = excluded.value, "
            "power_mw = excluded.power_mw, t = excluded.t",
            (device, reading.value, reading.power_mw, reading.t_s),
        )

    # -- intervals -------------------------------------------------------------

    def add_energy(  # noqa: PLR0913 - one column each
        self,
        *,
        job_id: int,
        device: DeviceRef,
        slot_start_s: float,
        energy_j: float,
        method: str,
        sharing: str,
        cap_mw: int | None = None,
        busy_mhz: float | None = None,
        seconds: float = 0.0,
    ) -> None:
        """Add energy to an open interval, creating it if needed.

        ``cap_mw`` is the GPU's limit over the ``seconds`` this energy took
        (None: not known, so those seconds do not count in the mean limit);
        ``busy_mhz`` its busy clock likewise.
        """
        known_s = 0.0 if cap_mw is None else seconds
        busy_s = 0.0 if busy_mhz is None else seconds
        self._db.execute(
            _ADD_ENERGY_SQL,
            (
                job_id,
                device.uuid,
                slot_start_s,
                device.kind,
                device.model,
                device.minor,
                energy_j,
                method,
                sharing,
                0.0 if cap_mw is None else cap_mw * known_s,
                known_s,
                0.0 if busy_mhz is None else busy_mhz * busy_s,
                busy_s,
                device.min_limit_w,
                device.max_limit_w,
            ),
        )

    def open_intervals(self) -> list[OpenInterval]:
        """Every open interval."""
        rows = self._db.execute(
            "SELECT job_id, device, kind, model, minor, slot_start, energy_j, method, sharing, "
            "CASE WHEN cap_s > 0 THEN cap_mws / cap_s / 1000 END, "
            "CASE WHEN busy_s > 0 THEN busy_mhzs / busy_s END, min_limit_w, max_limit_w "
            "FROM open_interval ORDER BY job_id, device, slot_start"
        ).fetchall()
        return [
            OpenInterval(r[0], DeviceRef(r[1], r[2], r[3], r[4], r[11], r[12]), *r[5:11])
            for r in rows
        ]

    def close_interval(
        self, node: str, interval: OpenInterval, start_s: float, end_s: float | None
    ) -> None:
        """Move an open interval to the outbox as ``[start_s, end_s)``; ``None`` drops it."""
        self._db.execute(
            "DELETE FROM open_interval WHERE job_id = ? AND device = ? AND slot_start = ?",
            (interval.job_id, interval.device.uuid, interval.slot_start_s),
        )
        if end_s is None:
            return
        device = interval.device
        self._db.execute(
            _CLOSE_SQL,
            (
                node,
                device.uuid,
                interval.job_id,
                start_s,
                end_s,
                device.kind,
                device.model,
                device.minor,
                interval.energy_j,
                interval.method,
                interval.sharing,
                interval.cap_w,
                interval.busy_clock_mhz,
                device.min_limit_w,
                device.max_limit_w,
            ),
        )

    # -- outbox ----------------------------------------------------------------

    def outbox(self, limit: int) -> list[OutboxRow]:
        """The oldest ``limit`` closed intervals."""
        rows = self._db.execute(
            "SELECT id, job_id, device, kind, model, minor, start_s, end_s, energy_j, method, "
            "sharing, cap_w, busy_clock_mhz, min_limit_w, max_limit_w "
            "FROM outbox ORDER BY id LIMIT ?",
            (limit,),
        ).fetchall()
        return [
            OutboxRow(r[0], r[1], DeviceRef(r[2], r[3], r[4], r[5], r[13], r[14]), *r[6:13])
            for r in rows
        ]

    def outbox_count(self) -> int:
        """How many intervals wait to be shipped."""
        return int(self._db.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def delete_outbox(self, ids: Sequence[int], progress_ids: Sequence[int] = ()) -> None:
        """Forget shipped intervals and progress points."""
        with self.transaction():
            self._db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])
            self._db.executemany("DELETE FROM progress WHERE id = ?", [(i,) for i in progress_ids])

    def dead_letter(  # noqa: PLR0913 - the refused rows and the service's answer
        self,
        ids: Sequence[int],
        body: object,
        status: int,
        error: str,
        t_s: float,
        *,
        progress_ids: Sequence[int] = (),
    ) -> None:
        """Move refused intervals and progress points to ``dead_letter`` with the answer."""
        with self.transaction():
            self._db.execute(
                "INSERT INTO dead_letter (t, status, error, body) VALUES (?, ?, ?, ?)",
                (t_s, status, error, json.dumps(body)),
            )
            self.delete_outbox(ids, progress_ids)

    # -- progress --------------------------------------------------------------

    def add_progress(self, job_id: int, time_s: float, fraction: float) -> None:
        """Spool a job's progress point; one already spooled for that time is kept."""
        self._db.execute(
            "INSERT INTO progress (job_id, t, fraction) VALUES (?, ?, ?) "
            "ON CONFLICT (job_id, t) DO NOTHING",
            (job_id, time_s, fraction),
        )

    def progress(self, limit: int) -> list[ProgressRow]:
        """The oldest ``limit`` progress points waiting to be shipped."""
        rows = self._db.execute(
            "SELECT id, job_id, t, fraction FROM progress ORDER BY id LIMIT ?", (limit,)
        ).fetchall()
        return [ProgressRow(int(i), int(j), float(t), float(f)) for i, j, t, f in rows]

    def health(self) -> tuple[int, int]:
        """Rows waiting to be shipped (intervals and progress points), and dead letters kept."""
        return _health(self._db)

    def dead_letters(self) -> list[tuple[int, str, object]]:
        """Every dead letter as (status, error, body)."""
        rows = self._db.execute("SELECT status, error, body FROM dead_letter ORDER BY id")
        return [(int(s), str(e), json.loads(b)) for s, e, b in rows.fetchall()]

    # -- jobs ------------------------------------------------------------------

    def finished_jobs(self) -> set[int]:
        """Jobs fully accounted."""
        return {int(r[0]) for r in self._db.execute("SELECT job_id FROM finished_job")}

    def mark_finished(self, job_id: int, stop_s: float, t_s: float) -> None:
        """Record that a job is fully accounted."""
        self._db.execute(
            "INSERT OR REPLACE INTO finished_job (job_id, stop_s, t) VALUES (?, ?, ?)",
            (job_id, stop_s, t_s),
        )

    def forget_finished_before(self, t_s: float) -> None:
        """Drop finished-job records older than ``t_s``."""
        self._db.execute("DELETE FROM finished_job WHERE t < ?", (t_s,))

    # -- caps ------------------------------------------------------------------

    def saved_caps(self) -> list[SavedCap]:
        """Every GPU whose original limit is saved."""
        rows = self._db.execute("SELECT uuid, original_mw, job_id FROM saved_cap ORDER BY uuid")
        return [SavedCap(u, int(mw), j) for u, mw, j in rows.fetchall()]

    def save_cap(self, uuid: str, original_mw: int, job_id: int, t_s: float) -> None:
        """Durably save a GPU's original limit (committed before returning); keep an older one."""
        with self.transaction():
            self._db.execute(
                "INSERT INTO saved_cap (uuid, original_mw, job_id, saved_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (uuid) DO UPDATE SET job_id = excluded.job_id",
                (uuid, original_mw, job_id, t_s),
            )

    def delete_cap(self, uuid: str) -> None:
        """Forget a GPU's saved limit (after it was restored)."""
        with self.transaction():
            self._db.execute("DELETE FROM saved_cap WHERE uuid = ?", (uuid,))
