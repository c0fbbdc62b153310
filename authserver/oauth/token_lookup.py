"""Finding a presented token (access JWT or opaque refresh token) for introspection/revocation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from authserver.db.models import TokenFamily
from authserver.domain import identifiers
from authserver.oauth.access_tokens import verify_access_token
from authserver.oauth.store import OAuthStore


@dataclass
class FoundToken:
    kind: str  # access_token | refresh_token
    client_id: str
    active: bool
    claims: dict[str, Any] = field(default_factory=dict)
    jti: str | None = None
    family: TokenFamily | None = None

    def check_client(self, client: Any) -> bool:
        return bool(self.client_id == client.client_id)

    def is_expired(self) -> bool:
        return not self.active

    def is_revoked(self) -> bool:
        return not self.active

    def introspection(self) -> dict[str, Any]:
        if self.kind == "access_token":
            keep = (
                "scope",
                "client_id",
                "sub",
                "aud",
                "iss",
                "exp",
                "iat",
                "nbf",
                "jti",
                "auth_time",
                "roles",
            )
            body = {k: self.claims[k] for k in keep if k in self.claims}
            return {"active": True, "token_type": "Bearer"} | body
        assert self.family is not None
        body = {
            "active": True,
            "token_type": "refresh_token",
            "client_id": self.family.client_id,
            "scope": self.family.scope,
            "exp": int(self.family.expires_at.timestamp()),
            "iat": int(self.family.created_at.timestamp()),
        }
        if self.family.user_id:
            body["sub"] = self.family.user_id
        return body

    def revoke(self, store: OAuthStore) -> None:
        # A refresh token takes its whole family, access tokens included (I8); an access token
        # only itself.
        if self.kind == "refresh_token" and self.family is not None:
            store.revoke_family(self.family, "revoked")
        elif self.jti is not None:
            store.revoke_access_token(self.claims, self.client_id)


def _access(store: OAuthStore, value: str, include_inactive: bool) -> FoundToken | None:
    claims = verify_access_token(store.keyring, value, issuer=store.settings.issuer)
    if claims is None:
        return None  # malformed, foreign, expired or badly signed: "active": false (I2)
    client_id = claims.get("client_id")
    if not isinstance(client_id, str):
        return None
    active = store.access_token_is_live(claims)
    if not active and not include_inactive:
        return None
    return FoundToken("access_token", client_id, active, claims=claims, jti=claims["jti"], family=None)


def _refresh(store: OAuthStore, value: str, include_inactive: bool) -> FoundToken | None:
    if len(value) > 256:
        return None
    presented = store.find_refresh(value)
    if presented is None:
        return None
    active = presented.live
    if not active and not include_inactive:
        return None
    return FoundToken("refresh_token", presented.family.client_id, active, family=presented.family)


def find_token(
    store: OAuthStore, value: str, hint: str | None, *, include_inactive: bool = False
) -> FoundToken | None:
    if not identifiers.is_safe_token(value, 8192):
        return None  # empty, over-long, or holding NUL/controls: no such token, and no query
    order = (_refresh, _access) if hint == "refresh_token" else (_access, _refresh)
    for lookup in order:
        found = lookup(store, value, include_inactive)
        if found is not None:
            return found
    return None
