"""authorization_code (RFC 6749 §4.1) with PKCE; codes are single-use, hashed, short-lived.

`issue_code` is the authorization endpoint's side (`oauth/authorize.py` calls it once the user is
signed in and consented). The grant class is the token side: a code is redeemed once, by the
client it was issued to, with the same redirect_uri and the PKCE verifier (T5, T6, P4). A code
presented again, by any client, revokes everything the first redemption issued (RFC 6749 §4.1.2,
T7). The tokens cover exactly what the user authorized: the code's scope (narrowed by role) and
its resource (RFC 8707 §2.2).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidRequestError, grants
from sqlalchemy.ext.asyncio import AsyncSession

from authserver.db.models import AuthorizationCode
from authserver.db.types import utcnow
from authserver.domain import identifiers, scope_policy
from authserver.domain.token_families import digest
from authserver.oauth import pkce, resource_indicators
from authserver.oauth.grants import token_request
from authserver.oauth.issuance import IssueContext


async def issue_code(
    session: AsyncSession,
    *,
    ttl: int,
    client_id: str,
    user_id: str,
    redirect_uri: str,
    scope: str,
    code_challenge: str,
    nonce: str | None,
    resource: str | None,
    auth_time: datetime,
    sid: str | None,
) -> str:
    """Store a new code (its SHA-256 only, architecture §2) and return the value for the redirect.

    `auth_time` is when the user really signed in (OIDC Core §2), not when the code was made;
    `sid` is the browser session that signed them in (the ID token's `sid`).
    """
    code = secrets.token_urlsafe(32)  # 256 bits from the CSPRNG (T11)
    now = utcnow()
    session.add(
        AuthorizationCode(
            code_sha256=digest(code),
            client_id=client_id,
            user_id=user_id,
            redirect_uri=redirect_uri,
            scope=scope,
            nonce=nonce,
            code_challenge=code_challenge,
            code_challenge_method="S256",
            resource=resource,
            auth_time=auth_time,
            sid=sid,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl),
        )
    )
    await session.flush()
    return code


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    code: AuthorizationCode
    audience: str

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
            sid=row.sid,
            roles=roles,
        )
        return 200, self.server.issuer.issue(context), self.TOKEN_RESPONSE_HEADER
