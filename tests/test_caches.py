"""Per-worker caches hold their stated bound across processes (architecture §8, `authserver/caches.py`).

Two `authserver serve` processes share one PostgreSQL. After a change commits (through the CLI, a
third process), every request that starts more than `AUTHSERVER_CACHE_SYNC_INTERVAL` seconds later
sees it, on both servers: a client's changed grants, its rotated secret, its deletion, and a
revoked token at introspection.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
from click.testing import CliRunner

from authserver.caches import BoundedCache
from authserver.cli import cli
from tests.servers import pg_with_client, running_server

INTERVAL = 0.5
# One issuer for both, as behind a load balancer: each accepts the other's tokens.
SERVER_ENV = {"AUTHSERVER_CACHE_SYNC_INTERVAL": str(INTERVAL), "AUTHSERVER_ISSUER": "http://127.0.0.1:9"}
CC = {"grant_type": "client_credentials"}


def after_the_bound() -> None:
    time.sleep(INTERVAL + 0.05)


def cli_ok(env: dict[str, str | None], *args: str, stdin: str | None = None) -> str:
    result = CliRunner().invoke(cli, list(args), env=env, input=stdin)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_client_changes_reach_every_worker_within_the_interval(tmp_path: Path) -> None:
    grants = ("--grant-type", "client_credentials", "--grant-type", "password", "--scope", "read")
    with pg_with_client(tmp_path, *grants) as (url, env, auth):
        servers = [running_server(url, tmp_path, env=SERVER_ENV) for _ in range(2)]
        with servers[0] as one, servers[1] as two:
            for base in (one, two):  # both workers now hold the client in their cache
                assert httpx.post(base + "/token", data=CC, auth=auth).status_code == 200

            cli_ok(env, "clients", "update", auth[0], "--grant-type", "password")
            after_the_bound()
            for base in (one, two):
                refused = httpx.post(base + "/token", data=CC, auth=auth)
                assert refused.status_code == 400 and refused.json()["error"] == "unauthorized_client"

            cli_ok(env, "clients", "update", auth[0], "--grant-type", "client_credentials")
            rotated = json.loads(cli_ok(env, "clients", "rotate-secret", auth[0], "--overlap", "0", "--json"))
            after_the_bound()
            for base in (one, two):
                old = httpx.post(base + "/token", data=CC, auth=auth)
                assert old.status_code == 401, old.text
                new = httpx.post(base + "/token", data=CC, auth=(auth[0], rotated["client_secret"]))
                assert new.status_code == 200, new.text

            cli_ok(env, "clients", "delete", auth[0])
            after_the_bound()
            for base in (one, two):
                gone = httpx.post(base + "/token", data=CC, auth=(auth[0], rotated["client_secret"]))
                assert gone.status_code == 401 and gone.json()["error"] == "invalid_client"


def test_a_revocation_reaches_every_workers_introspection_within_the_interval(tmp_path: Path) -> None:
    with pg_with_client(tmp_path, "--grant-type", "client_credentials", "--introspect") as (url, _env, auth):
        servers = [running_server(url, tmp_path, env=SERVER_ENV) for _ in range(2)]
        with servers[0] as one, servers[1] as two:
            token = httpx.post(one + "/token", data=CC, auth=auth).json()["access_token"]
            for base in (one, two):  # both cache an "active" verdict for this jti
                assert httpx.post(base + "/introspect", data={"token": token}, auth=auth).json()["active"]
            assert httpx.post(one + "/revoke", data={"token": token}, auth=auth).status_code == 200
            # The worker that revoked knows at once; the other within the interval.
            assert httpx.post(one + "/introspect", data={"token": token}, auth=auth).json() == {
                "active": False
            }
            after_the_bound()
            assert httpx.post(two + "/introspect", data={"token": token}, auth=auth).json() == {
                "active": False
            }


def test_a_load_that_raced_an_invalidation_is_not_cached() -> None:
    cache: BoundedCache[str] = BoundedCache(10)
    generation = cache.generation  # a request starts loading
    cache.clear()  # a change is seen meanwhile
    cache.put("client", "stale", generation)
    assert cache.get("client") is None
    cache.put("client", "fresh", cache.generation)
    assert cache.get("client") == "fresh"


def test_caches_are_bounded_in_size() -> None:
    cache: BoundedCache[int] = BoundedCache(3)
    for n in range(10):
        cache.put(str(n), n, cache.generation)
    assert len(cache) == 3 and cache.get("9") == 9 and cache.get("0") is None


async def test_requests_do_not_wait_for_reads_while_the_lifespan_task_keeps_up(tmp_path: Path) -> None:
    """The lifespan task re-reads every quarter interval; a request reads only when that fell behind
    the bound (then it must, to keep the bound)."""
    from authserver.caches import CacheSync
    from authserver.context import AppContext
    from authserver.db import migrations
    from authserver.http.app import create_app
    from authserver.settings import Settings

    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
        issuer="http://127.0.0.1:9",
        keys_dir=tmp_path / "keys",
        cache_sync_interval=0.2,
    )
    ctx = AppContext.create(settings)
    await migrations.upgrade(ctx.engine)
    reads_by_requests = 0
    original = CacheSync.sync

    async def counted(self: CacheSync, *, skip_if_younger_than: float = 0.0) -> None:
        nonlocal reads_by_requests
        if skip_if_younger_than == settings.cache_sync_interval:  # the request path's call
            reads_by_requests += 1
        await original(self, skip_if_younger_than=skip_if_younger_than)

    CacheSync.sync = counted  # type: ignore[method-assign]
    try:
        app = create_app(ctx)
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://t") as http,
        ):
            await asyncio.sleep(0.1)
            for _ in range(20):  # a second: five intervals
                assert (await http.post("/token", data=CC)).status_code == 401
                await asyncio.sleep(0.05)
            assert reads_by_requests == 0
            await ctx.stop_maintenance()  # the task stops: the next request past the bound reads
            await asyncio.sleep(0.25)
            await http.post("/token", data=CC)
            assert reads_by_requests == 1
    finally:
        CacheSync.sync = original  # type: ignore[method-assign]
        await ctx.aclose()
