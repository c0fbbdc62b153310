"""Engine and session factory. One `AsyncSession` per request, one transaction per session."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from sqlalchemy import event, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer; busy_timeout makes a second writer (another
    # worker) wait instead of failing at once; SQLite leaves foreign keys off unless told.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


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


def make_engine(url: str, *, pool_size: int = 20, **kwargs: Any) -> AsyncEngine:
    kwargs.setdefault("pool_size", pool_size)
    kwargs.setdefault("max_overflow", max(2, pool_size // 4))
    # L7: a database error's text never carries bound parameters (password hashes, token digests).
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:" and not database.startswith("file:"):
            keep_owner_only(Path(database))
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
