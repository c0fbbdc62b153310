"""Token exchange (RFC 8693): a Better Auth JWT or session becomes our access token.

A Better Auth app's backend (a client registered for this grant) sends its user's Better Auth
credential as `subject_token` and gets our RFC 9068 access token for the local account linked to
that user (`oauth/better_auth.py`), plus a refresh token when the client is also registered for
refresh_token. This is impersonation in RFC 8693 §1.1's terms: the token is the user's, acting
through the client; delegation (`actor_token`) is not offered.

Checks, in order, all before the Better Auth credential is looked at:
- the client authenticates and is registered for the grant; only confidential clients may be
  (RFC 8693 §2.1 leaves client authentication to the deployment: turning a credential minted for
  another system into ours must name an accountable client, and a public client proves nothing);
- `subject_token` and `subject_token_type` are present (RFC 8693 §2.1), the type one we accept,
  `requested_token_type` absent or an access token, no `actor_token` (§2.1);
- `scope` within the client's registration (RFC 6749 §3.3), `resource` / `audience` one the client
  is registered for (RFC 8707; §2.1 `audience` is read as a resource indicator) or `invalid_target`.

Then the subject token is verified and resolved. A token that is invalid for any reason (expired,
forged, signed by an unknown key, meant for another audience, from another issuer, a signed-out
session) or unacceptable by policy (no linked account, a disabled one) is `invalid_request`, as
RFC 8693 §2.2.2 requires ("The value of the error parameter MUST be the invalid_request error
code"). Better Auth being unreachable is not the client's fault: 503 `temporarily_unavailable`
with `Retry-After` (RFC 8693 §2.2.2 allows other codes "as appropriate").

The response is a normal token response plus `issued_token_type` (RFC 8693 §2.2.1).
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Error, UnauthorizedClientError, grants
from sqlalchemy.ext.asyncio import AsyncSession

from authserver.domain import audit
from authserver.oauth import resource_indicators
from authserver.oauth.better_auth import (
    ACCESS_TOKEN_TYPE,
    JWT_TOKEN_TYPE,
    SUBJECT_TOKEN_TYPES,
    BetterAuthExchange,
    Refused,
)
from authserver.oauth.grants import token_request
from authserver.oauth.issuance import IssueContext
from authserver.oauth.store import bridge
from authserver_resource import BearerError, IssuerUnavailable

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
ISSUED_TOKEN_TYPE = ACCESS_TOKEN_TYPE  # RFC 8693 §3: what we issue is an OAuth access token
MAX_SUBJECT_TOKEN_LENGTH = 16 * 1024
# What the audit row calls each subject token type (a detail key may not say "token").
CREDENTIALS = {JWT_TOKEN_TYPE: "better_auth_jwt", ACCESS_TOKEN_TYPE: "better_auth_session"}


class TemporarilyUnavailableError(OAuth2Error):  # type: ignore[misc]
    """The identity source cannot be reached: 503 and when to retry (RFC 9110 §15.6.4, §10.2.3)."""

    error = "temporarily_unavailable"
    status_code = 503
    retry_after = 5

    def get_headers(self) -> list[tuple[str, str]]:
        return [*super().get_headers(), ("Retry-After", str(self.retry_after))]


def refused(description: str, reason: str) -> InvalidRequestError:
    """RFC 8693 §2.2.2: an invalid or unacceptable subject token is `invalid_request`.
    `reason` is for the operator's debug log only (never contains the token)."""
    error = InvalidRequestError(description)
    error.reason = reason
    return error


