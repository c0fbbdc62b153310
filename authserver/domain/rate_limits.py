"""Rate limits: counters in shared storage, one atomic step per hit (architecture §5).

A limit is "N per period". Each key (an endpoint and a client IP, an account, ...) has one
counter whose window starts at its first hit and lasts the period, like Redis `INCR` + `EXPIRE`:
a hit is allowed while the counter, this hit included, is at most N. Anchoring the window at the
first hit (rather than at clock minutes) means a burst cannot straddle a boundary and get 2N.

Three stores share the `Counters` interface:
- `DatabaseCounters`: one `INSERT ... ON CONFLICT DO UPDATE ... RETURNING` per hit, on SQLite and
  PostgreSQL alike, so concurrent workers and machines count into the same row. The default.
- `RedisCounters` (`domain/redis_counters.py`): the same counters in Redis through the `limits`
  package, when `AUTHSERVER_REDIS_URL` is set.
- `MemoryCounters`: this worker only, bounded. Used for plain request rates on paths that must
  stay free of database work (a cached `client_credentials` or introspection answer): with N
  workers it admits up to N times the limit, which README states.

Expired windows are deleted by `prune_expired` (`authserver tokens prune`).
"""

from __future__ import annotations

import ipaddress
import math
import re
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import case, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from authserver.db.models import RateLimitCounter
from authserver.db.rows import affected
from authserver.db.types import utcnow

_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_LIMIT_RE = re.compile(r"\s*(\d+)\s*/\s*(?:(\d+)\s*)?(second|minute|hour|day)s?\s*")
MAX_KEY_LENGTH = 200


@dataclass(frozen=True)
class Limit:
    """At most `count` hits per `period` seconds."""

    count: int
    period: int

    def __str__(self) -> str:
        return f"{self.count}/{self.period}s"


def address_key(ip: str | None) -> str:
    """The key a client address is counted under. An IPv6 address counts as its /64: one host or
    home is commonly given a whole /64 (RFC 4291 §2.5.4's 64-bit interface identifier), so counting
    single addresses would hand it 2^64 fresh ones. IPv4 addresses count one by one."""
    if ip is None:
        return "None"
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # ::ffff:192.0.2.1 is 192.0.2.1
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def parse_limit(text: str) -> Limit | None:
    """Parse "10/minute", "20/10 minutes", "100/hour"; "off" (or "0/...") means no limit."""
    if text.strip().lower() == "off":
        return None
    match = _LIMIT_RE.fullmatch(text)
    if match is None:
        raise ValueError('must look like "10/minute", "20/10 minutes" or "off"')
    count, multiple, unit = int(match[1]), int(match[2] or 1), match[3]
    if multiple < 1:
        raise ValueError("the period must be at least 1")
    if count == 0:
        return None
    return Limit(count, multiple * _PERIODS[unit])


@dataclass(frozen=True)
class Decision:
    """One hit's outcome: `count` includes it; `retry_after` (seconds) is set when refused."""

    allowed: bool
    count: int
    limit: int
    retry_after: int = 0

    def first_refusal(self, cost: int = 1) -> bool:
        """The one hit that crossed the limit in this window (audit it once, not every time)."""
        return not self.allowed and self.count - cost <= self.limit


def decide(limit: Limit, count: int, resets_in: float) -> Decision:
    allowed = count <= limit.count
    retry = 0 if allowed else max(1, math.ceil(resets_in))
    return Decision(allowed, count, limit.count, retry)


class Counters(Protocol):
    """What every counter store offers."""

    async def hit(self, key: str, limit: Limit, cost: int = 1) -> Decision: ...

    async def hit_many(self, hits: Sequence[tuple[str, Limit]]) -> list[Decision]: ...

    async def clear(self, key: str) -> None: ...


def _bounded(key: str) -> str:
    """Keys are built from our own prefixes and short values (IPs, ids, digests)."""
    if len(key) > MAX_KEY_LENGTH:
        raise ValueError("rate-limit key too long")
    return key


