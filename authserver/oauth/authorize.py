"""The authorization endpoint's protocol half (RFC 6749 §4.1.1-4.1.2) for an authenticated user.

The browser half (login, consent, the `/authorize` route) calls `authorize` once it knows who the
user is and that they consented. It validates the request with Authlib's code grant and our PKCE
rule, stores the hashed code, and returns where to send the browser.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from authlib.oauth2.rfc6749 import OAuth2Error
from sqlalchemy.util import greenlet_spawn

from authserver.context import AppContext
from authserver.db.models import User
from authserver.oauth.requests import ParsedRequest
from authserver.oauth.server import AuthServer
from authserver.oauth.store import OAuthStore


@dataclass(frozen=True)
class AuthorizationResult:
    status: int
    location: str | None  # where to redirect the browser, if anywhere
    error: str | None = None
    description: str | None = None


async def authorize(ctx: AppContext, params: Mapping[str, str], user: User) -> AuthorizationResult:
    request = ParsedRequest("GET", ctx.settings.issuer + "/authorize", {}, args=params)

    def run(server: AuthServer) -> AuthorizationResult:
        try:
            grant = server.get_consent_grant(request, end_user=user)
        except OAuth2Error as error:
            # Errors about the client or redirect URI never redirect (A3).
            if error.redirect_uri is None:
                return AuthorizationResult(error.status_code, None, error.error, error.description)
            status, _body, headers = server.handle_error_response(request, error)
            return AuthorizationResult(status, dict(headers).get("Location"), error.error, error.description)
        status, _body, headers = server.create_authorization_response(request, grant_user=user, grant=grant)
        return AuthorizationResult(status, dict(headers).get("Location"))

    async with ctx.transaction() as session:
        keyring = await ctx.keyring(session)
        store = OAuthStore(session, ctx.settings, keyring, ctx.hasher)
        return await greenlet_spawn(run, AuthServer(store))
