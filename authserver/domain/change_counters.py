"""Counters that tell every worker when shared state it caches has changed (architecture §8).

A change to clients, or any revocation, bumps a counter in the same transaction as the change.
Workers read the counters at most every `cache_sync_interval` seconds (`authserver/caches.py`) and
drop what they cached when one moved, so a change reaches every worker on every machine within
that interval, with one tiny query per interval per worker and none on the hot path.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from authserver.db.models import ChangeCounter

CLIENTS = "clients"  # a client registered, changed, deleted, or its secrets rotated
REVOCATIONS = "revocations"  # a token or family revoked, a user disabled or enabled, a client deleted


# session.info key: the counters this transaction bumped, so the worker that made the change can
# drop its own caches as soon as it commits instead of waiting for its next sync.
BUMPED = "authserver.change_counters.bumped"


async def bump(session: AsyncSession, *names: str) -> None:
    await session.execute(
        update(ChangeCounter).where(ChangeCounter.name.in_(names)).values(version=ChangeCounter.version + 1)
    )
    session.info.setdefault(BUMPED, set()).update(names)


async def read(session: AsyncSession | AsyncConnection) -> dict[str, int]:
    rows = await session.execute(select(ChangeCounter.name, ChangeCounter.version))
    return {name: int(version) for name, version in rows}
