"""Starlette glue: a middleware that authenticates requests and renders RFC 6750 errors.

```python
app = Starlette(routes=..., middleware=[
    Middleware(BearerAuthMiddleware, authenticator=authenticator, realm="orders"),
])

async def list_orders(request: Request) -> Response:
    principal = check_scopes(request, "orders:read")   # 403 insufficient_scope if missing
```

Needs the `starlette` extra. This is the only module (with `fastapi.py`) that imports a web
framework; the validation code never does.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authserver_resource.authenticator import Authenticator
from authserver_resource.errors import (
    BearerError,
    InsufficientScope,
    TokenMissing,
    is_scope_token,
    quote_realm,
)
from authserver_resource.principal import Principal

STATE_KEY = "principal"


def error_response(error: BearerError, realm: str | None = None) -> JSONResponse:
    """The response RFC 6750 §3 asks for: status, `WWW-Authenticate` challenge, JSON error body."""
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers(realm))


async def authenticate(authenticator: Authenticator, conn: HTTPConnection) -> Principal | None:
    """The principal of a request or websocket handshake, None when it carries no credential."""
    return await authenticator.authenticate_request(
        authorization=conn.headers.getlist("authorization"),
        cookies=conn.cookies,
        method=str(conn.scope.get("method", "GET")),
        origin=conn.headers.get("origin"),
    )


def check_scope_names(scopes: Sequence[str]) -> tuple[str, ...]:
    """Validate required scope names once, at set-up (RFC 6749 §3.3 scope-token syntax)."""
    for scope in scopes:
        if not is_scope_token(scope):
            raise ValueError(f"not a valid scope name: {scope!r}")
    return tuple(scopes)


def get_principal(conn: HTTPConnection) -> Principal | None:
    """The principal the middleware verified for this request, if any."""
    principal = conn.scope.get("state", {}).get(STATE_KEY)
    return principal if isinstance(principal, Principal) else None


def check_scopes(conn: HTTPConnection, *scopes: str) -> Principal:
    """The request's principal if it has every scope; else TokenMissing (401) or InsufficientScope
    (403), which the middleware renders. For per-route scopes in a plain Starlette app."""
    principal = get_principal(conn)
    if principal is None:
        raise TokenMissing()
    if principal.missing_scopes(*scopes):
        raise InsufficientScope(check_scope_names(scopes))
    return principal


class BearerAuthMiddleware:
    """Authenticates every HTTP request and websocket handshake (pure ASGI, no buffering).

    - `scopes`: required of every request (403 `insufficient_scope` otherwise).
    - `required`: when False, requests without any credential pass as anonymous (a credential that
      is present must still be valid); handlers then use `check_scopes`.
    - `exempt_paths`: exact paths that skip authentication (health checks).
    - `realm`: the `realm` of the challenge (RFC 6750 §3).

    The verified principal is in `request.state.principal`. A `BearerError` raised by a handler
    (e.g. from `check_scopes`) before it starts its response is rendered here too.
    """

    def __init__(
        self,
        app: ASGIApp,
        authenticator: Authenticator,
        *,
        realm: str | None = None,
        scopes: Sequence[str] = (),
        required: bool = True,
        exempt_paths: Sequence[str] = (),
    ) -> None:
        if realm is not None:
            quote_realm(realm)  # refuse control characters now, not on the first request
        self.app = app
        self.authenticator = authenticator
        self.realm = realm
        self.scopes = check_scope_names(scopes)
        self.required = required
        self.exempt_paths = frozenset(exempt_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in self.exempt_paths:
            await self.app(scope, receive, send)
            return
        try:
            principal = await authenticate(self.authenticator, HTTPConnection(scope))
            if principal is None and self.required:
                raise TokenMissing()
            if principal is not None and principal.missing_scopes(*self.scopes):
                raise InsufficientScope(self.scopes)
        except BearerError as error:
            await self._refuse(error, scope, receive, send)
            return
        scope.setdefault("state", {})[STATE_KEY] = principal
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] in ("http.response.start", "websocket.accept", "websocket.close"):
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except BearerError as error:
            if started:
                raise
            await self._refuse(error, scope, receive, send)

    async def _refuse(self, error: BearerError, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            # RFC 6455 §7.4.1 1008: policy violation; closing before accept rejects the handshake.
            await send({"type": "websocket.close", "code": 1008})
            return
        await error_response(error, self.realm)(scope, receive, send)
