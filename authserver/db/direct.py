"""One hot-path statement run by asyncpg itself, on a connection from the engine's pool.

Running a statement through SQLAlchemy's `AsyncConnection` costs about 300 µs of CPU on top of
asyncpg's own ~70 µs (measured on 2 cores: a pooled `SELECT 1`, 365 µs against 71 µs), and a
refresh rotation is one statement: that overhead was a sixth of the request. So the statement is
still written with SQLAlchemy Core (one definition of the tables, checked by the tests on both
backends), compiled once for asyncpg, and run with asyncpg's prepared-statement cache on a
connection checked out of the same pool, with the same bounds (pool timeout, the idle ping,
asyncpg's `command_timeout`). No transaction is begun: the statement is its own, committed when
it returns.

No SQLAlchemy type processing runs on the way in or out: parameters must already be what
asyncpg takes (aware datetimes for `UTCDateTime`), and rows come back as asyncpg records.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import ClauseElement

# The driver's own view of a connection it can no longer trust, whatever the server said.
BROKEN_CONNECTION = (
    asyncpg.PostgresConnectionError,  # includes a FATAL from the server (terminated, shut down)
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,  # the protocol was left mid-operation (a kill between messages)
    OSError,
    TimeoutError,
)


class DirectStatement:
    def __init__(self, statement: ClauseElement) -> None:
        compiled = statement.compile(dialect=asyncpg_dialect())  # type: ignore[no-untyped-call]
        self.sql = compiled.string
        self._names: list[str] = list(getattr(compiled, "positiontup", None) or [])

    async def fetchrow(self, engine: AsyncEngine, params: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """Run it in autocommit on a pooled connection; the one row it returns, if any."""
        pooled = await engine.raw_connection()
        connection: Any = pooled.driver_connection  # asyncpg.Connection
        try:
            row: Mapping[str, Any] | None = await connection.fetchrow(
                self.sql, *(params[name] for name in self._names)
            )
            return row
        except BaseException as error:
            if isinstance(error, BROKEN_CONNECTION) or connection.is_closed():
                # Lost: retire every connection opened before this one too, as SQLAlchemy does
                # on a disconnect, so a restarted database costs one failed request, not one
                # per pooled connection. (Pool._invalidate is what its Connection calls.)
                engine.sync_engine.pool._invalidate(pooled, error)
            elif not isinstance(error, asyncpg.PostgresError):
                pooled.invalidate(error)  # e.g. cancelled mid-statement: its protocol state is unknown
            raise
        finally:
            pooled.close()
