"""client_credentials (RFC 6749 §4.4): a confidential client gets a token for itself."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import UnauthorizedClientError, grants

from authserver.oauth import resource_indicators
from authserver.oauth.grants import token_request
from authserver.oauth.issuance import IssueContext


class ClientCredentialsGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
    context: IssueContext

    def validate_token_request(self) -> None:
        client = token_request.authenticate_client(self)
        if client.public:  # RFC 6749 §4.4: only confidential clients
            raise UnauthorizedClientError("A public client cannot use client_credentials.")
        scopes = token_request.within(
            token_request.requested_scopes(self), client.scopes, "the client's registration"
        )
        audience = resource_indicators.for_new_grant(
            self.request.form.get("resource"), client.resources, self.server.store.settings.audience
        )
        self.context = IssueContext(self.GRANT_TYPE, client, scopes, audience)

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        return 200, self.server.issuer.issue(self.context), self.TOKEN_RESPONSE_HEADER
