"""A registered client as Authlib's `ClientMixin` sees it, and as `oauth/client_auth.py` checks it."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import ClientMixin

from authserver.db.types import utcnow
from authserver.domain import scope_policy
from authserver.domain.clients import ClientEntry, secret_matches


class ClientModel(ClientMixin):  # type: ignore[misc]
    """A view of a (possibly cached) `ClientEntry`; it never writes to the row."""

    def __init__(self, entry: ClientEntry) -> None:
        self.row = entry.client
        self.client_id = entry.client.client_id
        self._entry = entry

    @property
    def public(self) -> bool:
        return self.row.public

    @property
    def scopes(self) -> list[str]:
        return list(self.row.scopes)

    @property
    def resources(self) -> list[str]:
        return list(self.row.resources or [])

    @property
    def auth_method(self) -> str:
        return self.row.token_endpoint_auth_method

    @property
    def jwks(self) -> dict[str, Any] | None:
        return self.row.jwks

    @property
    def introspection_allowed(self) -> bool:
        return bool(self.row.introspection_allowed)

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None  # the redirect_uri parameter is always required (RFC 9700 §2.1)

    def get_allowed_scope(self, scope: str | None) -> str:
        # No scope asked: the client's registered scopes (RFC 6749 §3.3 default). Asking for more
        # than registered was already refused as invalid_scope by the grant.
        return scope_policy.join(scope_policy.split(scope)) if scope else scope_policy.join(self.scopes)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.row.redirect_uris  # exact string match (A1)

    def check_client_secret(self, client_secret: str) -> bool:
        # Expiry is checked now, not when the entry was cached (secret rotation overlap).
        return secret_matches(client_secret, self._entry.live_secret_hashes(utcnow()))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        """Authlib's hook; `oauth/client_auth.py` already enforced the registered method."""
        return method == self.auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.row.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.row.grant_types
