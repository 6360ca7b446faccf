"""Engines and sessions, with driver errors on connect turned into ``StoreError``."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, ExceptionContext, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from slurm_carbon.errors import StoreError
from slurm_carbon.store.ingest import create_stage
from slurm_carbon.text import has_control

__all__ = [
    "POOL_SIZE",
    "POOL_TIMEOUT_S",
    "connection_slots",
    "create_sqlite_file",
    "ingest_engine",
    "make_engine",
    "redact_url",
    "session_factory",
    "sqlite_file",
    "url_has_password",
]

# How long to wait for a PostgreSQL server that does not answer at all.
CONNECT_TIMEOUT_S = 10
#: Connections one process keeps to PostgreSQL (or a SQLite file), and no more: the
#: service's worker threads are as many (connection_slots), so a request waits for a
#: thread rather than for a connection. Ingest transactions take milliseconds; 8 per
#: replica lets 12 replicas share PostgreSQL's default max_connections of 100.
POOL_SIZE = 8
#: How long a unit of work waits for a free connection before it fails (the service
#: answers 503 with Retry-After): well inside the agent's 30 s read timeout.
POOL_TIMEOUT_S = 5.0
# How long SQLite waits for another writer before "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 10_000
#: Execution option: a SQLite connection carrying it begins with ``BEGIN IMMEDIATE``.
SQLITE_IMMEDIATE = "slurm_carbon_sqlite_immediate"
# A SQLite store holds every job and the hashes of the node tokens: only its owner
# reads it. SQLite gives its -wal and -shm files the database file's mode.
SQLITE_FILE_MODE = 0o600
# Its directory, when we create it: the owner, and its group (say, backups), may list it.
SQLITE_DIR_MODE = 0o750
# Permission bits of "others", taken away from an existing database file.
_OTHERS = 0o007


def _parse(url: str | URL) -> URL:
    if isinstance(url, str) and has_control(url):  # a NUL reaches the driver's C strings
        raise StoreError("invalid database URL: it holds control characters")
    try:
        return make_url(url)
    except ArgumentError as err:
        # The message would repeat the URL, password included.
        raise StoreError("invalid database URL (expected e.g. postgresql+psycopg://...)") from err


def redact_url(url: str | URL) -> str:
    """Return the URL as text with its password, if any, replaced by ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<invalid URL>"


def url_has_password(url: str | URL) -> bool:
    """Whether a database URL carries a password (an unparsable one counts as not)."""
    try:
        return bool(make_url(url).password)
    except ArgumentError:
        return False


def sqlite_file(url: str | URL) -> Path | None:
    """Return the file of a SQLite URL, or None for other backends and in-memory SQLite."""
    parsed = _parse(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def create_sqlite_file(url: str | URL) -> None:
    """Create a SQLite URL's file, mode 0600, and its directory, mode 0750, if missing.

    An existing file keeps its owner and group, but others lose any access to it;
    an existing directory is left alone. Other backends: nothing to do.

    Raises:
        StoreError: the directory or the file cannot be created or changed.
    """
    path = sqlite_file(url)
    if path is None:
        return
    try:
        if not path.parent.is_dir():
            path.parent.mkdir(parents=True)
            path.parent.chmod(SQLITE_DIR_MODE)  # whatever the umask
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SQLITE_FILE_MODE))
            path.chmod(SQLITE_FILE_MODE)
        except FileExistsError:
            mode = path.stat().st_mode
            if mode & _OTHERS:
                path.chmod(mode & 0o7777 & ~_OTHERS)
    except OSError as err:
        raise StoreError(f"cannot create {path}: {err.strerror or err}") from err


