"""FastAPI glue: `Depends(require_scopes("orders:read"))` hands the handler a verified `Principal`.

```python
app = FastAPI()
protect(app, Authenticator([Issuer("https://auth.example.com", audience="https://api.example.com")]))

@app.get("/orders")
async def orders(principal: Principal = Depends(require_scopes("orders:read"))) -> ...:
```

`protect` registers the authenticator and the handler that renders RFC 6750 §3 errors (401 with a
`WWW-Authenticate: Bearer` challenge, 403 `insufficient_scope`, 400 `invalid_request`). Needs the
`fastapi` extra.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import FastAPI, Request
from starlette.responses import Response

from authserver_resource.authenticator import Authenticator
from authserver_resource.errors import BearerError, InsufficientScope, TokenMissing, quote_realm
from authserver_resource.principal import Principal
from authserver_resource.starlette import authenticate, check_scope_names, error_response, get_principal

_STATE_ATTR = "authserver_resource"


@dataclass(frozen=True)
class _Protection:
    authenticator: Authenticator
    realm: str | None


def protect(app: FastAPI, authenticator: Authenticator, *, realm: str | None = None) -> None:
    """Make `require_scopes` work in `app`: remember the authenticator, render `BearerError`s.

    Close the authenticator at shutdown (`await authenticator.aclose()` in your lifespan) if it
    made its own HTTP client.
    """
    if realm is not None:
        quote_realm(realm)
    setattr(app.state, _STATE_ATTR, _Protection(authenticator, realm))

    async def handle(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, BearerError):  # registered for BearerError only
            raise exc
        return error_response(exc, realm)

    app.add_exception_handler(BearerError, handle)


def require_scopes(*scopes: str) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency that authenticates the request and demands every scope given (none: any valid
    credential). 401 without a credential or with a bad one, 403 when a scope is missing."""
    required = check_scope_names(scopes)

    async def dependency(request: Request) -> Principal:
        principal = get_principal(request)  # already verified by BearerAuthMiddleware, if used
        if principal is None:
            protection = getattr(request.app.state, _STATE_ATTR, None)
            if not isinstance(protection, _Protection):
                raise RuntimeError("call authserver_resource.fastapi.protect(app, authenticator) first")
            principal = await authenticate(protection.authenticator, request)
        if principal is None:
            raise TokenMissing()
        if principal.missing_scopes(*required):
            raise InsufficientScope(required)
        return principal

    return dependency
