"""Liveness and readiness, for load balancers and orchestrators."""

from __future__ import annotations

import logging

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse

from authserver.context import AppContext
from authserver.db import migrations
from authserver.db.faults import WarnOnce, unavailability

log = logging.getLogger("authserver.http")
RETRY = {"Retry-After": "2", "Cache-Control": "no-store"}
_warn = WarnOnce(log)  # a load balancer polls this: one line per interval, not one per poll


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
        _warn(unavailability(exc) or type(exc).__name__, "readiness check failed")
        return JSONResponse(
            {"status": "unavailable", "database": "unreachable"}, status_code=503, headers=RETRY
        )
    if not current:
        return JSONResponse(
            {"status": "unavailable", "database": "migrations pending"}, status_code=503, headers=RETRY
        )
    redis = ctx.limiter.redis
    if redis is None:
        return JSONResponse({"status": "ok", "database": "ok"})
    try:  # with AUTHSERVER_REDIS_URL every rate-limited request needs it (it fails closed: 503)
        answering = await redis.check()
    except Exception as exc:
        _warn(unavailability(exc) or type(exc).__name__, "readiness check failed: redis")
        answering = False
    if not answering:
        return JSONResponse(
            {"status": "unavailable", "database": "ok", "redis": "unreachable"},
            status_code=503,
            headers=RETRY,
        )
    return JSONResponse({"status": "ok", "database": "ok", "redis": "ok"})
