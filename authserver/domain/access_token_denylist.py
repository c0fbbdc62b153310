"""Revocation of self-contained access tokens without recording them at issue (architecture §2).

Issuing a JWT access token writes nothing. Revoking one records its `jti` here until the token
would have expired anyway (then `tokens prune` deletes the row); a token from a user grant names
its family in its `fam` claim, so revoking the family reaches it. Whether a validly signed token
is still good is one query: not denylisted, client still registered, family not revoked, user not
disabled (RFC 7662 §2.2, I3).
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from authserver.db.models import Client, RevokedAccessToken, TokenFamily, User
from authserver.domain import change_counters

_denied = cast(Table, RevokedAccessToken.__table__)
_clients = cast(Table, Client.__table__)
_families = cast(Table, TokenFamily.__table__)
_users = cast(Table, User.__table__)

_NOT_DENIED = ~exists().where(_denied.c.jti == bindparam("jti"))
_CLIENT_EXISTS = exists().where(_clients.c.client_id == bindparam("client_id"))
_FAMILY_LIVE = exists().where(_families.c.id == bindparam("family_id"), _families.c.revoked_at.is_(None))
_USER_ENABLED = exists().where(_users.c.id == bindparam("user_id"), _users.c.disabled.is_(False))
# Built once: a client's own token, and a user's token that names its family.
_CLIENT_TOKEN_LIVE = select(_NOT_DENIED & _CLIENT_EXISTS)
_USER_TOKEN_LIVE = select(_NOT_DENIED & _CLIENT_EXISTS & _FAMILY_LIVE & _USER_ENABLED)


async def is_live(
    session: AsyncSession, *, jti: str, client_id: str, family_id: str | None, user_id: str | None
) -> bool:
    if family_id is not None and user_id is not None:
        params = {"jti": jti, "client_id": client_id, "family_id": family_id, "user_id": user_id}
        return bool(await session.scalar(_USER_TOKEN_LIVE, params))
    return bool(await session.scalar(_CLIENT_TOKEN_LIVE, {"jti": jti, "client_id": client_id}))


async def revoke(session: AsyncSession, *, jti: str, client_id: str, expires_at: datetime) -> bool:
    """Deny one access token until it would have expired (RFC 7009 §2). True if it is new here."""
    if await session.get(RevokedAccessToken, jti) is not None:
        return False
    try:
        async with session.begin_nested():
            session.add(RevokedAccessToken(jti=jti, client_id=client_id, expires_at=expires_at))
            await session.flush()
    except IntegrityError:
        return False  # revoked concurrently by another request
    await change_counters.bump(session, change_counters.REVOCATIONS)
    return True
