"""Liveness and readiness."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text

from authserver.context import AppContext
from tests.redis_server import REDIS_URL, require_redis


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"


async def test_readyz_ok_when_migrated(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text


async def test_readyz_503_when_migrations_pending(client: httpx.AsyncClient, ctx: AppContext) -> None:
    async with ctx.engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = 'old'"))
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["database"] == "migrations pending"


async def test_unknown_route_is_404_json_free_of_detail(client: httpx.AsyncClient) -> None:
    response = await client.get("/nope")
    assert response.status_code == 404


@pytest.mark.parametrize("settings_overrides", [{"redis_url": "redis://127.0.0.1:1/0"}])
async def test_readyz_503_when_the_configured_redis_is_away(client: httpx.AsyncClient) -> None:
    """With AUTHSERVER_REDIS_URL every rate-limited request needs Redis (a limited request is then
    a 503), so a load balancer must hear about it."""
    response = await client.get("/readyz")
    assert response.status_code == 503 and response.headers["retry-after"]
    assert response.json() == {"status": "unavailable", "database": "ok", "redis": "unreachable"}
    limited = await client.post("/token", data={"grant_type": "client_credentials"})
    assert limited.status_code == 503 and limited.headers["retry-after"]


@pytest.mark.parametrize("settings_overrides", [{"redis_url": REDIS_URL}])
async def test_readyz_reports_a_live_redis(client: httpx.AsyncClient) -> None:
    require_redis()
    response = await client.get("/readyz")
    assert response.status_code == 200 and response.json()["redis"] == "ok"
