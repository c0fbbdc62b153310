"""Fresh, isolated databases for tests: a SQLite file, or a PostgreSQL role + schema.

PostgreSQL's default search_path is `"$user", public`, so a throwaway role with a schema of the
same name sees only its own tables through a plain URL. That keeps isolation working for server
processes started from a test, not only for engines built in-process.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest

PG_ADMIN_DSN = os.environ.get("AUTHSERVER_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _pg_host_part() -> str:
    # postgresql://postgres@127.0.0.1:5432/test -> 127.0.0.1:5432/test
    return PG_ADMIN_DSN.split("@", 1)[1]


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def require_postgres() -> None:
    """Fail under CI (PostgreSQL is part of the contract there), skip on a laptop without it."""
    try:
        asyncio.run(_admin("SELECT 1"))
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        message = f"PostgreSQL unreachable at {_pg_host_part()}: {type(exc).__name__}: {exc}"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def create_pg_schema() -> tuple[str, str]:
    """Return (role name, SQLAlchemy URL) for a brand-new empty schema."""
    require_postgres()
    name = "t_" + secrets.token_hex(6)
    asyncio.run(_admin(f"CREATE ROLE {name} LOGIN; CREATE SCHEMA {name} AUTHORIZATION {name}"))
    return name, f"postgresql+asyncpg://{name}@{_pg_host_part()}"


@contextmanager
def pg_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL schema of its own role for one test; its URL."""
    name, url = create_pg_schema()
    try:
        yield url
    finally:
        drop_pg_schema(name)


def drop_pg_schema(name: str) -> None:
    async def _drop() -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
        try:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", name
            )
            await conn.execute(f"DROP SCHEMA {name} CASCADE; DROP ROLE {name}")
        finally:
            await conn.close()

    asyncio.run(_drop())


def sqlite_url(directory: Path) -> str:
    return f"sqlite+aiosqlite:///{directory / 'authserver.db'}"
