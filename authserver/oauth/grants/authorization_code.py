"""authorization_code (RFC 6749 §4.1) with PKCE; codes are single-use, hashed, short-lived.

The token side: a code is redeemed once, by the client it was issued to, with the same
redirect_uri and the PKCE verifier (T5, T6, P4). A code presented again, by any client, revokes
everything the first redemption issued (RFC 6749 §4.1.2, T7). The tokens cover exactly what the
user authorized: the code's scope (narrowed by role) and its resource (RFC 8707 §2.2).
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidRequestError, InvalidScopeError, grants

from authserver.db.models import AuthorizationCode
from authserver.db.types import utcnow
from authserver.domain import identifiers, scope_policy
from authserver.domain.token_families import digest
from authserver.oauth import pkce, resource_indicators
from authserver.oauth.grants import token_request
from authserver.oauth.issuance import IssueContext


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    code: AuthorizationCode
    audience: str

    # The authorization endpoint's half ----------------------------------------------------------

    def generate_authorization_code(self) -> str:
        return secrets.token_urlsafe(32)  # 256 bits (T11)

    def validate_requested_scope(self) -> None:
        """T10 at /authorize: a scope the client is not registered for is `invalid_scope`."""
        requested = scope_policy.split(self.request.payload.scope)
        if scope_policy.beyond_registration(requested, self.request.client.scopes):
            raise InvalidScopeError("The client is not registered for a requested scope.")

    def save_authorization_code(self, code: str, request: Any) -> None:
        store = self.server.store
        data = request.payload.data
        now = utcnow()
        store.save_code(
            AuthorizationCode(
                code_sha256=digest(code),  # only the hash is stored (architecture §2)
                client_id=request.client.client_id,
                user_id=request.user.id,
                redirect_uri=request.payload.redirect_uri,
                scope=request.scope or "",
                nonce=data.get("nonce"),
                code_challenge=data.get("code_challenge"),
                code_challenge_method=data.get("code_challenge_method"),
                resource=data.get("resource"),
                auth_time=getattr(request, "auth_time", None) or now,
                created_at=now,
                expires_at=now + timedelta(seconds=store.settings.auth_code_ttl),
            )
        )

    # The token endpoint's half ------------------------------------------------------------------

    def validate_token_request(self) -> None:
        # The code is looked at before the client's grants: a used code presented by any
        # authenticated client, even one not registered for this grant, revokes (T7).
        client = token_request.authenticate_client(self, check_grant=False)
        form = self.request.form
        code = form.get("code")
        if not code:
            raise InvalidRequestError("code is required.")
        row = self._find_code(code, client)
        if form.get("redirect_uri") != row.redirect_uri:  # T6: present and identical
            raise InvalidGrantError("redirect_uri does not match the authorization request.")
        pkce.verify_code_verifier(row.code_challenge, form.get("code_verifier"))
        authorized = resource_indicators.for_new_grant(
            row.resource, client.resources, self.server.store.settings.audience
        )
        self.audience = resource_indicators.within_grant(form.get("resource"), authorized)
        self.code = row

    def _find_code(self, code: str, client: Any) -> AuthorizationCode:
        store = self.server.store
        row: AuthorizationCode | None = (
            store.find_code(code) if identifiers.is_safe_token(code, 256) else None
        )
        if row is not None and row.used_at is not None:
            # Second use, by this client or any other (T7): revoke what the first use issued.
            store.consume_code(row)
            raise InvalidGrantError("The code has already been used.")
        token_request.require_grant(self, client)  # T9, after the reuse check
        if row is None or row.client_id != client.client_id or row.expires_at <= utcnow():  # T5, T8
            raise InvalidGrantError("The code is not valid.")
        return row

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        store, row = self.server.store, self.code
        consumed = store.consume_code(row)  # the one conditional UPDATE: one winner (T8)
        if not consumed.ok:
            raise InvalidGrantError("The code has already been used.")
        user = store.user(row.user_id)
        if user is None or user.disabled:
            raise InvalidGrantError("The code is not valid.")
        scopes, roles = token_request.delegable_by(store, user, scope_policy.split(row.scope))
        context = IssueContext(
            self.GRANT_TYPE,
            self.request.client,
            scopes,
            self.audience,
            user_id=user.id,
            user=user,
            auth_time=row.auth_time,
            new_family_id=consumed.family_id,
            nonce=row.nonce,
            roles=roles,
        )
        return 200, self.server.issuer.issue(context), self.TOKEN_RESPONSE_HEADER
