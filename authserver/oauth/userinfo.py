"""The UserInfo endpoint's rules (OIDC Core §5.3), apart from HTTP.

A token is good here only if it is one of our access tokens that is still active (signature,
expiry, and not revoked alone or with its family: the same `token_lookup.find_token` that
introspection uses), was granted `openid`, is meant for us (`aud` is our issuer or default
audience, not some other resource server's API), and names a user who still exists and is
enabled. The claims follow the granted scopes (`claims.for_scopes`).
"""

from __future__ import annotations

from typing import Any

from authserver.domain import scope_policy
from authserver.oauth import claims
from authserver.oauth.store import OAuthStore
from authserver.oauth.token_lookup import find_token


class UserinfoError(Exception):
    """RFC 6750 §3.1 error: `invalid_token` (401) or `insufficient_scope` (403)."""

    def __init__(self, error: str, status: int, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.status = status
        self.description = description


def active_access_token(store: OAuthStore, value: str) -> dict[str, Any] | None:
    """Claims of an active access token of ours, else None. Runs inside `greenlet_spawn`."""
    found = find_token(store, value, "access_token")
    if found is None or found.kind != "access_token" or not found.active:
        return None
    return found.claims


def userinfo(store: OAuthStore, value: str) -> dict[str, Any]:
    settings = store.settings
    token = active_access_token(store, value)
    if token is None or token.get("aud") not in (settings.issuer, settings.audience):
        raise UserinfoError("invalid_token", 401, "The access token is invalid, expired or revoked.")
    scopes = scope_policy.split(token.get("scope") if isinstance(token.get("scope"), str) else None)
    if "openid" not in scopes:
        raise UserinfoError("insufficient_scope", 403, "The access token was not granted the openid scope.")
    user = store.user(str(token.get("sub")))
    if user is None or user.disabled:
        raise UserinfoError("invalid_token", 401, "The access token is invalid, expired or revoked.")
    return {"sub": user.id} | claims.for_scopes(user, scopes)
