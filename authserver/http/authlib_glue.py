"""The one module where Starlette meets Authlib (architecture §1).

A route reads the form once (size-limited, repeats and control characters refused), builds
Authlib's request from it with a URI from the configured issuer (never the Host header), and runs
Authlib's synchronous code inside `greenlet_spawn` on the request's session.

An error response rolls the request's transaction back; then whatever must survive the failure
(a family revoked on reuse, a `login.failed` audit row: `OAuthStore.after_failure`) is written in
a transaction of its own. Each error is logged at debug level with its internal reason, so an
operator can see why a request failed while the client sees only `error` and
`error_description` (never a credential in either).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from authlib.oauth2.rfc6749 import OAuth2Error
from sqlalchemy.util import greenlet_spawn
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from authserver import metrics
from authserver.context import AppContext
from authserver.domain import audit
from authserver.domain.clients import GRANT_TYPES
from authserver.domain.rate_limits import address_key
from authserver.http.bodies import read_form
from authserver.http.client_ips import client_ip
from authserver.http.errors import NO_STORE, ApiError
from authserver.oauth.client_auth import ClientFailed
from authserver.oauth.requests import ParsedRequest
from authserver.oauth.server import AuthServer
from authserver.oauth.store import OAuthStore

log = logging.getLogger("authserver.oauth")

Result = tuple[int, Any, list[tuple[str, str]]]
GRANT_LABELS = frozenset(GRANT_TYPES)
Step = Callable[[AuthServer, ParsedRequest], Result]


class _RollBack(Exception):
    def __init__(self, result: Result) -> None:
        self.result = result


# The per-IP request rate of each endpoint (Redis, or this worker: never the database).
_REQUEST_LIMITS = {"/token": "token_per_ip", "/introspect": "introspect_per_ip", "/revoke": "revoke_per_ip"}
CLIENT_AUTH_FAILURES = "client_auth_failures_per_ip"


async def run_endpoint(request: Request, path: str, step: Step) -> Response:
    ctx: AppContext = request.app.state.ctx
    if request.scope.get("query_string"):
        # RFC 6749 §2.3.1 / §3.2: credentials and parameters go in the body, never in the URL,
        # where proxies and logs keep them.
        raise ApiError(400, "invalid_request", "Send parameters in the request body, not in the URL.")
    ip = client_ip(request)
    # T11, I4: in memory (or Redis), so a cached success path gains no query.
    ctx.limiter.check_blocked(CLIENT_AUTH_FAILURES, address_key(ip))
    if path in _REQUEST_LIMITS:
        await ctx.limiter.enforce(_REQUEST_LIMITS[path], address_key(ip), ip=ip, per_worker=True)
    params = await read_form(request, ctx.settings.max_body_bytes)
    oauth_request = ParsedRequest("POST", ctx.settings.issuer + path, request.headers, form=params)
    store: OAuthStore | None = None
    server: AuthServer | None = None

    def guarded(server: AuthServer, req: ParsedRequest) -> Result:
        try:
            return step(server, req)
        except OAuth2Error as error:  # raised outside Authlib's own handlers
            return server.handle_error_response(req, error)

    await ctx.sync_caches()
    keyring = await ctx.keyring()
    try:
        async with ctx.request_transaction() as lazy_session:
            store = OAuthStore(
                lazy_session,
                ctx.settings,
                keyring,
                ctx.hasher,
                ip,
                sessions=ctx.sessions,
                caches=ctx.caches,
                limiter=ctx.limiter,
                engine=ctx.engine,
            )
            server = AuthServer(store, ctx.better_auth())
            result = await greenlet_spawn(guarded, server, oauth_request)
            if result[0] >= 400:
                raise _RollBack(result)
        if path == "/token":
            metrics.TOKENS_ISSUED.labels(grant_type=_grant_label(oauth_request)).inc()
            _audit_issued(server, oauth_request, ip)
    except _RollBack as rolled_back:
        result = rolled_back.result
        assert store is not None and server is not None
        if store.failure_actions:
            async with ctx.transaction() as session:
                for action in store.failure_actions:
                    await action(session)
        _log_failure(path, server, oauth_request, result[0])
        if isinstance(server.last_error, ClientFailed):
            # Counted in shared storage after the answer was decided; over the limit it becomes
            # a 429, and this worker refuses the IP before authenticating until the window ends.
            client = getattr(oauth_request, "client", None)
            await ctx.limiter.count_failure(
                CLIENT_AUTH_FAILURES, address_key(ip), ip=ip, client_id=getattr(client, "client_id", None)
            )
    return _json(result)


def _audit_issued(server: AuthServer, request: ParsedRequest, ip: str | None) -> None:
    """`token.issued` as a log-only audit event: issuing stays free of database writes."""
    issued = getattr(server.issuer, "last_issued", None)
    if issued is None:
        return
    audit.emit(
        "token.issued",
        user_id=issued.user_id,
        client_id=issued.client.client_id,
        ip=ip,
        grant_type=_grant_label(request),
    )


def _log_failure(path: str, server: AuthServer, request: ParsedRequest, status: int) -> None:
    """Operators see why (debug level); the reason strings name no credential by construction."""
    if not log.isEnabledFor(logging.DEBUG):
        return
    error = server.last_error
    client = getattr(request, "client", None)
    log.debug(
        "%s refused: %s",
        path,
        error.error if error is not None else "error",
        extra={
            "status": status,
            "reason": _reason(error),
            "client_id": getattr(client, "client_id", None),
            "grant_type": request.form.get("grant_type") if path == "/token" else None,
        },
    )


def _reason(error: OAuth2Error | None) -> str:
    if error is None:
        return "unknown"
    return str(getattr(error, "reason", None) or error.description or error.error)


def _grant_label(request: ParsedRequest) -> str:
    grant = request.form.get("grant_type", "")
    return grant if grant in GRANT_LABELS else "other"


_OWN_HEADERS = frozenset({"content-type", "cache-control", "pragma", "content-length"})


def _json(result: Result) -> Response:
    status, body, headers = result
    response = JSONResponse(body, status_code=status, headers=NO_STORE)  # T2: errors included
    # Authlib's extra headers (WWW-Authenticate) appended as raw pairs: no per-header rescans.
    response.raw_headers.extend(
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in headers
        if name.lower() not in _OWN_HEADERS
    )
    return response
