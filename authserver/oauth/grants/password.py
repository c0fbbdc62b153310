"""password (RFC 6749 §4.3), for first-party clients explicitly registered for it.

RFC 9700 §2.4 says it MUST NOT be used; it exists for first-party apps migrating from a login form,
and only confidential clients may use it (a public client's "first party" cannot be proved).
Bad credentials are `invalid_grant` (RFC 6749 §5.2), the same for every failure (B1).
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidRequestError, UnauthorizedClientError, grants

from authserver.oauth import resource_indicators
from authserver.oauth.grants import token_request
from authserver.oauth.issuance import IssueContext, auth_time_now


class PasswordGrant(grants.ResourceOwnerPasswordCredentialsGrant):  # type: ignore[misc]
    context: IssueContext

    def validate_token_request(self) -> None:
        store = self.server.store
        client = token_request.authenticate_client(self)
        if client.public:
            raise UnauthorizedClientError("A public client cannot use the password grant.")
        username, password = self.request.form.get("username"), self.request.form.get("password")
        if not username or password is None:
            raise InvalidRequestError("username and password are required.")
        # Cheap checks before argon2 runs.
        requested = token_request.within(
            token_request.requested_scopes(self), client.scopes, "the client's registration"
        )
        audience = resource_indicators.for_new_grant(
            self.request.form.get("resource"), client.resources, store.settings.audience
        )
        user = store.authenticate_password(username, password, client.client_id)
        if user is None:
            if store.unverified_signin:  # only said to someone who gave the right password
                raise InvalidGrantError("Confirm your email address before signing in.")
            raise InvalidGrantError("Invalid username or password.")
        scopes, roles = token_request.delegable_by(store, user, requested)
        self.context = IssueContext(
            self.GRANT_TYPE,
            client,
            scopes,
            audience,
            user_id=user.id,
            user=user,
            auth_time=auth_time_now(),
            roles=roles,
        )

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        return 200, self.server.issuer.issue(self.context), self.TOKEN_RESPONSE_HEADER
