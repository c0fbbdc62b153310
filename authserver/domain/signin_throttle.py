"""Brute-force protection for sign-in that an attacker cannot turn against the victim
(checklist B3-B5; NIST SP 800-63B §5.2.2 asks for no more than 100 consecutive failures).

Three counters, all in shared storage, all counted *before* the password is checked (so a
burst of parallel guesses cannot all slip under a limit, and no argon2 work is spent on an
attempt that is refused):

- per client IP, every account (password spraying: many accounts, one password): over
  `AUTHSERVER_RATE_LIMIT_SIGNIN_PER_IP`, 429 for that IP alone;
- per (account, IP): the first `signin_free_attempts` are answered at once, the next ones after
  1, 2, 4, ... seconds (at most `signin_max_delay`), and past `signin_lock_after` that pair is
  locked (429) until its window (`signin_window`, from its first attempt) ends. A success clears
  the pair. The lock is per IP, so an attacker elsewhere cannot lock the victim out;
- per account across all IPs (credential stuffing from many addresses): past
  `signin_account_ceiling` attempts in the window, every attempt for the account waits
  `signin_account_delay` seconds. It slows, never refuses, so the victim still gets in.

The account is the user's id when the identifier matched one, else a keyed digest of the
identifier typed: an unknown identifier is counted, delayed and locked exactly like a real one,
so the limits tell nothing about who has an account (B1). Digests, not identifiers, are stored:
people paste passwords into the username field.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from authserver.domain.rate_limits import Counters, Decision, Limit, address_key


class TooManyAttempts(Exception):
    """Refused by a limit: answer 429 with `Retry-After: retry_after`."""

    def __init__(self, retry_after: int, limit_name: str) -> None:
        super().__init__(limit_name)
        self.retry_after = retry_after
        self.limit_name = limit_name


@dataclass(frozen=True)
class SigninPolicy:
    per_ip: Limit | None
    window: int
    free_attempts: int
    lock_after: int
    max_delay: float
    account_ceiling: int
    account_delay: float

    def delay_for(self, pair_count: int, account_over: bool) -> float:
        """Seconds to wait before checking attempt number `pair_count` of this (account, IP)."""
        delay = 0.0
        extra = pair_count - self.free_attempts
        if extra > 0:
            delay = min(self.max_delay, float(2 ** (extra - 1)))
        if account_over:
            delay += self.account_delay
        return delay


@dataclass(frozen=True)
class Refusal:
    """The first refusal of a window, to be audited once (not once per refused attempt)."""

    event: str
    limit_name: str
    decision: Decision
    ip: str | None
    user_id: str | None = None
    client_id: str | None = None


OnRefusal = Callable[[Refusal], Awaitable[None]]
Sleep = Callable[[float], Awaitable[None]]


class SigninThrottle:
    def __init__(
        self,
        counters: Counters,
        policy: SigninPolicy,
        on_refusal: OnRefusal,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.counters = counters
        self.policy = policy
        self._on_refusal = on_refusal
        self._sleep = sleep

    async def check_ip(self, ip: str | None, *, client_id: str | None = None) -> None:
        """Before anything else (no lookup, no argon2): the per-IP attempt limit."""
        if self.policy.per_ip is None:
            return
        decision = await self.counters.hit(f"signin:ip:{address_key(ip)}", self.policy.per_ip)
        if not decision.allowed:
            if decision.first_refusal():
                await self._on_refusal(
                    Refusal("rate_limit.hit", "signin_per_ip", decision, ip, client_id=client_id)
                )
            raise TooManyAttempts(decision.retry_after, "signin_per_ip")

    async def check_account(
        self, account: str, ip: str | None, *, user_id: str | None = None, client_id: str | None = None
    ) -> None:
        """After the lookup, before argon2: lock, or wait as long as this pair and account earned."""
        window = self.policy.window
        pair, total = await self.counters.hit_many(
            [
                (self.pair_key(account, ip), Limit(self.policy.lock_after, window)),
                (f"signin:acct:{account}", Limit(self.policy.account_ceiling, window)),
            ]
        )
        if not pair.allowed:
            if pair.first_refusal():
                await self._on_refusal(
                    Refusal("login.locked", "signin_account_ip", pair, ip, user_id, client_id)
                )
            raise TooManyAttempts(pair.retry_after, "signin_account_ip")
        delay = self.policy.delay_for(pair.count, not total.allowed)
        if delay > 0:
            await self._sleep(delay)

    async def succeeded(self, account: str, ip: str | None) -> None:
        """B5: the right password clears this (account, IP); the account's total stays."""
        await self.counters.clear(self.pair_key(account, ip))

    @staticmethod
    def pair_key(account: str, ip: str | None) -> str:
        return f"signin:pair:{account}:{address_key(ip)}"
