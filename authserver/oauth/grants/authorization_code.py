"""authorization_code (RFC 6749 §4.1) with PKCE; codes are single-use, hashed, short-lived.

`issue_code` is the authorization endpoint's side (`oauth/authorize.py` calls it once the user is
signed in and consented); the grant class is the token endpoint's side.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from authlib.oauth2.rfc6749 import InvalidGrantError, grants
from sqlalchemy.ext.asyncio import AsyncSession

from authserver.db.models import AuthorizationCode
from authserver.db.types import utcnow
from authserver.domain.token_families import digest


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

    `auth_time` is when the user really signed in (OIDC Core §2), not when the code was made.
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
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]

    def query_authorization_code(self, code: str, client: Any) -> Any:
        row = self.server.store.find_code(code) if isinstance(code, str) else None
        if row is None or row.client_id != client.client_id:
            return None  # unknown, or issued to another client (T5): invalid_grant
        if row.used_at is not None:
            # Second use (T7): revoke what the first use issued, then refuse.
            self.server.store.consume_code(row)
            raise InvalidGrantError("The code has already been used.")
        if row.expires_at <= utcnow():
            raise InvalidGrantError("The code has expired.")
        return _Code(row)

    def authenticate_user(self, authorization_code: Any) -> Any:
        # All checks passed (client, redirect_uri, PKCE): now the one conditional UPDATE (T8).
        consumed = self.server.store.consume_code(authorization_code.row)
        if not consumed.ok:
            raise InvalidGrantError("The code has already been used.")
        self.request.family_id = consumed.family_id
        user = self.server.store.user(authorization_code.row.user_id)
        return None if user is None or user.disabled else user

    def delete_authorization_code(self, authorization_code: Any) -> None:
        """Kept (marked used) so a second use is recognised as reuse; pruned after expiry."""


class _Code:
    def __init__(self, row: AuthorizationCode) -> None:
        self.row = row
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope

    def get_nonce(self) -> str | None:
        return self.row.nonce

    def get_auth_time(self) -> int:
        return int(self.row.auth_time.timestamp())
