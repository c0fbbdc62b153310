"""Rate-limit counters: one atomic step per hit, exact under concurrency, on every store."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from authserver.context import AppContext
from authserver.db.models import RateLimitCounter
from authserver.db.types import utcnow
from authserver.domain import rate_limits
from authserver.domain.rate_limits import (
    Blocks,
    Counters,
    DatabaseCounters,
    Limit,
    MemoryCounters,
    parse_limit,
    prune_expired,
)
from authserver.domain.redis_counters import RedisCounters, storage_uri
from tests.redis_server import require_redis, unique_prefix


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10/minute", Limit(10, 60)),
        ("20/10 minutes", Limit(20, 600)),
        ("100 / hour", Limit(100, 3600)),
        ("5/2 days", Limit(5, 172800)),
        ("off", None),
        ("0/minute", None),
    ],
)
def test_parse_limit(text: str, expected: Limit | None) -> None:
    assert parse_limit(text) == expected


@pytest.mark.parametrize("text", ["", "10", "ten/minute", "10/fortnight", "-1/minute", "10/0 minutes"])
def test_parse_limit_refuses_nonsense(text: str) -> None:
    with pytest.raises(ValueError):
        parse_limit(text)


async def _burst(counters: Counters, key: str, limit: Limit, n: int) -> list[bool]:
    decisions = await asyncio.gather(*(counters.hit(key, limit) for _ in range(n)))
    return [d.allowed for d in decisions]


async def test_database_counters_are_exact_under_concurrency(ctx: AppContext) -> None:
    counters = DatabaseCounters(ctx.sessions)
    allowed = await _burst(counters, "burst:1", Limit(10, 60), 40)
    assert allowed.count(True) == 10
    async with ctx.transaction() as session:
        assert await session.scalar(select(RateLimitCounter.count)) == 40


async def test_database_window_restarts_after_it_ends_and_is_pruned(ctx: AppContext) -> None:
    counters = DatabaseCounters(ctx.sessions)
    limit = Limit(2, 60)
    assert [(await counters.hit("k", limit)).allowed for _ in range(3)] == [True, True, False]
    refused = await counters.hit("k", limit)
    assert 55 <= refused.retry_after <= 60 and refused.count == 4 and not refused.first_refusal()
    async with ctx.transaction() as session:  # the window ended
        await session.execute(update(RateLimitCounter).values(resets_at=utcnow() - timedelta(seconds=1)))
    assert (await counters.hit("k", limit)).count == 1
    async with ctx.transaction() as session:
        await session.execute(update(RateLimitCounter).values(resets_at=utcnow() - timedelta(seconds=1)))
        assert await prune_expired(session) == 1
        assert await session.scalar(select(func.count()).select_from(RateLimitCounter)) == 0


async def test_first_refusal_is_reported_once(ctx: AppContext) -> None:
    counters = DatabaseCounters(ctx.sessions)
    decisions = [await counters.hit("once", Limit(1, 60)) for _ in range(4)]
    assert [d.first_refusal() for d in decisions] == [False, True, False, False]


async def test_clear_forgets_a_key(ctx: AppContext) -> None:
    counters = DatabaseCounters(ctx.sessions)
    await counters.hit("a", Limit(1, 60))
    await counters.clear("a")
    assert (await counters.hit("a", Limit(1, 60))).allowed


async def test_memory_counters_and_blocks() -> None:
    counters = MemoryCounters(max_keys=2)
    assert (await _burst(counters, "x", Limit(3, 60), 5)).count(True) == 3
    await counters.hit("y", Limit(1, 60))
    await counters.hit("z", Limit(1, 60))  # evicts x, the least recently used
    assert (await counters.hit("x", Limit(3, 60))).count == 1
    blocks = Blocks()
    assert blocks.retry_after("ip") == 0
    blocks.block("ip", 30)
    assert 29 <= blocks.retry_after("ip") <= 30


async def test_redis_counters_are_exact_under_concurrency() -> None:
    counters = RedisCounters(require_redis())
    key = unique_prefix()
    allowed = await _burst(counters, key, Limit(10, 60), 40)
    assert allowed.count(True) == 10
    refused = await counters.hit(key, Limit(10, 60))
    assert 1 <= refused.retry_after <= 60
    await counters.clear(key)
    assert (await counters.hit(key, Limit(10, 60))).count == 1
    await counters.clear(key)
    await counters.aclose()


def test_redis_url_forms() -> None:
    assert storage_uri("redis://127.0.0.1:6379/0") == "async+redis://127.0.0.1:6379/0"
    assert storage_uri("rediss://h:6380") == "async+rediss://h:6380"
    with pytest.raises(ValueError):
        storage_uri("http://h")


@pytest.mark.parametrize(
    ("ip", "key"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("2001:DB8:1:3::1", "2001:db8:1:3::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        (None, "None"),
        ("testclient", "testclient"),
    ],
)
def test_address_key_counts_ipv6_by_its_64(ip: str | None, key: str) -> None:
    assert rate_limits.address_key(ip) == key
