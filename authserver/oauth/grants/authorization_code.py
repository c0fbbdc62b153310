"""authorization_code (RFC 6749 §4.1) with PKCE; codes are single-use, hashed, short-lived."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from authlib.oauth2.rfc6749 import InvalidGrantError, grants

from authserver.db.models import AuthorizationCode
from authserver.db.types import utcnow
from authserver.domain.token_families import digest


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]

    def generate_authorization_code(self) -> str:
        return secrets.token_urlsafe(32)  # 256 bits (T11)

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
