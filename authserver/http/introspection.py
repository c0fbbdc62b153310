"""POST /introspect (RFC 7662). No CORS: resource servers call it server to server (C3)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from authserver.http.authlib_glue import run_endpoint
from authserver.oauth.introspection import IntrospectionEndpoint


async def introspect(request: Request) -> Response:
    return await run_endpoint(
        request,
        "/introspect",
        lambda server, req: server.create_endpoint_response(IntrospectionEndpoint.ENDPOINT_NAME, req),
    )
