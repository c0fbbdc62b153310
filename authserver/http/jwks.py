"""GET /.well-known/jwks.json: the public keys (next, current, retired; J8, J9)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from authserver.context import AppContext


async def jwks(request: Request) -> JSONResponse:
    ctx: AppContext = request.app.state.ctx
    keyring = await ctx.fresh_keyring()
    # A cache may keep this no longer than a new key waits as `next` before it signs (arch. §3).
    return JSONResponse(
        keyring.jwks(), headers={"Cache-Control": f"public, max-age={ctx.settings.jwks_max_age}"}
    )
