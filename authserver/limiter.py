"""Every rate limit of a running server in one object: the stores, the parsed limits, the sign-in
throttle, and the one exception a refusal raises (README "Rate limits and brute force").

- `shared`: the database counters, or Redis when `AUTHSERVER_REDIS_URL` is set. Everything that
  must hold across workers and machines: sign-in attempts, signups, forgotten-password requests,
  failed client authentications.
- `requests`: plain request rates per IP on /token, /introspect and /revoke, whose success paths
  must not touch the database (architecture §2): Redis when set, else this worker's memory (with
  N workers up to N times the limit).
- `blocks`: what this worker learned from a refused failure, checked in memory before a client
  authenticates (see `rate_limits.Blocks`).

A refusal raises `RateLimited`; the HTTP layer answers 429 with `Retry-After` and counts it in
`authserver_rate_limited_total{endpoint}`. Once per window and key it also writes a
`rate_limit.hit` (or `login.locked`) audit event.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from authserver.domain import audit
from authserver.domain.rate_limits import (
    Blocks,
    Counters,
    DatabaseCounters,
    Decision,
    Limit,
    MemoryCounters,
    parse_limit,
)
from authserver.domain.redis_counters import RedisCounters
from authserver.domain.signin_throttle import Refusal, SigninPolicy, SigninThrottle, TooManyAttempts
from authserver.settings import Settings

RateLimited = TooManyAttempts  # the name the HTTP layer uses

LIMIT_NAMES = (
    "token_per_ip",
    "introspect_per_ip",
    "revoke_per_ip",
    "authorize_per_ip",
    "client_auth_failures_per_ip",
    "signup_per_ip",
    "signin_per_ip",
    "password_forgot_per_ip",
    "password_forgot_per_account",
    "password_reset_per_ip",
    "verification_resend_per_ip",
    "verification_resend_per_account",
)


class Limiter:
    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        key_secret: Callable[[], str],
    ) -> None:
        self.sessions = sessions
        self.limits: dict[str, Limit | None] = {
            name: parse_limit(getattr(settings, "rate_limit_" + name)) for name in LIMIT_NAMES
        }
        redis = RedisCounters(settings.redis_url.get_secret_value()) if settings.redis_url else None
        self.redis = redis
        self.shared: Counters = redis or DatabaseCounters(sessions)
        self.requests: Counters = redis or MemoryCounters()
        self.blocks = Blocks()
        self._key_secret = key_secret
        self._digest_key: bytes | None = None
        self.signin = SigninThrottle(
            self.shared,
            SigninPolicy(
                per_ip=self.limits["signin_per_ip"],
                window=settings.signin_window,
                free_attempts=settings.signin_free_attempts,
                lock_after=settings.signin_lock_after,
                max_delay=settings.signin_max_delay,
                account_ceiling=settings.signin_account_ceiling,
                account_delay=settings.signin_account_delay,
            ),
            self.audit_refusal,
        )

    def subject(self, text: str) -> str:
        """A keyed digest standing for `text` (an identifier or email typed) in counter keys."""
        if self._digest_key is None:
            self._digest_key = hashlib.sha256(
                b"authserver rate-limit subjects v1\0" + self._key_secret().encode("utf-8")
            ).digest()
        return hmac.new(self._digest_key, text.encode("utf-8"), hashlib.sha256).hexdigest()[:40]

    async def enforce(
        self,
        name: str,
        subject: str | None,
        *,
        ip: str | None,
        per_worker: bool = False,
        user_id: str | None = None,
        client_id: str | None = None,
    ) -> Decision | None:
        """Count one hit against limit `name` for `subject`; raise `RateLimited` when over.

        `per_worker` counts in `requests` (Redis or this worker) instead of `shared`."""
        limit = self.limits[name]
        if limit is None:
            return None
        store = self.requests if per_worker else self.shared
        decision = await store.hit(f"{name}:{subject}", limit)
        if not decision.allowed:
            await self._refuse(name, decision, ip=ip, user_id=user_id, client_id=client_id)
        return decision

    async def count_failure(self, name: str, subject: str, *, ip: str | None, client_id: str | None) -> None:
        """After a failure (already answered): count it in shared storage; over the limit, this
        worker blocks `subject` until the window ends and the failure becomes a 429."""
        limit = self.limits[name]
        if limit is None:
            return
        decision = await self.shared.hit(f"{name}:{subject}", limit)
        if not decision.allowed:
            self.blocks.block(f"{name}:{subject}", decision.retry_after)
            await self._refuse(name, decision, ip=ip, client_id=client_id)

    def check_blocked(self, name: str, subject: str) -> None:
        """In memory only: no I/O on the path it guards."""
        retry = self.blocks.retry_after(f"{name}:{subject}")
        if retry:
            raise RateLimited(retry, name)

    async def _refuse(
        self,
        name: str,
        decision: Decision,
        *,
        ip: str | None,
        user_id: str | None = None,
        client_id: str | None = None,
    ) -> None:
        if decision.first_refusal():
            await self.audit_refusal(Refusal("rate_limit.hit", name, decision, ip, user_id, client_id))
        raise RateLimited(decision.retry_after, name)

    async def audit_refusal(self, refusal: Refusal) -> None:
        """Once per window and key: an audit event in its own transaction (the request fails)."""
        async with self.sessions() as session, session.begin():
            await audit.record(
                session,
                refusal.event,
                user_id=refusal.user_id,
                client_id=refusal.client_id,
                ip=refusal.ip,
                outcome="refused",
                limit=refusal.limit_name,
                retry_after=refusal.decision.retry_after,
            )

    def signin_gate(self, ip: str | None, client_id: str | None = None) -> SigninGate:
        """The brute-force gate for one sign-in attempt (`users.check_credentials(gate=...)`)."""
        return SigninGate(self, ip, client_id)


class SigninGate:
    """`users.SigninGate` for one request: its client IP and the client it signs in to."""

    def __init__(self, limiter: Limiter, ip: str | None, client_id: str | None) -> None:
        self.limiter = limiter
        self.ip = ip
        self.client_id = client_id

    def account_for(self, identifier_key: str) -> str:
        return "n:" + self.limiter.subject(identifier_key)

    async def check(self, account: str, user_id: str | None) -> None:
        await self.limiter.signin.check_account(account, self.ip, user_id=user_id, client_id=self.client_id)

    async def check_ip(self) -> None:
        await self.limiter.signin.check_ip(self.ip, client_id=self.client_id)

    async def succeeded(self, account: str | None) -> None:
        if account is not None:
            await self.limiter.signin.succeeded(account, self.ip)
