"""Better Auth as a trusted identity source for token exchange (RFC 8693), on the resource kit.

A Better Auth app's backend holds one of two credentials for a signed-in user, and each maps to one
`subject_token_type` (RFC 8693 §3):

- its **JWT** (`jwt()` plugin, `GET /api/auth/token`): `urn:ietf:params:oauth:token-type:jwt`.
  Verified offline against the app's JWKS with the configured algorithms (EdDSA by default), `iss`,
  `aud` and `exp` (the kit's `BetterAuth.jwt_issuer()` rules).
- its **session token** (the `bearer()` plugin's `Authorization: Bearer` credential):
  `urn:ietf:params:oauth:token-type:access_token`. RFC 8693 §3 reads that type as "an access token
  issued by the given authorization server"; a Better Auth session token is exactly the bearer
  token its app issues and accepts for its own API, and like any opaque access token it can only
  be checked by asking its issuer (`GET /api/auth/get-session`, never cached here: an exchange
  mints tokens that outlive it, so a sign-out must count at once).

The type decides the check: a JWT sent as `access_token` is looked up as a session (and refused),
a session token sent as `jwt` is refused as malformed. Nothing is guessed from the token's shape.

Whoever the token names is then resolved to a local account by (`issuer`, `sub`) only
(`domain/external_identities.py`): an operator's link, or an account created on first use when
`better_auth_auto_create_users` is on. Never by email.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from authserver.db.models import User
from authserver.domain import audit, external_identities
from authserver.domain.errors import InvalidInput
from authserver.domain.external_identities import NotCreated, OutsideUser
from authserver.domain.passwords import PasswordHasher
from authserver.settings import Settings
from authserver_resource import Authenticator, BetterAuth, InvalidToken, Principal

# RFC 8693 §3 token type identifiers (not secrets).
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"  # noqa: S105
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105
SUBJECT_TOKEN_TYPES = (JWT_TOKEN_TYPE, ACCESS_TOKEN_TYPE)
_USER_AGENT = "authserver/0.1 (token exchange)"


def better_auth_config(settings: Settings) -> BetterAuth:
    """The kit's settings for the configured Better Auth app; ValueError names what is wrong."""
    if settings.better_auth_url is None:
        raise ValueError("AUTHSERVER_BETTER_AUTH_URL is not set")
    try:
        config = BetterAuth(
            settings.better_auth_url,
            issuer=settings.better_auth_issuer,
            audience=settings.better_auth_audience,
            algorithms=tuple(settings.better_auth_algorithms),
            session_cache_ttl=0,  # every exchange asks get-session: a sign-out counts at once
        )
        config.jwt_issuer()  # checks the algorithm allow-list (never `none`, never HMAC)
    except ValueError as exc:
        raise ValueError(f"AUTHSERVER_BETTER_AUTH_*: {exc}") from None
    return config


class Refused(Exception):
    """The subject token was good but policy refuses it (RFC 8693 §2.2.2 "unacceptable based on
    policy"). `reason` goes to the audit log; the client is told only that it is refused."""

    def __init__(self, reason: str, outside: OutsideUser) -> None:
        super().__init__(reason)
        self.reason = reason
        self.outside = outside


@dataclass(frozen=True)
class Resolved:
    user: User
    outside: OutsideUser
    created: bool


class BetterAuthExchange:
    """One per worker process (held by `AppContext`): the kit's JWKS cache and HTTP client live as
    long as the process, so a key is fetched once, not once per request."""

    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        hasher: PasswordHasher,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.config = better_auth_config(settings)
        self.auto_create = settings.better_auth_auto_create_users
        self._sessions = sessions
        self._hasher = hasher
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(headers={"User-Agent": _USER_AGENT}, follow_redirects=False)
        self._authenticator = Authenticator(better_auth=self.config, http=self._http)

    @property
    def issuer(self) -> str:
        return self.config.issuer_id

    async def verify(self, token: str, token_type: str) -> OutsideUser:
        """Who a Better Auth JWT or session token names. Raises the kit's `InvalidToken` (refuse)
        or `IssuerUnavailable` (Better Auth or its JWKS cannot be reached: retry later)."""
        if token_type == JWT_TOKEN_TYPE:
            principal = await self._authenticator.verify_jwt(token)
        elif token_type == ACCESS_TOKEN_TYPE:
            principal = await self._authenticator.verify_session(token)
        else:  # the grant checked the type first; never fall through to a guess
            raise InvalidToken("The subject token is invalid.", detail="unsupported subject_token_type")
        return self._outside_user(principal)

    def _outside_user(self, principal: Principal) -> OutsideUser:
        if principal.issuer != self.issuer:  # only this app is trusted; belt and braces
            raise InvalidToken("The subject token is invalid.", detail="issuer is not the Better Auth app")
        try:  # before any query: a NUL or an over-long id must not reach SQL (L6)
            external_identities.check_identity(self.issuer, principal.subject)
        except InvalidInput:
            raise InvalidToken(
                "The subject token is invalid.", detail="subject is empty, too long or not printable"
            ) from None
        email = principal.claims.get("email")
        return OutsideUser(
            issuer=self.issuer,
            subject=principal.subject,
            email=email if isinstance(email, str) else None,
            # Only a JSON `true` counts: "true", 1 or a missing claim mean not verified.
            email_verified=principal.claims.get("emailVerified") is True,
        )

    async def resolve(self, outside: OutsideUser, client_id: str) -> Resolved:
        """The local account for `outside`, created first when allowed. Raises `Refused`.

        Every step uses short sessions of its own and commits a creation at once, before the
        request's own session opens: no connection is held while argon2 runs (an unusable
        password hash), and a concurrent first exchange for the same user finds the winner's link.
        """
        async with self._sessions() as session:
            user = await external_identities.linked_user(session, outside.issuer, outside.subject)
        created = False
        if user is None:
            if not self.auto_create:
                raise Refused("not_linked", outside)
            user, created = await self._create(outside, client_id)
        if user.disabled:
            raise Refused("user_disabled", outside)
        return Resolved(user, outside, created)

    async def _create(self, outside: OutsideUser, client_id: str) -> tuple[User, bool]:
        password_hash = await external_identities.unusable_password_hash(self._hasher)
        try:
            async with self._sessions() as session, session.begin():
                user = await external_identities.create_linked_user(
                    session, outside, password_hash, client_id=client_id
                )
            return user, True
        except NotCreated as refused:
            async with self._sessions() as session:  # a concurrent first exchange may have won
                winner = await external_identities.linked_user(session, outside.issuer, outside.subject)
            if winner is None:
                raise Refused(refused.reason, outside) from None
            return winner, False

    async def record_refusal(
        self, session: AsyncSession, refused: Refused, client_id: str, ip: str | None
    ) -> None:
        """The audit row for a policy refusal (L2): who asked, for which outside user, and why."""
        await audit.record(
            session,
            "token_exchange.refused",
            client_id=client_id,
            ip=ip,
            issuer=refused.outside.issuer,
            subject=refused.outside.subject,
            reason=refused.reason,
        )

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()
