"""Token families: every token issued from one grant, and the rules that end them.

Architecture §4 / RFC 9700 §4.14.2. A family is started by a code redemption or a password grant
and continued by refreshes (`refresh_tokens.py`); presenting a used code or refresh token again
(`authorization_codes.py`, `refresh_tokens.py`) revokes the whole family, which also makes every
access token naming it inactive (`access_token_denylist.py`).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from authserver.db.models import (
    AuthorizationCode,
    ClientAssertionJti,
    RefreshToken,
    RevokedAccessToken,
    TokenFamily,
)
from authserver.db.rows import affected
from authserver.db.types import utcnow
from authserver.domain import audit, change_counters

# UPDATEs here never touch objects loaded in the session: skip the ORM's matching of them.
CORE_UPDATE = {"synchronize_session": False}


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def new_opaque_token() -> str:
    return secrets.token_urlsafe(32)  # 256 bits (T11)


@dataclass(frozen=True)
class FamilyRecord:
    """A family's columns as plain data: read and written with Core statements on the hot path
    (the ORM's unit of work would cost more than the queries themselves)."""

    id: str
    client_id: str
    user_id: str | None
    scope: str
    audience: str
    grant_type: str
    auth_time: datetime | None
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None


FAMILY_COLUMNS = (
    TokenFamily.id,
    TokenFamily.client_id,
    TokenFamily.user_id,
    TokenFamily.scope,
    TokenFamily.audience,
    TokenFamily.grant_type,
    TokenFamily.auth_time,
    TokenFamily.created_at,
    TokenFamily.expires_at,
    TokenFamily.revoked_at,
)


@dataclass(frozen=True)
class Consumed:
    """Outcome of presenting a code or refresh token."""

    ok: bool
    family_id: str | None
    reuse: bool = False  # the value had been used before: the family was revoked


async def revoke_family(
    session: AsyncSession,
    family_id: str,
    reason: str,
    *,
    client_id: str | None = None,
    user_id: str | None = None,
    ip: str | None = None,
) -> bool:
    """Revoke a family: its refresh tokens, and its access tokens, which name it in their `fam`
    claim. True if it was live until now. `ip` is the request's, when a request caused it."""
    now = utcnow()
    result = await session.execute(
        update(TokenFamily)
        .where(TokenFamily.id == family_id, TokenFamily.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    )
    changed = bool(affected(result))
    if changed:
        await change_counters.bump(session, change_counters.REVOCATIONS)
        await audit.record(
            session,
            f"family.revoked.{reason}",
            user_id=user_id,
            client_id=client_id,
            ip=ip,
            family_id=family_id,
        )
    return changed


async def revoke_user_families(
    session: AsyncSession, user_id: str, reason: str, *, client_id: str | None = None
) -> int:
    """The one service that logout-everywhere, password reset, consent withdrawal and disabling call."""
    query = select(TokenFamily.id, TokenFamily.client_id).where(
        TokenFamily.user_id == user_id, TokenFamily.revoked_at.is_(None)
    )
    if client_id is not None:
        query = query.where(TokenFamily.client_id == client_id)
    count = 0
    for family_id, family_client in (await session.execute(query)).all():
        count += await revoke_family(session, family_id, reason, client_id=family_client, user_id=user_id)
    return count


async def revoke_client_families(session: AsyncSession, client_id: str, reason: str) -> int:
    ids = await session.scalars(
        select(TokenFamily.id).where(TokenFamily.client_id == client_id, TokenFamily.revoked_at.is_(None))
    )
    count = 0
    for family_id in list(ids):
        count += await revoke_family(session, family_id, reason, client_id=client_id)
    return count


async def start_family(
    session: AsyncSession,
    *,
    client_id: str,
    user_id: str | None,
    scope: str,
    audience: str,
    grant_type: str,
    lifetime: timedelta,
    auth_time: datetime | None,
    family_id: str | None = None,
) -> FamilyRecord:
    now = utcnow()
    family = FamilyRecord(
        id=family_id or str(uuid.uuid4()),
        client_id=client_id,
        user_id=user_id,
        scope=scope,
        audience=audience,
        grant_type=grant_type,
        auth_time=auth_time,
        created_at=now,
        expires_at=now + lifetime,
    )
    await session.execute(
        insert(TokenFamily).values(
            id=family.id,
            client_id=client_id,
            user_id=user_id,
            scope=scope,
            audience=audience,
            grant_type=grant_type,
            auth_time=auth_time,
            created_at=now,
            expires_at=family.expires_at,
            last_used_at=now,
        )
    )
    return family


@dataclass(frozen=True)
class Pruned:
    access_tokens: int
    codes: int
    families: int
    assertion_jtis: int = 0


async def prune_expired(
    session: AsyncSession, *, access_ttl: timedelta, idle: timedelta, skew: timedelta
) -> Pruned:
    """Delete rows no token can still need. Used refresh tokens stay as long as their family
    lives, so a stolen one is recognised as reuse for the family's whole life.

    - denylisted access tokens past their expiry (plus skew): they are refused as expired anyway;
    - codes an hour past expiry (reuse detection matters while a code can still be redeemed);
    - families past their absolute lifetime or idle timeout, and revoked families once every
      access token they issued has expired; their refresh tokens go with them.
    """
    now = utcnow()
    access = await session.execute(
        delete(RevokedAccessToken).where(RevokedAccessToken.expires_at < now - skew)
    )
    codes = await session.execute(
        delete(AuthorizationCode).where(AuthorizationCode.expires_at < now - timedelta(hours=1) - skew)
    )
    # Refresh tokens of a family go with it (ON DELETE CASCADE).
    families = await session.execute(
        delete(TokenFamily).where(
            (TokenFamily.expires_at < now - skew)
            # Idle: started, and no refresh token issued (= no use), within the idle timeout.
            | (
                (TokenFamily.created_at < now - idle - skew)
                & ~exists().where(
                    RefreshToken.family_id == TokenFamily.id, RefreshToken.created_at > now - idle - skew
                )
            )
            | (TokenFamily.revoked_at < now - access_ttl - skew)
        )
    )
    if affected(families):
        # Cached "active" verdicts may name a family that is gone now.
        await change_counters.bump(session, change_counters.REVOCATIONS)
    jtis = await session.execute(delete(ClientAssertionJti).where(ClientAssertionJti.expires_at < now))
    result = Pruned(
        access_tokens=affected(access),
        codes=affected(codes),
        families=affected(families),
        assertion_jtis=affected(jtis),
    )
    await audit.record(
        session,
        "tokens.pruned",
        access_token_count=result.access_tokens,
        code_count=result.codes,
        family_count=result.families,
    )
    return result
