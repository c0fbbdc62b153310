"""The storage hooks Authlib's synchronous code calls, bridged to the async database.

Each method runs inside `greenlet_spawn` and awaits the async domain services with `await_only`;
argon2 work is awaited in a worker thread the same way. One instance serves one request, on that
request's session and transaction.

A failed request rolls its transaction back. Two kinds of write must outlive that:
- a private_key_jwt `jti` is recorded at once in its own committed transaction (`record_assertion_jti`),
  since it decides whether the request may go on at all;
- consequences of a failure (revoking a family on reuse, the `login.failed` audit row) are queued
  with `after_failure` and run by the HTTP glue in a new transaction once the request's own has
  rolled back, so on SQLite they never wait for a lock the request itself holds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.util import await_only

from authserver.caches import BoundedCache
from authserver.db.models import AuthorizationCode, User
from authserver.domain import (
    access_token_denylist,
    audit,
    authorization_codes,
    identifiers,
    refresh_tokens,
    token_families,
    users,
)
from authserver.domain.clients import ClientEntry, load_client_entry, record_assertion_jti
from authserver.domain.keys import KeyRing
from authserver.domain.refresh_tokens import PresentedRefresh
from authserver.domain.token_families import Consumed, FamilyRecord
from authserver.oauth.access_tokens import FAMILY_CLAIM
from authserver.oauth.client_model import ClientModel
from authserver.settings import Settings

if TYPE_CHECKING:
    from authserver.limiter import Limiter

T = TypeVar("T")
FailureAction = Callable[[AsyncSession], Awaitable[Any]]


def bridge(coro: Coroutine[Any, Any, T]) -> T:
    """Await from Authlib's synchronous code (we are inside `greenlet_spawn`)."""
    return await_only(coro)


class WorkerCaches:
    """This worker's caches (`authserver/caches.py`); the store reads and fills them."""

    def __init__(self, max_clients: int = 10_000, max_verdicts: int = 100_000) -> None:
        self.clients: BoundedCache[ClientEntry] = BoundedCache(max_clients)
        self.verdicts: BoundedCache[bool] = BoundedCache(max_verdicts)


