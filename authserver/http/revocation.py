"""POST /revoke (RFC 7009)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from authserver.http.authlib_glue import run_endpoint
from authserver.oauth.revocation import RevocationEndpoint
from authserver.oauth.server import check_single_client_auth


async def revoke(request: Request) -> Response:
    def step(server, req):  # type: ignore[no-untyped-def]
        check_single_client_auth(req)
        return server.create_endpoint_response(RevocationEndpoint.ENDPOINT_NAME, req)

    return await run_endpoint(request, "/revoke", step)
