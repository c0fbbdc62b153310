"""Authorization requests waiting for login or consent (architecture §6).

The validated parameters stay on the server; the pages carry only an opaque 256-bit id, of which
only SHA-256 is stored. A request belongs to the browser session that made it: presented from
any other session it does not exist (an attacker cannot make a victim finish the attacker's
request, nor the other way round). Expiry is checked in the query.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from authserver.db.models import PendingAuthorization
from authserver.db.rows import affected
from authserver.db.types import utcnow
from authserver.domain.token_families import digest

ID_MAX_LENGTH = 64


@dataclass(frozen=True)
class Pending:
    id: str  # the opaque value the pages carry; never stored
    client_id: str
    params: dict[str, str]
    created_at: datetime


async def create(
    session: AsyncSession,
    *,
    browser_session_id: str,
    client_id: str,
    params: Mapping[str, str],
    lifetime: timedelta,
) -> Pending:
    value = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        PendingAuthorization(
            id_sha256=digest(value),
            browser_session_id=browser_session_id,
            client_id=client_id,
            params=dict(params),
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    await session.flush()
    return Pending(value, client_id, dict(params), now)


async def find(session: AsyncSession, value: object, browser_session_id: str) -> Pending | None:
    """The live request with this id made by this browser session, else None."""
    if not isinstance(value, str) or not value or len(value) > ID_MAX_LENGTH or not value.isascii():
        return None
    row = await session.scalar(
        select(PendingAuthorization).where(
            PendingAuthorization.id_sha256 == digest(value),
            PendingAuthorization.browser_session_id == browser_session_id,
            PendingAuthorization.expires_at > utcnow(),
        )
    )
    if row is None:
        return None
    return Pending(value, row.client_id, {str(k): str(v) for k, v in row.params.items()}, row.created_at)


async def finish(session: AsyncSession, pending: Pending) -> bool:
    """A request is answered once (code or error); its id is dead from then on.

    One conditional DELETE decides it: True for the one caller that removed the row, False for
    any other (a double-clicked button, two tabs), which must answer nothing."""
    result = await session.execute(
        delete(PendingAuthorization).where(PendingAuthorization.id_sha256 == digest(pending.id))
    )
    return affected(result) == 1
