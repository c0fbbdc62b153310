"""Per-worker caches of shared state, each with a stated invalidation bound (architecture §8).

- the client cache: registered clients with their secret hashes, so authenticating a client costs no
  query on the token endpoint's hot path.
- the verdict cache: whether an access token (by `jti`) was still active when last checked, so
  introspecting it again costs no query.

Both are dropped whenever the matching change counter (`domain/change_counters.py`) moved.
`CacheSync.ensure_fresh` runs before every OAuth request and re-reads the counters when the last
read began more than `cache_sync_interval` seconds ago, so a change committed at time t is seen by
every request that starts after t + interval, on every worker. The app's lifespan task re-reads them
every quarter interval, so requests normally find the caches fresh and never wait for the read;
they wait only when that task fell behind the bound. An entry is only stored if no
invalidation happened while it was being loaded (the generation check), so a load that raced a
change cannot put stale data back after the cache was dropped.

While the database is unreachable, a worker keeps serving what it knew at its last sync (nothing
can change through the database meanwhile) and retries once per interval.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from authserver.db.faults import WarnOnce, unavailability
from authserver.domain import change_counters

V = TypeVar("V")


class BoundedCache(Generic[V]):
    """An LRU map with a generation number that moves on every `clear`."""

    def __init__(self, max_entries: int) -> None:
        self._entries: OrderedDict[str, V] = OrderedDict()
        self._max = max_entries
        self.generation = 0

    def get(self, key: str) -> V | None:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def put(self, key: str, value: V, loaded_in_generation: int) -> None:
        if loaded_in_generation != self.generation:
            return  # invalidated while loading: the value may be stale
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def discard(self, key: str) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()
        self.generation += 1

    def __len__(self) -> int:
        return len(self._entries)


class CacheSync:
    """Keeps a worker's caches no older than `interval` seconds behind the database."""

    def __init__(
        self,
        engine: AsyncEngine,
        interval: float,
        on_change: dict[str, Callable[[], None]],
    ) -> None:
        self._engine = engine
        self._interval = interval
        self._on_change = on_change
        self._versions: dict[str, int] | None = None
        self._read_started = float("-inf")
        self._lock = asyncio.Lock()
        self._warn = WarnOnce(logging.getLogger("authserver.database"))

    def is_fresh(self) -> bool:
        return time.monotonic() - self._read_started < self._interval

    async def ensure_fresh(self) -> None:
        """The request path. It waits only when the caches are older than the bound: the
        lifespan task (`sync`, every quarter interval) normally keeps them younger, so requests do
        not queue behind the read. (They used to, every interval: under load that put a quarter
        of all requests behind one query and the loop's backlog.)"""
        if self.is_fresh():
            return
        await self.sync(skip_if_younger_than=self._interval)

    async def sync(self, *, skip_if_younger_than: float = 0.0) -> None:
        """Read the change counters and drop what changed; one reader at a time."""
        async with self._lock:
            if time.monotonic() - self._read_started < skip_if_younger_than:
                return  # another caller synced while this one waited
            started = time.monotonic()
            try:
                # One statement in autocommit: no BEGIN and ROLLBACK round trips, each of which
                # waits a turn of a busy event loop.
                async with self._engine.connect() as connection:
                    autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
                    versions = await change_counters.read(autocommit)
            except Exception as error:
                if unavailability(error) is None:
                    raise
                # The database is away: nobody can change clients or revoke tokens through it
                # now, so what this worker knew at its last sync keeps serving (F1: write-free
                # requests go on); try again after an interval instead of on every request.
                self._warn(
                    unavailability(error) or "unreachable", "cache sync failed; serving what was known"
                )
                self._read_started = started
                return
            if self._versions is not None:
                for name, drop in self._on_change.items():
                    if versions.get(name) != self._versions.get(name):
                        drop()
            else:
                for drop in self._on_change.values():
                    drop()
            self._versions = versions
            self._read_started = started
