"""CORS for the endpoints a browser app may call (checklist C1-C3).

Only listed paths get CORS headers. Public documents (metadata, JWKS) allow any origin with `*`;
the token, revocation, signup and userinfo API endpoints allow only configured origins, matched
exactly and never echoed otherwise; credentials are never allowed. Everything else (introspection,
pages) gets none.
"""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PUBLIC_PATHS = (
    "/.well-known/oauth-authorization-server",
    "/.well-known/openid-configuration",
    "/.well-known/jwks.json",
)
CLIENT_PATHS = ("/token", "/revoke", "/signup", "/userinfo")


class CorsMiddleware:
    def __init__(self, app: ASGIApp, *, origins: list[str]) -> None:
        self.app = app
        self.origins = frozenset(origins)

    def _allowed(self, path: str, origin: str) -> str | None:
        if path in PUBLIC_PATHS:
            return "*"
        if path in CLIENT_PATHS and origin in self.origins:
            return origin
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        path = scope["path"]
        allow = self._allowed(path, origin) if origin else None
        if scope["method"] == "OPTIONS" and origin and headers.get("access-control-request-method"):
            if allow is None:
                refused = JSONResponse(
                    {
                        "error": "access_denied",
                        "error_description": "This origin may not call this endpoint.",
                    },
                    status_code=403,
                )
                await refused(scope, receive, send)
                return
            preflight = PlainTextResponse("", status_code=204)
            preflight.headers["Access-Control-Allow-Origin"] = allow
            preflight.headers["Access-Control-Allow-Methods"] = "GET, POST" if path in CLIENT_PATHS else "GET"
            preflight.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
            preflight.headers["Access-Control-Max-Age"] = "600"
            if allow != "*":
                preflight.headers["Vary"] = "Origin"
            await preflight(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start" and allow is not None:
                out = MutableHeaders(scope=message)
                out["Access-Control-Allow-Origin"] = allow
                if allow != "*":
                    out.add_vary_header("Origin")
            await send(message)

        await self.app(scope, receive, send_with_cors)
