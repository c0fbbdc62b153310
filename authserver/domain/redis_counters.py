"""Rate-limit counters in Redis (`AUTHSERVER_REDIS_URL`), through the `limits` package.

`limits` (the storage layer of Flask-Limiter and slowapi) does the Redis part: an atomic Lua
`INCRBY` + `EXPIRE` per hit, so the window starts at a key's first hit, exactly like the database
counters in `rate_limits.py`. Keys are prefixed `authserver`, so one Redis can serve other apps.
A hit costs one round trip; the window's end is read (a second round trip) only for a refusal,
where the answer needs `Retry-After`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from limits.aio.storage import RedisStorage
from redis.asyncio import ConnectionPool

from authserver.domain.rate_limits import Decision, Limit, decide

KEY_PREFIX = "authserver"


def storage_uri(redis_url: str) -> str:
    """`redis://` / `rediss://` as `limits` names its asyncio storage."""
    scheme, sep, rest = redis_url.partition("://")
    if not sep or scheme not in ("redis", "rediss"):
        raise ValueError("AUTHSERVER_REDIS_URL must start with redis:// or rediss://")
    return f"async+{scheme}://{rest}"


class RedisCounters:
    def __init__(self, redis_url: str) -> None:
        # Our own pool, so `aclose` can release its connections when the worker stops.
        self._pool = ConnectionPool.from_url(redis_url)
        self._storage = RedisStorage(
            storage_uri(redis_url),
            implementation="redispy",
            key_prefix=KEY_PREFIX,
            connection_pool=self._pool,  # type: ignore[arg-type]
        )

    async def hit(self, key: str, limit: Limit, cost: int = 1) -> Decision:
        count = await self._storage.incr(key, limit.period, amount=cost)
        if count <= limit.count:
            return decide(limit, count, 0)
        return decide(limit, count, await self._storage.get_expiry(key) - time.time())

    async def hit_many(self, hits: Sequence[tuple[str, Limit]]) -> list[Decision]:
        return [await self.hit(key, limit) for key, limit in hits]

    async def clear(self, key: str) -> None:
        await self._storage.clear(key)

    async def aclose(self) -> None:
        await self._pool.aclose()

    async def check(self) -> bool:
        """Redis answers (readiness)."""
        return bool(await self._storage.check())