class TokenExchangeGrant(grants.BaseGrant, grants.TokenEndpointMixin):  # type: ignore[misc]
    GRANT_TYPE = GRANT_TYPE
    context: IssueContext
    subject_token_type: str

    def validate_token_request(self) -> None:
        client = token_request.authenticate_client(self)
        if client.public:
            raise UnauthorizedClientError("A public client cannot use token exchange.")
        exchange: BetterAuthExchange | None = self.server.better_auth
        if exchange is None:
            raise UnauthorizedClientError("Token exchange is not configured on this server.")
        form = self.request.form
        token, token_type = self._subject_token(form)
        scopes = token_request.within(
            token_request.requested_scopes(self), client.scopes, "the client's registration"
        )
        audience = resource_indicators.for_new_grant(
            self._target(form), client.resources, self.server.store.settings.audience
        )
        # Only now, with a request we would honour, is the Better Auth credential checked.
        try:
            outside = bridge(exchange.verify(token, token_type))
            resolved = bridge(exchange.resolve(outside, client.client_id))
        except IssuerUnavailable as exc:
            error = TemporarilyUnavailableError("The identity source cannot be reached; retry later.")
            error.reason = exc.detail
            raise error from None
        except BearerError as exc:  # InvalidToken and kin: expired, forged, foreign, signed out
            raise refused("The subject token is not valid.", exc.detail or exc.description) from None
        except Refused as exc:
            self._audit_refusal(exchange, exc, client.client_id)
            raise refused("The subject token is not acceptable.", exc.reason) from None
        user = resolved.user
        granted, roles = token_request.delegable_by(self.server.store, user, scopes)
        self.subject_token_type = token_type
        self.context = IssueContext(
            self.GRANT_TYPE, client, granted, audience, user_id=user.id, user=user, roles=roles
        )

    def _subject_token(self, form: dict[str, str]) -> tuple[str, str]:
        """RFC 8693 §2.1's parameters about tokens: what is required, what is refused."""
        token, token_type = form.get("subject_token"), form.get("subject_token_type")
        if not token or not token_type:
            raise InvalidRequestError("subject_token and subject_token_type are required.")
        if token_type not in SUBJECT_TOKEN_TYPES:
            raise InvalidRequestError(
                "subject_token_type must be urn:ietf:params:oauth:token-type:jwt (a Better Auth JWT) "
                "or urn:ietf:params:oauth:token-type:access_token (a Better Auth session token)."
            )
        if len(token) > MAX_SUBJECT_TOKEN_LENGTH:
            raise refused("The subject token is not valid.", "subject_token too long")
        if "actor_token" in form or "actor_token_type" in form:
            raise InvalidRequestError("Delegation (actor_token) is not supported.")
        requested = form.get("requested_token_type")
        if requested is not None and requested != ISSUED_TOKEN_TYPE:
            raise InvalidRequestError(f"Only requested_token_type={ISSUED_TOKEN_TYPE} can be issued.")
        return token, token_type

    @staticmethod
    def _target(form: dict[str, str]) -> str | None:
        """RFC 8693 §2.1 `resource` and `audience` both name where the token will be used; we
        check either against the client's registered resources (RFC 8707). Two different
        targets would need two tokens: `invalid_target`."""
        resource, audience = form.get("resource"), form.get("audience")
        if resource is not None and audience is not None and resource != audience:
            raise resource_indicators.InvalidTargetError("Name one target: resource and audience differ.")
        return resource if resource is not None else audience

    def _audit_refusal(self, exchange: BetterAuthExchange, refusal: Refused, client_id: str) -> None:
        ip = self.server.store.ip

        async def record(session: AsyncSession) -> None:
            await exchange.record_refusal(session, refusal, client_id, ip)

        self.server.store.after_failure(record)

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        store, context = self.server.store, self.context
        body = self.server.issuer.issue(context)
        body["issued_token_type"] = ISSUED_TOKEN_TYPE  # RFC 8693 §2.2.1: REQUIRED
        bridge(
            audit.record(
                store.session,
                "token.exchanged",
                user_id=context.user_id,
                client_id=context.client.client_id,
                ip=store.ip,
                credential=CREDENTIALS[self.subject_token_type],
            )
        )
        return 200, body, self.TOKEN_RESPONSE_HEADER
