"""Our `AuthorizationServer`: Authlib's registry with our storage, token format and scope rules.

One instance per request (a handful of objects): the request's store travels with it instead of
through globals, and nothing is shared between concurrent requests.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import InvalidRequestError, InvalidScopeError, OAuth2Error
from authlib.oauth2.rfc6749.util import extract_basic_authorization

from authserver.domain import scope_policy
from authserver.oauth import client_assertion, id_tokens
from authserver.oauth.access_tokens import sign_access_token
from authserver.oauth.grants.authorization_code import AuthorizationCodeGrant
from authserver.oauth.grants.client_credentials import ClientCredentialsGrant
from authserver.oauth.grants.password import PasswordGrant
from authserver.oauth.grants.refresh_token import RefreshTokenGrant
from authserver.oauth.introspection import IntrospectionEndpoint
from authserver.oauth.pkce import S256CodeChallenge
from authserver.oauth.requests import ParsedRequest
from authserver.oauth.revocation import RevocationEndpoint
from authserver.oauth.store import OAuthStore

Response = tuple[int, Any, list[tuple[str, str]]]
USER_GRANTS = ("authorization_code", "password", "refresh_token")


class InvalidTargetError(OAuth2Error):  # type: ignore[misc]
    """RFC 8707 §2: the requested resource is not one this client may get tokens for."""

    error = "invalid_target"


class AuthServer(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, store: OAuthStore, request: ParsedRequest) -> None:
        super().__init__()
        self.store = store
        self.current = request
        self._pending: dict[str, Any] = {}
        self.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True)])
        self.register_grant(ClientCredentialsGrant)
        self.register_grant(PasswordGrant)
        self.register_grant(RefreshTokenGrant)
        self.register_endpoint(IntrospectionEndpoint)
        self.register_endpoint(RevocationEndpoint)
        self.register_client_auth_method(client_assertion.METHOD, client_assertion.PrivateKeyJwt(store))

    # Framework hooks: the HTTP glue converts the tuple into a response.
    def create_oauth2_request(self, request: Any) -> Any:
        return request

    def handle_response(self, status: int, body: Any, headers: Any) -> Response:
        return status, body, list(headers)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass

    def query_client(self, client_id: str) -> Any:
        return self.store.client(client_id) if client_id else None

    def validate_requested_scope(self, scope: str | None) -> None:
        """T10: a scope the client is not registered for is `invalid_scope`, not silently dropped."""
        client = self.current.client
        requested = scope_policy.split(scope)
        if client is not None and scope_policy.beyond_registration(requested, client.scopes):
            raise InvalidScopeError("The client is not registered for a requested scope.")

    # Tokens -----------------------------------------------------------------------------------

    def _audience(self, client: Any) -> str:
        """RFC 8707: the `resource` asked for, if this client may have it, else the default."""
        settings = self.store.settings
        resource = self.current.payload.data.get("resource")
        if resource is None and self.current.authorization_code is not None:
            resource = self.current.authorization_code.row.resource
        if resource is None:
            return settings.audience
        parts = urlsplit(resource)
        if not parts.scheme or parts.fragment or resource not in client.row.resources:
            raise InvalidTargetError("The requested resource is not allowed for this client.")
        return str(resource)

    def generate_token(
        self,
        grant_type: str,
        client: Any,
        user: Any = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        settings, store = self.store.settings, self.store
        scopes = scope_policy.split(scope) if scope else list(client.scopes)
        roles: list[str] = []
        family = store.family(self.current.family_id) if grant_type == "refresh_token" else None
        if user is not None and (settings.role_scopes or scope_policy.ROLES_SCOPE in scopes):
            roles = store.roles(user.id)  # a query only when roles can change the answer
            scopes = scope_policy.delegable(scopes, roles, settings.role_scopes)
        granted = scope_policy.join(scopes)
        audience = family.audience if family is not None else self._audience(client)

        auth_time: int | None = None
        code = self.current.authorization_code
        if code is not None:
            auth_time = code.get_auth_time()
        elif family is not None and family.auth_time is not None:
            auth_time = int(family.auth_time.timestamp())

        extra = {"roles": roles} if user is not None and scope_policy.ROLES_SCOPE in scopes else None
        subject = user.id if user is not None else client.client_id
        signed = sign_access_token(
            store.keyring,
            issuer=settings.issuer,
            subject=subject,
            audience=audience,
            client_id=client.client_id,
            scope=granted,
            ttl=settings.access_token_ttl,
            auth_time=auth_time,
            extra=extra,
        )
        token: dict[str, Any] = {
            "access_token": signed.value,
            "token_type": "Bearer",
            "expires_in": settings.access_token_ttl,
            "scope": granted,
        }
        # Refresh tokens only for clients allowed the grant; for OpenID requests only when
        # offline_access was granted in a code flow (OIDC Core §11, R6), or to continue a family.
        offline = "offline_access" in scopes and grant_type == "authorization_code"
        wants_refresh = (
            include_refresh_token
            and user is not None
            and client.check_grant_type("refresh_token")
            and ("openid" not in scopes or offline or family is not None)
        )
        # ID tokens in the code flow, and on refresh of an OpenID family with the original
        # auth_time and no nonce (OIDC Core §12.2, R7).
        if user is not None and "openid" in scopes and (code is not None or family is not None):
            token["id_token"] = id_tokens.sign_id_token(
                store.keyring,
                issuer=settings.issuer,
                user=user,
                client_id=client.client_id,
                ttl=settings.access_token_ttl,
                auth_time=auth_time,
                nonce=code.get_nonce() if code is not None else None,
                access_token=signed.value,
                scopes=scopes,
                sid=code.row.sid if code is not None else None,
            )
        self._pending = {
            "signed": signed,
            "family": family,
            "wants_refresh": wants_refresh,
            "audience": audience,
            "scope": granted,
            "grant_type": grant_type,
            "auth_time": auth_time,
        }
        return token

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        pending, store = self._pending, self.store
        client, user = request.client, request.user
        family = pending["family"]
        if family is None and user is not None:
            auth_time = pending["auth_time"]
            family = store.start_family(
                family_id=request.family_id,
                client_id=client.client_id,
                user_id=user.id,
                scope=pending["scope"],
                audience=pending["audience"],
                grant_type=pending["grant_type"],
                auth_time=datetime.fromtimestamp(auth_time, UTC) if auth_time else None,
            )
        if pending["wants_refresh"] and family is not None:
            parent = request.refresh_token.presented.token.token_sha256 if request.refresh_token else None
            token["refresh_token"] = store.add_refresh_token(family, parent)
        signed = pending["signed"]
        store.record_access_token(
            jti=signed.jti,
            client_id=client.client_id,
            user_id=user.id if user is not None else None,
            family_id=family.id if family is not None else None,
            expires_at=datetime.fromtimestamp(signed.expires_at, UTC),
        )


def check_single_client_auth(request: ParsedRequest) -> None:
    """T4 (RFC 6749 §2.3): a client uses one authentication method per request."""
    authorization = request.headers.get("authorization", "")
    if not authorization.lower().startswith("basic "):
        return
    if "client_secret" in request.form or "client_assertion" in request.form:
        raise InvalidRequestError("Use one client authentication method, not several.")
    basic_id, _secret = extract_basic_authorization({"Authorization": authorization})
    body_id = request.form.get("client_id")
    if body_id is not None and body_id != basic_id:
        raise InvalidRequestError("client_id in the body does not match the authenticated client.")
