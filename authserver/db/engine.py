"""Engine and session factory. One `AsyncSession` per request, one transaction per session."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, exc, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def _sqlite_pragmas(busy_timeout_ms: int) -> Any:
    def apply(dbapi_connection: Any, _record: Any) -> None:
        # WAL lets readers run beside the one writer; busy_timeout makes a second writer (another
        # worker) wait, within a bound, instead of failing at once; SQLite leaves foreign keys off
        # unless told.
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return apply


# A pooled connection unused for longer than this is pinged before it is handed out.
PING_AFTER_IDLE_SECONDS = 1.0
_CHECKED_IN_AT = "authserver_checked_in_at"


def _ping_when_idle(engine: AsyncEngine, after_seconds: float) -> None:
    """Pessimistic disconnect handling for connections that sat idle, instead of SQLAlchemy's
    `pool_pre_ping`: that pings on every checkout, and on asyncpg a ping is three round trips
    (BEGIN, a statement, ROLLBACK); refresh rotation went from 575 to 634-702/s at 64
    connections without them (docs/architecture.md, "Token path and caches").

    A connection used within the last `after_seconds` was fine then. If the database went away
    since, its one request fails with a 503 (db/faults.py) and the connection is replaced."""

    def checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_CHECKED_IN_AT] = time.monotonic()

    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        last = record.info.get(_CHECKED_IN_AT)
        if last is not None and time.monotonic() - last < after_seconds:
            return
        try:
            dbapi_connection.ping()
        except Exception as error:
            # The pool discards this connection and checks out another (a new one if need be).
            raise exc.DisconnectionError("idle connection failed its ping") from error

    def connect(_dbapi_connection: Any, record: Any) -> None:
        record.info[_CHECKED_IN_AT] = time.monotonic()  # fresh: no ping on its first checkout

    event.listen(engine.sync_engine, "checkin", checkin)
    event.listen(engine.sync_engine, "checkout", checkout)
    event.listen(engine.sync_engine, "connect", connect)


def keep_owner_only(path: Path) -> None:
    """Create `path` (if missing) readable by its owner only, and take group/other bits off an
    existing one: the SQLite file holds password hashes and encrypted keys. SQLite gives its -wal
    and -shm files the database file's mode."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        path.chmod(mode & 0o700)


def make_engine(
    url: str,
    *,
    pool_size: int = 20,
    connect_timeout: float = 10.0,
    pool_timeout: float = 30.0,
    statement_timeout: float = 30.0,
    **kwargs: Any,
) -> AsyncEngine:
    """The engine, with every wait bounded (F2): connecting, checking a connection out of the
    pool, and each statement. A database that hangs then costs a request seconds, not a worker."""
    kwargs.setdefault("pool_size", pool_size)
    kwargs.setdefault("pool_timeout", pool_timeout)
    # No overflow: a burst waits for one of the pooled connections instead of opening and closing
    # extra ones, each of which costs PostgreSQL a new backend process (measured: refresh rotation
    # at 64 connections spent its CPU forking backends).
    kwargs.setdefault("max_overflow", 0)
    # L7: a database error's text never carries bound parameters (password hashes, token digests).
    kwargs.setdefault("hide_parameters", True)
    ping_after_idle = kwargs.pop("ping_after_idle", PING_AFTER_IDLE_SECONDS)
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:" and not database.startswith("file:"):
            keep_owner_only(Path(database))
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas(int(statement_timeout * 1000)))
        return engine
    connect_args = kwargs.setdefault("connect_args", {})
    connect_args.setdefault("timeout", connect_timeout)  # asyncpg: connecting
    connect_args.setdefault("command_timeout", statement_timeout)  # asyncpg: each statement
    # The server stops a statement itself too, so a lock wait cannot outlive the client.
    connect_args.setdefault("server_settings", {"statement_timeout": str(int(statement_timeout * 1000))})
    engine = create_async_engine(url, **kwargs)
    _ping_when_idle(engine, ping_after_idle)
    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
