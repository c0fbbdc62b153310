"""Architecture §1: Authlib's synchronous hooks reach the async driver and the argon2 threads
through SQLAlchemy's greenlet bridge, on aiosqlite and asyncpg, without blocking the event loop."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import text
from sqlalchemy.util import greenlet_spawn

from authserver.context import AppContext
from authserver.oauth.server import AuthServer
from authserver.oauth.store import OAuthStore, bridge
from tests.oauth.helpers import PASSWORD, make_client, make_user


async def test_sync_hooks_await_the_async_driver_and_argon2_off_loop(ctx: AppContext, backend: str) -> None:
    app = await make_client(ctx, grants=("password",))
    user = await make_user(ctx)
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.001)

    ticking = asyncio.create_task(ticker())
    await ctx.ensure_keys()
    async with ctx.transaction() as session:
        keyring = await ctx.keyring()
        store = OAuthStore(session, ctx.settings, keyring, ctx.hasher)
        server = AuthServer(store)

        def authlib_side() -> tuple[str, str | None, int, float]:
            # Plain synchronous code, as Authlib's grants are.
            assert bridge(session.execute(text("SELECT 1"))).scalar_one() == 1
            client = server.query_client(app.client_id)
            before = ticks
            started = time.perf_counter()
            found = store.authenticate_password("alice", PASSWORD)  # argon2 in a worker thread
            elapsed = time.perf_counter() - started
            return client.client_id, found.id if found else None, ticks - before, elapsed

        client_id, user_id, ticks_during_hash, elapsed = await greenlet_spawn(authlib_side)
    stop.set()
    await ticking
    assert client_id == app.client_id and user_id == user.id
    assert ctx.engine.dialect.driver == ("aiosqlite" if backend == "sqlite" else "asyncpg")
    # The loop kept running while argon2 (tens of ms) worked: it was not blocked.
    assert elapsed > 0.01 and ticks_during_hash >= 3, (elapsed, ticks_during_hash)
