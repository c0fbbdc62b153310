"""Liveness and readiness."""

from __future__ import annotations

import httpx
from sqlalchemy import text

from authserver.context import AppContext


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