def _upsert(dialect: str, key: str, limit: Limit, cost: int, now: datetime) -> object:
    """The one atomic statement: start a window, or add to the live one, and say where it is."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    ends = now + timedelta(seconds=limit.period)
    table = RateLimitCounter
    expired = table.resets_at <= now  # the stored row's value (SET sees the old row)
    return (
        insert(table)
        .values(key=key, count=cost, resets_at=ends)
        .on_conflict_do_update(
            index_elements=[table.key],
            set_={
                "count": case((expired, cost), else_=table.count + cost),
                "resets_at": case((expired, ends), else_=table.resets_at),
            },
        )
        .returning(table.count, table.resets_at)
    )


async def hit_in(session: AsyncSession, key: str, limit: Limit, cost: int = 1) -> Decision:
    """One hit inside the caller's transaction (the caller commits: see `DatabaseCounters`)."""
    now = utcnow()
    dialect = session.get_bind().dialect.name
    statement = _upsert(dialect, _bounded(key), limit, cost, now)
    row = (await session.execute(statement)).one()  # type: ignore[call-overload]
    count, resets_at = int(row[0]), row[1]
    return decide(limit, count, (resets_at - now).total_seconds())


class DatabaseCounters:
    """Counters in the `rate_limit_counters` table, each call in a short transaction of its own:
    a counted failure must survive the request's rollback, and no connection is held between."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def hit(self, key: str, limit: Limit, cost: int = 1) -> Decision:
        async with self._sessions() as session, session.begin():
            return await hit_in(session, key, limit, cost)

    async def hit_many(self, hits: Sequence[tuple[str, Limit]]) -> list[Decision]:
        async with self._sessions() as session, session.begin():
            return [await hit_in(session, key, limit) for key, limit in hits]

    async def clear(self, key: str) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(delete(RateLimitCounter).where(RateLimitCounter.key == key))


class MemoryCounters:
    """This worker's counters (no I/O at all), bounded to `max_keys` by least-recent use."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._windows: OrderedDict[str, list[float]] = OrderedDict()
        self._max = max_keys

    async def hit(self, key: str, limit: Limit, cost: int = 1) -> Decision:
        return self.hit_now(key, limit, cost)

    def hit_now(self, key: str, limit: Limit, cost: int = 1) -> Decision:
        """Synchronous: usable from code that must not yield to the event loop."""
        now = time.time()
        window = self._windows.get(key)
        if window is None or window[1] <= now:
            window = [0.0, now + limit.period]
            self._windows[key] = window
        window[0] += cost
        self._windows.move_to_end(key)
        while len(self._windows) > self._max:
            self._windows.popitem(last=False)
        return decide(limit, int(window[0]), window[1] - now)

    async def hit_many(self, hits: Sequence[tuple[str, Limit]]) -> list[Decision]:
        return [self.hit_now(key, limit) for key, limit in hits]

    async def clear(self, key: str) -> None:
        self._windows.pop(key, None)


class Blocks:
    """Keys this worker knows are over a shared limit until a time (epoch seconds).

    Failed client authentications are counted in shared storage after they fail; a request is
    checked against this in-memory list before it authenticates, so the success path of
    `client_credentials` and introspection gains no query. Each worker learns of a block at its
    first refused failure, so a guesser gets at most the limit plus one try per worker.
    """

    def __init__(self, max_keys: int = 100_000) -> None:
        self._until: OrderedDict[str, float] = OrderedDict()
        self._max = max_keys

    def block(self, key: str, seconds: int) -> None:
        self._until[key] = time.time() + seconds
        self._until.move_to_end(key)
        while len(self._until) > self._max:
            self._until.popitem(last=False)

    def retry_after(self, key: str) -> int:
        """Seconds left on the block, 0 when not blocked."""
        until = self._until.get(key)
        if until is None:
            return 0
        left = until - time.time()
        if left <= 0:
            del self._until[key]
            return 0
        return max(1, math.ceil(left))


async def prune_expired(session: AsyncSession) -> int:
    """Delete windows that ended (their counts no longer limit anything)."""
    result = await session.execute(delete(RateLimitCounter).where(RateLimitCounter.resets_at <= utcnow()))
    return affected(result)
