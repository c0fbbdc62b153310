"""password (RFC 6749 §4.3), for first-party clients explicitly registered for it.

RFC 9700 §2.4 says it MUST NOT be used; it exists for first-party apps migrating from a login form.
Authlib answers bad credentials with `invalid_request`; RFC 6749 §5.2 says `invalid_grant`.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import InvalidGrantError, grants


class PasswordGrant(grants.ResourceOwnerPasswordCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]

    def authenticate_token_endpoint_client(self) -> Any:
        # Authlib sets request.client only after authenticate_user; the audit event wants it first.
        client = super().authenticate_token_endpoint_client()
        self.request.client = client
        return client

    def authenticate_user(self, username: str, password: str) -> Any:
        user = self.server.store.authenticate_password(username, password, self.request.client.client_id)
        if user is None:
            raise InvalidGrantError("Invalid username or password.")  # same for every failure (B1)
        return user
