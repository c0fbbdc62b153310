"""refresh_token (RFC 6749 §6) with rotation on every use and reuse detection (RFC 9700 §4.14.2).

A refresh stays inside its family's grant: an omitted scope means the scope originally granted
(even an empty one), a narrower one is allowed, a wider one is `invalid_scope` (R3); a `resource`
other than the family's audience is `invalid_target` (RFC 8707 §2.2).
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidRequestError, grants

from authserver.domain import identifiers, scope_policy
from authserver.domain.refresh_tokens import PresentedRefresh
from authserver.domain.token_families import FamilyRecord
from authserver.oauth import resource_indicators
from authserver.oauth.client_model import ClientModel
from authserver.oauth.grants import token_request
from authserver.oauth.issuance import IssueContext
from authserver.oauth.store import OAuthStore


class RefreshTokenGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    presented: PresentedRefresh
    scopes: list[str]
    audience: str
    # The next refresh token, already stored, when `_rotate_at_once` rotated the presented one.
    next_refresh: str | None = None

    def validate_token_request(self) -> None:
        store = self.server.store
        client = token_request.authenticate_client(self, check_grant=False)  # reuse first, as for codes
        value = self.request.form.get("refresh_token")
        if not value:
            raise InvalidRequestError("refresh_token is required.")
        if not identifiers.is_safe_token(value, 256):
            presented = None
        elif (rotated := self._rotate_at_once(client, value)) is not None:
            presented, self.next_refresh = rotated
        else:
            presented = store.find_refresh(value)
        foreign = presented is not None and presented.family.client_id != client.client_id
        if foreign and presented is not None and presented.token.used_at is not None:
            # A used token in another client's hands was stolen: reuse, whoever presents it.
            store.revoke_family_on_failure(presented.family, "refresh_reuse")
            raise InvalidGrantError("The refresh token is not valid for this client.")
        token_request.require_grant(self, client)  # T9, after the reuse check
        if presented is None or foreign:  # R1
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
        store, presented = self.server.store, self.presented
        family = self.rotate()
        if presented.user_id is None or presented.user_disabled:
            store.revoke_family_on_failure(family, "user_disabled")
            raise InvalidGrantError("The refresh token has been revoked.")
        scopes, roles = token_request.delegable_by(store, presented.user_id, self.scopes, presented.roles)
        context = IssueContext(
            self.GRANT_TYPE,
            self.request.client,
            scopes,
            self.audience,
            user_id=presented.user_id,
            user=presented.user,
            auth_time=family.auth_time,
            family=family,
            rotated_refresh_sha256=self.presented.token.token_sha256,
            next_refresh_token=self.next_refresh,
            roles=roles,
        )
        return 200, self.server.issuer.issue(context), self.TOKEN_RESPONSE_HEADER

    def _rotate_at_once(self, client: ClientModel, value: str) -> tuple[PresentedRefresh, str] | None:
        """The usual refresh, rotated and committed by one statement before the checks below
        (PostgreSQL; `domain/refresh_tokens.py`), so only where none of them can fail: the
        client may use this grant and names neither a scope nor a resource (which are judged
        against the family). The statement checks the rest itself (the caller's own live,
        unused token; an enabled user) and reads everything issuing needs, so no query follows
        the commit. Anything else takes the transactional path: `find`, the checks, `rotate`."""
        form = self.request.form
        if not client.check_grant_type(self.GRANT_TYPE) or "scope" in form or "resource" in form:
            return None
        store: OAuthStore = self.server.store
        return store.rotate_refresh_at_once(value, client.client_id)

    def rotate(self) -> FamilyRecord:
        """Mark the presented token used, by the one conditional UPDATE (architecture §4), unless
        the lookup already did."""
        if self.next_refresh is not None:
            return self.presented.family
        outcome = self.server.store.rotate_refresh(self.presented)
        if not outcome.ok:
            raise InvalidGrantError(
                "The refresh token was already used; its family has been revoked."
                if outcome.reuse
                else "The refresh token has expired or been revoked."
            )
        return self.presented.family
