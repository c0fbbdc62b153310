"""The one module where Starlette meets Authlib (architecture §1).

A route reads the form once (size-limited, repeats refused), builds Authlib's request from it with
a URI from the configured issuer (never the Host header), and runs Authlib's synchronous code inside
`greenlet_spawn` on the request's session. Error responses roll the transaction back, unless a
reuse revoked a family: that revocation must stick even though the request fails.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from authlib.oauth2.rfc6749 import OAuth2Error
from sqlalchemy.util import greenlet_spawn
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from authserver.context import AppContext
from authserver.http.bodies import read_form
from authserver.http.errors import NO_STORE
from authserver.oauth.requests import ParsedRequest
from authserver.oauth.server import AuthServer
from authserver.oauth.store import OAuthStore

Step = Callable[[AuthServer, ParsedRequest], tuple[int, Any, list[tuple[str, str]]]]


class _RollBack(Exception):
    def __init__(self, result: tuple[int, Any, list[tuple[str, str]]]) -> None:
        self.result = result


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


async def run_endpoint(request: Request, path: str, step: Step) -> Response:
    ctx: AppContext = request.app.state.ctx
    params = await read_form(request, ctx.settings.max_body_bytes)
    oauth_request = ParsedRequest("POST", ctx.settings.issuer + path, request.headers, form=params)

    def guarded(server: AuthServer, req: ParsedRequest) -> tuple[int, Any, list[tuple[str, str]]]:
        try:
            return step(server, req)
        except OAuth2Error as error:  # raised outside Authlib's own handlers (our pre-checks)
            return server.handle_error_response(req, error)  # type: ignore[no-any-return]

    try:
        async with ctx.transaction() as session:
            keyring = await ctx.keyring(session)
            store = OAuthStore(session, ctx.settings, keyring, ctx.hasher, client_ip(request))
            result = await greenlet_spawn(guarded, AuthServer(store, oauth_request), oauth_request)
            if result[0] >= 400 and not store.commit_on_error:
                raise _RollBack(result)
    except _RollBack as rolled_back:
        result = rolled_back.result
    status, body, headers = result
    response = JSONResponse(body, status_code=status)
    for name, value in headers:
        if name.lower() not in ("content-type", "cache-control", "pragma"):
            response.headers[name] = value
    response.headers.update(NO_STORE)  # T2: every token endpoint answer, errors included
    return response
