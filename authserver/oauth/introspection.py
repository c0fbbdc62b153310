"""Token introspection (RFC 7662) for resource servers registered as confidential clients."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _Introspection

from authserver.oauth.token_lookup import FoundToken, find_token


class IntrospectionEndpoint(_Introspection):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]  # I1

    def query_token(self, token_string: str, token_type_hint: str | None) -> FoundToken | None:
        return find_token(self.server.store, token_string, token_type_hint)

    def check_permission(self, token: FoundToken, client: Any, request: Any) -> bool:
        return True  # any authenticated confidential client: resource servers are clients

    def introspect_token(self, token: FoundToken) -> dict[str, Any]:
        return token.introspection()
