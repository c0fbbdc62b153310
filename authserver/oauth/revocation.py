"""Token revocation (RFC 7009). Unknown tokens: 200. A refresh token takes its family with it.

The hint only orders the search; a hint we do not know is ignored (RFC 7009 §2.1, I8).

A token issued to another client is not revoked (I7), and the answer is the same 200 as for an
unknown token. RFC 7009 §2.1 lets the server refuse with an error instead, but that error would
tell any client (a public one needs no secret) whether a string is someone's live token.
"""

from __future__ import annotations

import logging
from typing import Any

from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc7009 import RevocationEndpoint as _Revocation

from authserver.oauth import client_auth
from authserver.oauth.token_lookup import FoundToken, find_token

log = logging.getLogger("authserver.oauth")


class RevocationEndpoint(_Revocation):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = list(client_auth.REVOCATION_METHODS)

    def check_params(self, request: Any, client: Any) -> None:
        if "token" not in request.form:
            raise InvalidRequestError("token is required.")

    def query_token(self, token_string: str, token_type_hint: str | None) -> FoundToken | None:
        return find_token(self.server.store, token_string, token_type_hint, include_inactive=True)

    def authenticate_token(self, request: Any, client: Any) -> FoundToken | None:
        self.check_params(request, client)
        token = self.query_token(request.form["token"], request.form.get("token_type_hint"))
        if token is not None and not token.check_client(client):
            log.debug(
                "/revoke ignored a token issued to another client", extra={"client_id": client.client_id}
            )
            return None
        return token

    def revoke_token(self, token: FoundToken, request: Any) -> None:
        token.revoke(self.server.store)
