"""GET and POST /userinfo (OIDC Core §5.3) with a Bearer access token (RFC 6750 §2.1).

The token comes in the Authorization header, or as the `access_token` parameter of a POSTed form
(RFC 6750 §2.2), never both; §2.3's query parameter is not accepted (a token in a URL ends up in
logs). Errors follow RFC 6750 §3, each with its `WWW-Authenticate` challenge: a malformed request
is 400 `error="invalid_request"`;
no credentials at all is 401 with a bare `WWW-Authenticate: Bearer` challenge (§3.1: no error
code then); a bad token is 401 `error="invalid_token"`; a token without `openid` is 403
`error="insufficient_scope"`.
"""

from __future__ import annotations

from sqlalchemy.util import greenlet_spawn
from starlette.requests import Request
from starlette.responses import JSONResponse

from authserver.context import AppContext
from authserver.http.bodies import FORM, media_type, read_form
from authserver.http.errors import NO_STORE, ApiError
from authserver.oauth.store import OAuthStore
from authserver.oauth.userinfo import UserinfoError, userinfo

REALM = 'Bearer realm="authserver"'


def _challenge(status: int, error: str | None = None, description: str | None = None) -> JSONResponse:
    """RFC 6750 §3: the challenge names the error only when a token was presented."""
    header = REALM if error is None else f'{REALM}, error="{error}"'
    body = {
        "error": error or "invalid_token",
        "error_description": description or "Send the access token as Authorization: Bearer <token>.",
    }
    return JSONResponse(body, status_code=status, headers=NO_STORE | {"WWW-Authenticate": header})


def _usable(value: str) -> str | None:
    value = value.strip()
    return value if value and value.isascii() and value.isprintable() else None


async def _token(request: Request, max_body: int) -> str | None:
    """The one access token this request presents, None if none; ApiError if it presents two."""
    header = request.headers.get("authorization")
    in_body = None
    if request.method == "POST" and media_type(request) == FORM:
        in_body = (await read_form(request, max_body)).get("access_token")
    if header is not None and in_body is not None:
        raise ApiError(400, "invalid_request", "Send the access token one way only.")
    if in_body is not None:
        return _usable(in_body)
    scheme, _, value = (header or "").partition(" ")
    return _usable(value) if scheme.lower() == "bearer" else None


async def userinfo_endpoint(request: Request) -> JSONResponse:
    ctx: AppContext = request.app.state.ctx
    try:
        token = await _token(request, ctx.settings.max_body_bytes)
    except ApiError as refused:
        return _challenge(refused.status, "invalid_request", refused.description)
    if token is None:
        return _challenge(401)
    await ctx.sync_caches()  # revocations made through any worker count here too
    keyring = await ctx.keyring()
    async with ctx.transaction() as session:
        store = OAuthStore(session, ctx.settings, keyring, ctx.hasher, caches=ctx.caches)
        try:
            body = await greenlet_spawn(userinfo, store, token)
        except UserinfoError as error:
            return _challenge(error.status, error.error, error.description)
    return JSONResponse(body, headers=NO_STORE)
