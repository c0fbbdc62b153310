"""POST /revoke (RFC 7009)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from authserver.http.authlib_glue import run_endpoint
from authserver.oauth.requests import ParsedRequest
from authserver.oauth.revocation import RevocationEndpoint
from authserver.oauth.server import AuthServer, check_single_client_auth


async def revoke(request: Request) -> Response:
    def step(server: AuthServer, req: ParsedRequest) -> tuple[int, Any, list[tuple[str, str]]]:
        check_single_client_auth(req)
        return server.create_endpoint_response(RevocationEndpoint.ENDPOINT_NAME, req)  # type: ignore[no-any-return]

    return await run_endpoint(request, "/revoke", step)
