"""Token revocation (RFC 7009). Unknown tokens: 200. A refresh token takes its family with it.

The hint only orders the search; a hint we do not know is ignored (RFC 7009 §2.1, I8).
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc7009 import RevocationEndpoint as _Revocation

from authserver.oauth import client_auth
from authserver.oauth.token_lookup import FoundToken, find_token


class RevocationEndpoint(_Revocation):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = list(client_auth.REVOCATION_METHODS)

    def check_params(self, request: Any, client: Any) -> None:
        if "token" not in request.form:
            raise InvalidRequestError("token is required.")

    def query_token(self, token_string: str, token_type_hint: str | None) -> FoundToken | None:
        return find_token(self.server.store, token_string, token_type_hint, include_inactive=True)

    def revoke_token(self, token: FoundToken, request: Any) -> None:
        token.revoke(self.server.store)
