"""POST /token (RFC 6749 §3.2)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from authserver.http.authlib_glue import run_endpoint


async def token(request: Request) -> Response:
    return await run_endpoint(request, "/token", lambda server, req: server.create_token_response(req))
