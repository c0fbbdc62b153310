"""refresh_token (RFC 6749 §6) with rotation on every use and reuse detection (RFC 9700 §4.14.2).

A refresh stays inside its family's grant: an omitted scope means the scope originally granted
(even an empty one), a narrower one is allowed, a wider one is `invalid_scope` (R3); a `resource`
other than the family's audience is `invalid_target` (RFC 8707 §2.2).
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidRequestError, grants

from authserver.domain import identifiers, scope_policy
from authserver.domain.token_families import PresentedRefresh
from authserver.oauth import resource_indicators
from authserver.oauth.grants import token_request
from authserver.oauth.issuance import IssueContext


class RefreshTokenGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    presented: PresentedRefresh
    scopes: list[str]
    audience: str

    def validate_token_request(self) -> None:
        store = self.server.store
        client = token_request.authenticate_client(self)
        value = self.request.form.get("refresh_token")
        if not value:
            raise InvalidRequestError("refresh_token is required.")
        presented = store.find_refresh(value) if identifiers.is_safe_token(value, 256) else None
        if presented is None or presented.family.client_id != client.client_id:  # R1
            raise InvalidGrantError("The refresh token is not valid for this client.")
        if presented.family.revoked_at is not None:
            raise InvalidGrantError("The refresh token has been revoked.")
        family = presented.family
        granted = scope_policy.split(family.scope)
        requested = token_request.within(
            token_request.requested_scopes(self), granted, "the scope originally granted"
        )
        # A client whose registration was narrowed since keeps only what it may still have.
        self.scopes = [s for s in requested if s in client.scopes]
        self.audience = resource_indicators.within_grant(self.request.form.get("resource"), family.audience)
        self.presented = presented

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        store = self.server.store
        family = self.rotate()
        user = store.user(family.user_id) if family.user_id else None
        if user is None or user.disabled:
            store.revoke_family_on_failure(family, "user_disabled")
            raise InvalidGrantError("The refresh token has been revoked.")
        scopes, roles = token_request.delegable_by(store, user, self.scopes)
        context = IssueContext(
            self.GRANT_TYPE,
            self.request.client,
            scopes,
            self.audience,
            user=user,
            auth_time=family.auth_time,
            family=family,
            rotated_refresh_sha256=self.presented.token.token_sha256,
            roles=roles,
        )
        return 200, self.server.issuer.issue(context), self.TOKEN_RESPONSE_HEADER

    def rotate(self) -> Any:
        """Mark the presented token used, by the one conditional UPDATE (architecture §4)."""
        outcome = self.server.store.rotate_refresh(self.presented)
        if not outcome.ok:
            raise InvalidGrantError(
                "The refresh token was already used; its family has been revoked."
                if outcome.reuse
                else "The refresh token has expired or been revoked."
            )
        return self.presented.family