def make_engine(
    url: str | URL,
    *,
    sqlite_foreign_keys: bool = True,
    pool_size: int = POOL_SIZE,
    pool_timeout_s: float = POOL_TIMEOUT_S,
    pre_ping: bool = True,
) -> Engine:
    """Create an engine for a PostgreSQL or SQLite URL.

    SQLite connections get ``PRAGMA foreign_keys=ON`` (unless
    ``sqlite_foreign_keys`` is false, which migrations that rebuild tables need),
    WAL journaling and a busy timeout, and real transactions: BEGIN is emitted by
    SQLAlchemy rather than by the driver, so SAVEPOINTs and transactional DDL work.
    A connection with the execution option :data:`SQLITE_IMMEDIATE` begins with
    ``BEGIN IMMEDIATE``: it queues for the write lock (up to
    ``SQLITE_BUSY_TIMEOUT_MS``) instead of failing when it would write, so
    concurrent nodes are served one transaction at a time, never refused
    (:func:`~slurm_carbon.store.transaction` with ``write_lock=True``).

    A PostgreSQL or SQLite-file engine holds at most ``pool_size`` connections
    (no overflow) and waits ``pool_timeout_s`` for a free one. With ``pre_ping``
    the pool tests a connection (a round trip) each time it hands it out and
    replaces a dead one, say after a PostgreSQL restart; without it the first
    statement on a dead connection fails (``OperationalError``: a
    :class:`~slurm_carbon.errors.StoreError` in
    :func:`~slurm_carbon.store.transaction`) and the pool then replaces all its
    connections. The service, which retries through its nodes, goes without
    (:func:`ingest_engine`).

    Nothing connects here. When a later connection attempt fails, the driver's
    error is replaced by a :class:`~slurm_carbon.errors.StoreError` naming the
    database (password hidden) and the cause in one line.

    Raises:
        StoreError: the URL cannot be parsed or names no installed driver.
    """
    parsed = _parse(url)
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
    pool: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql" or sqlite_file(parsed) is not None:
        pool = {"pool_size": pool_size, "max_overflow": 0, "pool_timeout": pool_timeout_s}
    try:
        engine = create_engine(parsed, connect_args=connect_args, pool_pre_ping=pre_ping, **pool)
    except (NoSuchModuleError, ImportError) as err:
        raise StoreError(
            f"unsupported database URL {redact_url(parsed)}: no driver for"
            f" {parsed.drivername!r} (use postgresql+psycopg:// or sqlite://)"
        ) from err
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine, foreign_keys=sqlite_foreign_keys)
    event.listen(engine, "handle_error", _translate_connect_error)
    return engine


def ingest_engine(url: str | URL) -> Engine:
    """The engine of a process taking nodes' batches (the service): see :func:`make_engine`.

    On PostgreSQL its connections get the ingest's stage table when they are made
    (:func:`~slurm_carbon.store.ingest.create_stage`), so no batch spends a
    statement on it. Other engines go without: a temporary table is catalog rows
    written and dropped with each connection, and their rare batches (tests, the
    simulator) make it in their own transaction when a re-send needs it.

    Its connections are never pinged before use: a ping is a round trip per request
    (10-13 % of the service's time under load), while a connection a PostgreSQL
    restart killed costs one 503, which the node sends again, and the pool then
    replaces all its connections.

    Raises:
        StoreError: ``url`` cannot be parsed or names no installed driver.
    """
    engine = make_engine(url, pre_ping=False)
    if engine.dialect.name == "postgresql":
        event.listen(engine, "connect", create_stage)
    return engine


def connection_slots(factory: sessionmaker[Session]) -> int | None:
    """How many connections the factory's pool hands out at once; None: no fixed bound."""
    pool = getattr(factory.kw.get("bind"), "pool", None)
    return pool.size() if isinstance(pool, QueuePool) else None


def session_factory(bind: Engine | Connection) -> sessionmaker[Session]:
    """Return a factory of sessions bound to ``bind``; objects stay usable after commit."""
    return sessionmaker(bind=bind, expire_on_commit=False)


def _configure_sqlite(engine: Engine, *, foreign_keys: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver level: pysqlite's own implicit BEGIN handling
        # breaks SAVEPOINT; the "begin" listener below starts transactions instead.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode=WAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # IMMEDIATE takes the write lock at the start, waiting up to the busy
        # timeout for it. A deferred BEGIN reads first and upgrades later, and
        # SQLite refuses that upgrade at once ("database is locked") when another
        # writer committed in between: concurrent nodes would be refused, not queued.
        # Only units that read and then write ask for it: the lock is held until the
        # end, so a reader opened inside it, or slow work in it, would wait on it.
        immediate = connection.get_execution_options().get(SQLITE_IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _translate_connect_error(context: ExceptionContext) -> None:
    """Replace a driver error raised while connecting by a one-line StoreError."""
    if context.connection is not None or context.is_pre_ping:
        # A statement's error on an open connection is the caller's to judge; a
        # failed pre-ping makes the pool reconnect, and that connect is judged here.
        return
    engine = context.engine
    where = redact_url(engine.url) if engine is not None else "the database"
    cause = _one_line_cause(context.original_exception, engine.url if engine else None)
    verb = "open" if engine is not None and engine.dialect.name == "sqlite" else "reach"
    raise StoreError(f"cannot {verb} database at {where}: {cause}") from context.original_exception


def _one_line_cause(error: BaseException, url: URL | None) -> str:
    """The useful part of a libpq/sqlite message, e.g. ``connection refused``."""
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    # libpq: 'connection failed: connection to server at "h", port 5 failed: Connection refused'
    cause = first.rsplit("failed: ", 1)[-1]
    cause = re.sub(r"^(FATAL|ERROR):\s+", "", cause).strip()
    cause = re.sub(r"\s+", " ", cause)
    if url is not None and url.password:
        cause = cause.replace(str(url.password), "***")
    return (cause[:1].lower() + cause[1:]) or type(error).__name__
