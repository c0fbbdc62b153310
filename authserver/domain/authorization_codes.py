"""Authorization codes (RFC 6749 §4.1.2): single use, hashed, short-lived (T7, T8).

A code is redeemed by one conditional UPDATE (`... WHERE used_at IS NULL`) that also names the
family the redemption starts; the row count decides the single winner of any race. A code
presented again is reuse: the caller revokes the family the first redemption started, in a
transaction of its own, because the request that found the reuse fails and rolls back.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from authserver.db.models import AuthorizationCode
from authserver.db.rows import affected
from authserver.db.types import utcnow
from authserver.domain.token_families import CORE_UPDATE, Consumed, digest


async def find(session: AsyncSession, code: str) -> AuthorizationCode | None:
    return await session.get(AuthorizationCode, digest(code))


async def consume(session: AsyncSession, code: AuthorizationCode) -> Consumed:
    """Redeem a code once. The loser of a race, or a second use, is reuse."""
    family_id = str(uuid.uuid4())
    now = utcnow()
    result = await session.execute(
        update(AuthorizationCode)
        .where(
            AuthorizationCode.code_sha256 == code.code_sha256,
            AuthorizationCode.used_at.is_(None),
            AuthorizationCode.expires_at > now,
        )
        .values(used_at=now, family_id=family_id),
        execution_options=CORE_UPDATE,
    )
    if affected(result) == 1:
        return Consumed(ok=True, family_id=family_id)
    winner = await session.scalar(
        select(AuthorizationCode.family_id).where(AuthorizationCode.code_sha256 == code.code_sha256)
    )
    if winner is None:
        return Consumed(ok=False, family_id=None)  # expired, never used
    return Consumed(ok=False, family_id=winner, reuse=True)  # the caller revokes `winner`