class OAuthStore:
    def __init__(
        self,
        session: AsyncSession | Callable[[], AsyncSession],
        settings: Settings,
        keyring: KeyRing,
        hasher: Any,
        ip: str | None = None,
        sessions: async_sessionmaker[AsyncSession] | None = None,
        caches: WorkerCaches | None = None,
        limiter: Limiter | None = None,
        engine: AsyncEngine | None = None,
    ) -> None:
        self._session = session
        self.limiter = limiter
        self.unverified_signin = False  # the last password check was right but the email unverified
        self.settings = settings
        self.keyring = keyring
        self.hasher = hasher
        self.ip = ip
        self._sessions = sessions
        self._engine = engine  # for statements that commit by themselves (rotate_refresh_at_once)
        self.caches = caches or WorkerCaches()
        self._clients: dict[str, ClientModel | None] = {}
        self.failure_actions: list[FailureAction] = []

    @property
    def session(self) -> AsyncSession:
        """The request's session; given as a factory, it is made only when a hook needs it."""
        if isinstance(self._session, AsyncSession):
            return self._session
        return self._session()

    def after_failure(self, action: FailureAction) -> None:
        """Run `action` in its own transaction if this request ends in an error (see module doc)."""
        self.failure_actions.append(action)

    async def _committed(self, action: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """`action` in a short transaction of its own, committed at once (see module doc)."""
        if self._sessions is None:
            return await action(self.session)
        async with self._sessions() as session, session.begin():
            return await action(session)

    # Clients and users ------------------------------------------------------------------------

    def client(self, client_id: str) -> ClientModel | None:
        if client_id not in self._clients:
            self._clients[client_id] = bridge(self._load_client(client_id))
        return self._clients[client_id]

    async def _load_client(self, client_id: str) -> ClientModel | None:
        if not identifiers.is_client_id(client_id):
            return None  # never query with a malformed id (NUL, controls, over-long)
        cache = self.caches.clients
        entry = cache.get(client_id)
        if entry is None:
            generation = cache.generation
            # A short session of its own: client authentication (with its possible private_key_jwt
            # jti record, which needs a connection too) happens before the request's own session
            # opens, so no request ever holds one connection while waiting for a second.
            entry = await self._committed(lambda session: load_client_entry(session, client_id))
            if entry is None:
                return None  # unknown ids are not cached: a flood of them cannot fill memory
            cache.put(client_id, entry, generation)
        return ClientModel(entry)

    def record_assertion_jti(self, client_id: str, jti: str, expires_at: datetime) -> bool:
        """T12: committed now, so a failure later in this request cannot roll the jti back."""
        return bridge(
            self._committed(lambda session: record_assertion_jti(session, client_id, jti, expires_at))
        )

    def user(self, user_id: str) -> User | None:
        return bridge(self.session.get(User, user_id))

    def roles(self, user_id: str) -> list[str]:
        return bridge(users.roles_of(self.session, user_id))

    def authenticate_password(
        self, username: str, password: str, client_id: str | None = None
    ) -> User | None:
        """The signin core behind the brute-force gate (`domain/signin_throttle.py`); a failure's
        audit row is written even though the request fails. A refused attempt raises
        `TooManyAttempts`, which the HTTP layer answers with 429."""

        async def lookup(typed: str) -> User | None:
            # A short session of its own: the connection is back in the pool before argon2 runs.
            return await self._committed(lambda session: users.find_by_identifier(session, typed))

        gate = self.limiter.signin_gate(self.ip, client_id) if self.limiter is not None else None
        if gate is not None:
            bridge(gate.check_ip())
        check = bridge(
            users.check_credentials(
                lookup,
                self.hasher,
                username,
                password,
                max_password_length=self.settings.password_max_length,
                gate=gate,
                require_verified_email=self.settings.require_verified_email,
            )
        )
        if gate is not None and check.password_ok:
            bridge(gate.succeeded(check.account))
        if check.user is not None:
            bridge(
                users.record_signin(
                    self.session, self.hasher, check, password, client_id=client_id, ip=self.ip
                )
            )
            return check.user
        self.unverified_signin = check.reason == "unverified"
        hasher, ip = self.hasher, self.ip

        async def audit_failure(session: AsyncSession) -> None:
            await users.record_signin(session, hasher, check, "", client_id=client_id, ip=ip)

        self.after_failure(audit_failure)
        return None

    # Authorization codes ----------------------------------------------------------------------

    def save_code(self, row: AuthorizationCode) -> None:
        self.session.add(row)
        bridge(self.session.flush())

    def find_code(self, code: str) -> AuthorizationCode | None:
        return bridge(authorization_codes.find(self.session, code))

    def consume_code(self, row: AuthorizationCode) -> Consumed:
        outcome = bridge(authorization_codes.consume(self.session, row))
        if outcome.reuse and outcome.family_id is not None:
            self._revoke_after_failure(outcome.family_id, "code_reuse", row.client_id, row.user_id)
        return outcome

    # Families and tokens ----------------------------------------------------------------------

    def start_family(self, **kwargs: Any) -> FamilyRecord:
        lifetime = timedelta(seconds=self.settings.refresh_token_ttl)
        return bridge(token_families.start_family(self.session, lifetime=lifetime, **kwargs))

    def add_refresh_token(self, family: FamilyRecord, parent_sha256: str | None = None) -> str:
        return bridge(refresh_tokens.add(self.session, family, parent_sha256))

    def find_refresh(self, value: str) -> PresentedRefresh | None:
        idle = timedelta(seconds=self.settings.refresh_idle_ttl)
        return bridge(refresh_tokens.find(self.session, value, idle=idle))

    def rotate_refresh_at_once(self, value: str, client_id: str) -> tuple[PresentedRefresh, str] | None:
        """One autocommitted statement on PostgreSQL (`domain/refresh_tokens.py`); None when it
        did not rotate, or on SQLite."""
        if self._engine is None or self._engine.dialect.name != "postgresql":
            return None
        idle = timedelta(seconds=self.settings.refresh_idle_ttl)
        return bridge(refresh_tokens.rotate_at_once(self._engine, value, client_id=client_id, idle=idle))

    def revoke_family(self, family: FamilyRecord, reason: str) -> None:
        """Revoke now, in this request's transaction (a successful revocation request)."""
        bridge(
            token_families.revoke_family(
                self.session,
                family.id,
                reason,
                client_id=family.client_id,
                user_id=family.user_id,
                ip=self.ip,
            )
        )

    def revoke_family_on_failure(self, family: FamilyRecord, reason: str) -> None:
        """Revoke even though this request fails (reuse, a disabled user)."""
        self._revoke_after_failure(family.id, reason, family.client_id, family.user_id)

    def _revoke_after_failure(
        self, family_id: str, reason: str, client_id: str | None, user_id: str | None
    ) -> None:
        ip = self.ip

        async def revoke(session: AsyncSession) -> None:
            await token_families.revoke_family(
                session, family_id, reason, client_id=client_id, user_id=user_id, ip=ip
            )

        self.after_failure(revoke)

    def rotate_refresh(self, presented: PresentedRefresh) -> Consumed:
        """The one conditional UPDATE that rotates (architecture §4); reuse revokes the family."""
        outcome = bridge(
            refresh_tokens.rotate(
                self.session,
                presented,
                idle=timedelta(seconds=self.settings.refresh_idle_ttl),
                grace=timedelta(seconds=self.settings.refresh_grace_seconds),
            )
        )
        if outcome.reuse:
            self.revoke_family_on_failure(presented.family, "refresh_reuse")
        return outcome

    def access_token_is_live(self, claims: dict[str, Any]) -> bool:
        """Denylist, family, user and client checks for a verified token, cached per `jti` until
        the next revocation anywhere (`authserver/caches.py`)."""
        jti = claims["jti"]
        cache = self.caches.verdicts
        verdict = cache.get(jti)
        if verdict is None:
            generation = cache.generation
            family_id = claims.get(FAMILY_CLAIM)
            verdict = bridge(
                access_token_denylist.is_live(
                    self.session,
                    jti=jti,
                    client_id=str(claims.get("client_id", "")),
                    family_id=family_id if isinstance(family_id, str) else None,
                    user_id=str(claims["sub"]) if isinstance(family_id, str) else None,
                )
            )
            cache.put(jti, verdict, generation)
        return verdict

    def revoke_access_token(self, claims: dict[str, Any], client_id: str) -> None:
        async def revoke() -> None:
            revoked = await access_token_denylist.revoke(
                self.session,
                jti=claims["jti"],
                client_id=client_id,
                expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
            )
            if revoked:
                await audit.record(
                    self.session, "token.revoked", client_id=client_id, ip=self.ip, jti=claims["jti"]
                )

        bridge(revoke())
        self.caches.verdicts.discard(claims["jti"])  # this worker sees it at once
