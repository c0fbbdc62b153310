"""The pool's idle ping and `DirectStatement` (authserver/db/engine.py, authserver/db/direct.py).

PostgreSQL only: SQLite has no server connection to lose. A connection idle past the bound is
pinged and replaced if dead; one used within it is handed out without a round trip; a dead one
that was not pinged fails its request once, as "database unavailable" (a 503), and is not used
again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import Float, Integer, bindparam, func, literal_column, select, text
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection
from sqlalchemy.ext.asyncio import AsyncEngine

from authserver.db.direct import DirectStatement
from authserver.db.engine import make_engine
from authserver.db.faults import unavailability
from tests import backends

BACKEND_PID = text("SELECT pg_backend_pid()")


@pytest.fixture
def pg_url() -> Iterator[str]:
    with backends.pg_database() as url:
        yield url


@pytest.fixture
def pings(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    seen: list[float] = []
    ping = AsyncAdapt_asyncpg_connection.ping

    def counted(self: Any) -> Any:
        seen.append(time.monotonic())
        return ping(self)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(AsyncAdapt_asyncpg_connection, "ping", counted)
    return seen


@asynccontextmanager
async def engine_for(url: str, ping_after_idle: float, pool_size: int = 1) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(url, pool_size=pool_size, ping_after_idle=ping_after_idle)
    try:
        yield engine
    finally:
        await engine.dispose()


async def backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(BACKEND_PID)).scalar_one())


async def terminate(pid: int) -> None:
    admin = await asyncpg.connect(backends.PG_ADMIN_DSN, timeout=5)
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
    await asyncio.sleep(0.1)  # the backend is gone before the next use


async def test_connection_used_within_the_bound_is_not_pinged(pg_url: str, pings: list[float]) -> None:
    async with engine_for(pg_url, ping_after_idle=60) as engine:
        first = await backend_pid(engine)
        for _ in range(5):
            assert await backend_pid(engine) == first
        assert pings == []


async def test_idle_dead_connection_is_pinged_and_replaced(pg_url: str, pings: list[float]) -> None:
    async with engine_for(pg_url, ping_after_idle=0.2) as engine:
        first = await backend_pid(engine)
        await terminate(first)
        await asyncio.sleep(0.2)
        assert await backend_pid(engine) != first  # the request itself never saw the dead one
        assert len(pings) == 1


async def test_dead_connection_used_within_the_bound_fails_once_as_unavailable(pg_url: str) -> None:
    async with engine_for(pg_url, ping_after_idle=60) as engine:
        first = await backend_pid(engine)
        await terminate(first)
        with pytest.raises(Exception) as failed:
            await backend_pid(engine)
        assert unavailability(failed.value) is not None  # answered 503, not 500
        assert await backend_pid(engine) != first


async def test_direct_statement_runs_on_the_pool_and_drops_a_dead_connection(pg_url: str) -> None:
    statement = DirectStatement(
        select(literal_column("pg_backend_pid()").label("pid"), bindparam("n", type_=Integer).label("n"))
    )
    async with engine_for(pg_url, ping_after_idle=60) as engine:
        first = await backend_pid(engine)
        row = await statement.fetchrow(engine, {"n": 7})
        assert row is not None and row["pid"] == first  # the same pooled connection
        await terminate(first)
        with pytest.raises(Exception) as failed:
            await statement.fetchrow(engine, {"n": 7})
        assert unavailability(failed.value) is not None
        row = await statement.fetchrow(engine, {"n": 8})
        assert row is not None and row["pid"] != first and row["n"] == 8
        assert await backend_pid(engine) == row["pid"]  # SQLAlchemy gets the new one too


async def test_direct_statement_commits_without_a_transaction_of_its_own(pg_url: str) -> None:
    async with engine_for(pg_url, ping_after_idle=60) as engine:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (n integer)"))
        insert = DirectStatement(
            text("INSERT INTO t VALUES (:n) RETURNING n").bindparams(bindparam("n", type_=Integer))
        )
        row = await insert.fetchrow(engine, {"n": 1})
        assert row is not None and dict(row) == {"n": 1}
        await engine.dispose()  # a fresh connection sees it: it was committed
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT n FROM t"))).scalar_one() == 1


async def test_direct_statement_killed_mid_statement_is_unavailable_and_retires_the_pool(pg_url: str) -> None:
    """A backend terminated while the statement runs: the error reads as "database unavailable"
    (503), and neither that connection nor any opened before it is handed out again."""
    sleep = DirectStatement(
        select(literal_column("pg_backend_pid()").label("pid"), func.pg_sleep(bindparam("s", type_=Float)))
    )
    async with engine_for(pg_url, ping_after_idle=60, pool_size=2) as engine:  # a victim and a bystander
        bystander = await engine.connect()
        bystander_pid = (await bystander.execute(BACKEND_PID)).scalar_one()
        running = asyncio.create_task(sleep.fetchrow(engine, {"s": 5.0}))
        admin = await asyncpg.connect(backends.PG_ADMIN_DSN, timeout=5)
        try:
            for _ in range(50):
                victim = await admin.fetchval(
                    "SELECT pid FROM pg_stat_activity WHERE query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()"
                )
                if victim:
                    break
                await asyncio.sleep(0.05)
            assert victim and victim != bystander_pid
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", victim)
        finally:
            await admin.close()
        with pytest.raises(Exception) as failed:
            await running
        assert unavailability(failed.value) is not None
        await bystander.close()  # back to the pool, older than the loss: retired on checkout
        row = await sleep.fetchrow(engine, {"s": 0.0})
        assert row is not None and row["pid"] not in (victim, bystander_pid)
        assert await backend_pid(engine) not in (victim, bystander_pid)


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.InternalClientError("cannot switch to state 12; another operation (2) is in progress"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.CannotConnectNowError("the database system is starting up"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_driver_errors_of_a_lost_or_full_database_read_as_unavailable(error: Exception) -> None:
    assert unavailability(error) is not None
    assert unavailability(RuntimeError("wrapped")) is None
    try:
        raise RuntimeError("wrapped") from error
    except RuntimeError as wrapped:
        assert unavailability(wrapped) is not None
