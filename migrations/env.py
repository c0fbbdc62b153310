"""Alembic environment. authserver hands in an open connection (`authserver.db.migrations`);
the `alembic` command line also works, with the URL from AUTHSERVER_DATABASE_URL."""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection

from authserver.db.engine import make_engine
from authserver.db.models import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_standalone(url: str) -> None:
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(_run)
    await engine.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
elif context.is_offline_mode():
    raise SystemExit("offline SQL generation is not supported; run `authserver db upgrade`")
else:
    asyncio.run(
        _run_standalone(os.environ.get("AUTHSERVER_DATABASE_URL", "sqlite+aiosqlite:///./authserver.db"))
    )
