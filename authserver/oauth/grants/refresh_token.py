"""refresh_token (RFC 6749 §6) with rotation on every use and reuse detection (RFC 9700 §4.14.2)."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import InvalidGrantError, grants

from authserver.domain.token_families import PresentedRefresh


class RefreshTokenGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> Any:
        presented = self.server.store.find_refresh(refresh_token) if isinstance(refresh_token, str) else None
        if presented is None:
            return None  # invalid_grant
        if presented.family.revoked_at is not None:
            raise InvalidGrantError("The refresh token has been revoked.")
        return _Refresh(presented)

    def authenticate_user(self, refresh_token: Any) -> Any:
        # Client and scope are checked; rotate now with the one conditional UPDATE.
        store = self.server.store
        outcome = store.consume_refresh(refresh_token.presented)
        if not outcome.ok:
            raise InvalidGrantError(
                "The refresh token was already used; its family has been revoked."
                if outcome.reuse
                else "The refresh token has expired or been revoked."
            )
        family = refresh_token.presented.family
        self.request.family_id = family.id
        user = store.user(family.user_id) if family.user_id else None
        if user is None or user.disabled:
            store.revoke_family(family, "user_disabled")
            raise InvalidGrantError("The refresh token has been revoked.")
        return user

    def revoke_old_credential(self, refresh_token: Any) -> None:
        """Already marked used by the rotation in `authenticate_user`."""


class _Refresh:
    def __init__(self, presented: PresentedRefresh) -> None:
        self.presented = presented

    def check_client(self, client: Any) -> bool:
        return bool(self.presented.family.client_id == client.client_id)  # R1

    def get_scope(self) -> str:
        return self.presented.token.scope
