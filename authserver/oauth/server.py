"""Our `AuthorizationServer`: Authlib's registry of grants and endpoints, with our storage, our
client-authentication rule and our token issuer.

One instance per request (a handful of objects): the request's store travels with it instead of
through globals, and nothing is shared between concurrent requests.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import OAuth2Error

from authserver.oauth import client_assertion, client_auth
from authserver.oauth.better_auth import BetterAuthExchange
from authserver.oauth.grants.authorization_code import AuthorizationCodeGrant
from authserver.oauth.grants.client_credentials import ClientCredentialsGrant
from authserver.oauth.grants.password import PasswordGrant
from authserver.oauth.grants.refresh_token import RefreshTokenGrant
from authserver.oauth.grants.token_exchange import TokenExchangeGrant
from authserver.oauth.introspection import IntrospectionEndpoint
from authserver.oauth.issuance import TokenIssuer
from authserver.oauth.pkce import S256CodeChallenge
from authserver.oauth.revocation import RevocationEndpoint
from authserver.oauth.store import OAuthStore

Response = tuple[int, Any, list[tuple[str, str]]]


class AuthServer(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, store: OAuthStore, better_auth: BetterAuthExchange | None = None) -> None:
        super().__init__()
        self.store = store
        self.better_auth = better_auth  # the worker's, when AUTHSERVER_BETTER_AUTH_URL is set
        self.last_error: OAuth2Error | None = None  # for the operator's debug log
        self.issuer = TokenIssuer(store)
        self.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True)])
        self.register_grant(ClientCredentialsGrant)
        self.register_grant(PasswordGrant)
        self.register_grant(RefreshTokenGrant)
        if better_auth is not None:  # unconfigured, the grant type is unsupported_grant_type
            self.register_grant(TokenExchangeGrant)
        self.register_endpoint(IntrospectionEndpoint)
        self.register_endpoint(RevocationEndpoint)

    # Framework hooks: the HTTP glue converts the tuple into a response.
    def create_oauth2_request(self, request: Any) -> Any:
        return request

    def handle_response(self, status: int, body: Any, headers: Any) -> Response:
        return status, body, list(headers)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass

    def handle_error_response(self, request: Any, error: OAuth2Error) -> Response:
        self.last_error = error
        return super().handle_error_response(request, error)  # type: ignore[no-any-return]

    def query_client(self, client_id: str) -> Any:
        return self.store.client(client_id) if client_id else None

    def authenticate_client(self, request: Any, methods: list[str], endpoint: str = "token") -> Any:
        """Every endpoint authenticates clients by the one rule in `oauth/client_auth.py`."""
        client, method = client_auth.authenticate(
            request.headers, request.form, tuple(methods), self.store.client, self._verify_assertion
        )
        request.auth_method = method
        return client

    def _verify_assertion(self, assertion: str) -> tuple[str, Any]:
        return client_assertion.verify(
            assertion,
            issuer=self.store.settings.issuer,
            load_client=self.store.client,
            record_jti=self.store.record_assertion_jti,
        )
