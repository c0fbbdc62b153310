"""Liveness and readiness, for load balancers and orchestrators."""

from __future__ import annotations

import logging

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse

from authserver.context import AppContext
from authserver.db import migrations

log = logging.getLogger("authserver.http")


async def healthz(_request: Request) -> JSONResponse:
    """The process is up and serving; says nothing about the database on purpose."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """Ready to take traffic: database reachable and migrated to the code's head."""
    ctx: AppContext = request.app.state.ctx
    try:
        async with ctx.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        current = await migrations.is_current(ctx.engine)
    except Exception as exc:  # any driver error means "not ready", never a 500
        log.warning("readiness check failed: %s", type(exc).__name__)
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    if not current:
        return JSONResponse({"status": "unavailable", "database": "migrations pending"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})
