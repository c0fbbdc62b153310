"""POST /revoke (RFC 7009)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from authserver.http.authlib_glue import run_endpoint
from authserver.oauth.revocation import RevocationEndpoint


async def revoke(request: Request) -> Response:
    return await run_endpoint(
        request,
        "/revoke",
        lambda server, req: server.create_endpoint_response(RevocationEndpoint.ENDPOINT_NAME, req),
    )
