"""Turning a validated grant into tokens: one typed context in, one token response out.

Every grant (client_credentials, password, authorization_code, refresh_token) ends by building an
`IssueContext` that says exactly what was granted: client, user, scopes, audience, auth_time and
the family the tokens belong to. `TokenIssuer.issue` alone signs the access token (RFC 9068), the
ID token (OIDC Core §3.1.3.6, §12.2) and adds the refresh token (RFC 6749 §6), so no state passes
between hooks and nothing is fetched twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from authserver.db.models import User
from authserver.domain import scope_policy
from authserver.domain.token_families import FamilyRecord
from authserver.oauth import id_tokens
from authserver.oauth.access_tokens import sign_access_token
from authserver.oauth.client_model import ClientModel
from authserver.oauth.store import OAuthStore

# ID tokens come from the code flow and from refreshing its family (OIDC Core §3.1.3.3, §12.2).
ID_TOKEN_GRANTS = ("authorization_code", "refresh_token")


@dataclass(frozen=True)
class IssueContext:
    """What one token request was granted. Scopes are final: already checked and narrowed."""

    grant_type: str
    client: ClientModel
    scopes: list[str]
    audience: str
    user_id: str | None = None  # None: the client acts for itself (client_credentials)
    user: User | None = None  # the row, when the grant loaded it; else read only for an ID token
    auth_time: datetime | None = None
    # A refresh continues `family`; a code or password grant starts one with `new_family_id`.
    family: FamilyRecord | None = None
    new_family_id: str | None = None
    # The refresh token this request rotated, so a grace retry can find its children.
    rotated_refresh_sha256: str | None = None
    # ...or the next refresh token itself, already stored by the statement that rotated.
    next_refresh_token: str | None = None
    nonce: str | None = None  # code flow only (OIDC Core §3.1.3.6)
    sid: str | None = None  # code flow only: the browser session that signed the user in
    roles: list[str] = field(default_factory=list)

    @property
    def openid(self) -> bool:
        return "openid" in self.scopes


class TokenIssuer:
    def __init__(self, store: OAuthStore) -> None:
        self.store = store
        self.last_issued: IssueContext | None = None

    def issue(self, context: IssueContext) -> dict[str, Any]:
        self.last_issued = context  # for the `token.issued` audit line the HTTP glue writes
        settings, store = self.store.settings, self.store
        granted = scope_policy.join(context.scopes)
        auth_time = int(context.auth_time.timestamp()) if context.auth_time else None
        user_id, client = context.user_id, context.client
        family = context.family or self._start_family(context, granted)

        wants_roles = user_id is not None and scope_policy.ROLES_SCOPE in context.scopes
        extra = {"roles": context.roles} if wants_roles else None
        signed = sign_access_token(
            store.keyring,
            issuer=settings.issuer,
            subject=user_id if user_id is not None else client.client_id,
            audience=context.audience,
            client_id=client.client_id,
            scope=granted,
            ttl=settings.access_token_ttl,
            auth_time=auth_time,
            family_id=family.id if family is not None else None,
            extra=extra,
        )
        response: dict[str, Any] = {
            "access_token": signed.value,
            "token_type": "Bearer",
            "expires_in": settings.access_token_ttl,
            "scope": granted,
        }
        if family is not None and self._wants_refresh(context):
            response["refresh_token"] = context.next_refresh_token or store.add_refresh_token(
                family, context.rotated_refresh_sha256
            )
        user = self._user_for_id_token(context)
        if user is not None:
            response["id_token"] = id_tokens.sign_id_token(
                store.keyring,
                issuer=settings.issuer,
                user=user,
                client_id=client.client_id,
                ttl=settings.access_token_ttl,
                auth_time=auth_time,
                nonce=context.nonce,
                access_token=signed.value,
                scopes=context.scopes,
                sid=context.sid,
            )
        return response

    def _user_for_id_token(self, context: IssueContext) -> User | None:
        """The user's row when an ID token is due (its claims come from it); a refresh did not
        need the row until now, so it is read only here."""
        if context.user_id is None or not context.openid or context.grant_type not in ID_TOKEN_GRANTS:
            return None
        return context.user or self.store.user(context.user_id)

    def _start_family(self, context: IssueContext, granted: str) -> FamilyRecord | None:
        """A user grant starts a family: reuse, logout and revocation act on it (architecture §4)."""
        if context.user_id is None:
            return None
        return self.store.start_family(
            family_id=context.new_family_id,
            client_id=context.client.client_id,
            user_id=context.user_id,
            scope=granted,
            audience=context.audience,
            grant_type=context.grant_type,
            auth_time=context.auth_time,
        )

    @staticmethod
    def _wants_refresh(context: IssueContext) -> bool:
        """Refresh tokens only for clients registered for the grant; for OpenID requests only when
        offline_access was granted in a code flow (OIDC Core §11, R6), or to continue a family."""
        if context.user_id is None or not context.client.check_grant_type("refresh_token"):
            return False
        if not context.openid or context.grant_type == "refresh_token":
            return True
        return context.grant_type == "authorization_code" and "offline_access" in context.scopes


def auth_time_now() -> datetime:
    """Sign-in happening in this request (password grant): now, to the second like the claim."""
    return datetime.now(UTC).replace(microsecond=0)
