"""Token introspection (RFC 7662) for resource servers an operator designated.

RFC 7662 §4: introspection tells the caller who a token belongs to, so only clients registered
with `introspection_allowed` may call it (I9), and a refresh token is reported active only to the
client it was issued to; any other answer is exactly `{"active": false}` (I2). A `token_type_hint`
we do not know is ignored (RFC 7662 §2.1), never an error.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import InvalidRequestError, UnauthorizedClientError
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _Introspection

from authserver.oauth import client_auth
from authserver.oauth.token_lookup import FoundToken, find_token


class NotAllowedToIntrospect(UnauthorizedClientError):  # type: ignore[misc]
    status_code = 403


class IntrospectionEndpoint(_Introspection):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = list(client_auth.INTROSPECTION_METHODS)  # I1

    def authenticate_endpoint_client(self, request: Any) -> Any:
        client = super().authenticate_endpoint_client(request)
        if not client.introspection_allowed:
            raise NotAllowedToIntrospect("This client is not allowed to introspect tokens.")
        return client

    def check_params(self, request: Any, client: Any) -> None:
        if "token" not in request.form:
            raise InvalidRequestError("token is required.")

    def query_token(self, token_string: str, token_type_hint: str | None) -> FoundToken | None:
        return find_token(self.server.store, token_string, token_type_hint)

    def check_permission(self, token: FoundToken, client: Any, request: Any) -> bool:
        if token.kind == "refresh_token":
            return token.check_client(client)
        return True

    def introspect_token(self, token: FoundToken) -> dict[str, Any]:
        return token.introspection()
