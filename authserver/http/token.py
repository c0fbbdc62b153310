"""POST /token (RFC 6749 §3.2)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from authserver.http.authlib_glue import run_endpoint
from authserver.oauth.requests import ParsedRequest
from authserver.oauth.server import AuthServer, check_single_client_auth


def _token(server: AuthServer, request: ParsedRequest) -> tuple[int, Any, list[tuple[str, str]]]:
    check_single_client_auth(request)
    return server.create_token_response(request)  # type: ignore[no-any-return]


async def token(request: Request) -> Response:
    return await run_endpoint(request, "/token", _token)
