"""Token families: every token issued from one grant, and the rules that end them.

Architecture §4 / RFC 9700 §4.14.2. Codes and refresh tokens are consumed by one conditional UPDATE
(`... WHERE used_at IS NULL`) whose row count decides the single winner, so there is no
read-then-write window even across workers. Presenting a consumed code or refresh token again is
reuse: the whole family is revoked, which also makes every access token issued from it inactive.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from authserver.db.models import (
    AuthorizationCode,
    Client,
    ClientAssertionJti,
    RefreshToken,
    RevokedAccessToken,
    TokenFamily,
    User,
)
from authserver.db.rows import affected
from authserver.db.types import utcnow
from authserver.domain import audit, change_counters


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def new_opaque_token() -> str:
    return secrets.token_urlsafe(32)  # 256 bits (T11)


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
) -> bool:
    """Revoke a family: its refresh tokens, and its access tokens, which name it in their `fam`
    claim. True if it was live until now."""
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
            session, f"family.revoked.{reason}", user_id=user_id, client_id=client_id, family_id=family_id
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
) -> TokenFamily:
    now = utcnow()
    family = TokenFamily(
        id=family_id or str(uuid.uuid4()),
        client_id=client_id,
        user_id=user_id,
        scope=scope,
        audience=audience,
        grant_type=grant_type,
        auth_time=auth_time,
        created_at=now,
        expires_at=now + lifetime,
        last_used_at=now,
    )
    session.add(family)
    await session.flush()
    return family


async def add_refresh_token(
    session: AsyncSession, family: TokenFamily, parent_sha256: str | None = None
) -> str:
    value = new_opaque_token()
    session.add(
        RefreshToken(
            token_sha256=digest(value), family_id=family.id, scope=family.scope, parent_sha256=parent_sha256
        )
    )
    await session.flush()
    return value


async def revoke_access_token(
    session: AsyncSession, *, jti: str, client_id: str, expires_at: datetime
) -> bool:
    """Deny one self-contained access token until it would have expired (RFC 7009 §2).

    True if it was not on the denylist yet. Nothing was recorded when it was issued: the
    denylist holds only revoked tokens (architecture §2).
    """
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


async def access_token_is_live(
    session: AsyncSession, *, jti: str, client_id: str, family_id: str | None, user_id: str | None
) -> bool:
    """Whether a validly signed, unexpired access token is still good, in one round trip:
    not denylisted, its client still registered, its family (if any) not revoked, its user (if
    any) not disabled (RFC 7662 §2.2, I3)."""
    checks = [
        exists().where(RevokedAccessToken.jti == jti),
        exists().where(Client.client_id == client_id),
    ]
    if family_id is not None:
        checks.append(exists().where(TokenFamily.id == family_id, TokenFamily.revoked_at.is_(None)))
    if user_id is not None:
        checks.append(exists().where(User.id == user_id, User.disabled.is_(False)))
    denied, client_exists, *rest = (await session.execute(select(*checks))).one()
    return not denied and bool(client_exists) and all(rest)


async def find_code(session: AsyncSession, code: str) -> AuthorizationCode | None:
    return await session.get(AuthorizationCode, digest(code))


async def consume_code(session: AsyncSession, code: AuthorizationCode) -> Consumed:
    """Redeem a code once. Loser of a race, or a second use: reuse (T7, T8).

    On reuse the caller must revoke the family the first redemption started; it does so in a
    transaction of its own, because the request that found the reuse fails and rolls back.
    """
    family_id = str(uuid.uuid4())
    now = utcnow()
    result = await session.execute(
        update(AuthorizationCode)
        .where(
            AuthorizationCode.code_sha256 == code.code_sha256,
            AuthorizationCode.used_at.is_(None),
            AuthorizationCode.expires_at > now,
        )
        .values(used_at=now, family_id=family_id)
    )
    if affected(result) == 1:
        return Consumed(ok=True, family_id=family_id)
    winner = await session.scalar(
        select(AuthorizationCode.family_id)
        .where(AuthorizationCode.code_sha256 == code.code_sha256)
        .execution_options(populate_existing=True)
    )
    if winner is None:
        return Consumed(ok=False, family_id=None)  # expired, never used
    return Consumed(ok=False, family_id=winner, reuse=True)  # the caller revokes `winner`


@dataclass(frozen=True)
class PresentedRefresh:
    token: RefreshToken
    family: TokenFamily
    live: bool  # unused, in a live family (as `family_is_live` decides), when it was looked up


def family_is_live(now: datetime, idle: timedelta) -> ColumnElement[bool]:
    """The one definition of a live family: not revoked, within absolute lifetime and idle timeout."""
    return and_(
        TokenFamily.revoked_at.is_(None),
        TokenFamily.expires_at > now,
        TokenFamily.last_used_at > now - idle,
    )


async def find_refresh_token(
    session: AsyncSession, value: str, *, idle: timedelta
) -> PresentedRefresh | None:
    live = and_(RefreshToken.used_at.is_(None), family_is_live(utcnow(), idle))
    row = (
        await session.execute(
            select(RefreshToken, TokenFamily, live.label("live"))
            .join(TokenFamily, TokenFamily.id == RefreshToken.family_id)
            .where(RefreshToken.token_sha256 == digest(value))
        )
    ).first()
    return PresentedRefresh(row[0], row[1], bool(row[2])) if row else None


async def consume_refresh_token(
    session: AsyncSession, presented: PresentedRefresh, *, idle: timedelta, grace: timedelta
) -> Consumed:
    """Rotate: mark the presented token used in one conditional UPDATE that also checks the family
    (live, within absolute lifetime and idle timeout) in the query. Row count 1 wins.

    Otherwise the token was used before. Inside the grace window (off by default) a retry by a
    client that lost the response is let through only by a second conditional UPDATE that marks
    the child issued last time as used: the family keeps exactly one live refresh token, and if that
    child was already used (the client did get it) or another retry got there first, this is reuse.
    On reuse the caller revokes the whole family (RFC 9700 §4.14.2), in a transaction of its own.
    """
    now = utcnow()
    family = presented.family
    presented_hash = presented.token.token_sha256
    live_family = (
        select(TokenFamily.id).where(TokenFamily.id == family.id, family_is_live(now, idle)).scalar_subquery()
    )

    async def mark_used(match: ColumnElement[bool]) -> bool:
        """The one conditional UPDATE; True if this call, and no other, marked a live token used."""
        result = await session.execute(
            update(RefreshToken)
            .where(match, RefreshToken.used_at.is_(None), RefreshToken.family_id == live_family)
            .values(used_at=now)
        )
        if affected(result) != 1:
            return False
        await session.execute(update(TokenFamily).where(TokenFamily.id == family.id).values(last_used_at=now))
        return True

    if await mark_used(RefreshToken.token_sha256 == presented_hash):
        return Consumed(ok=True, family_id=family.id)
    used_at = await session.scalar(
        select(RefreshToken.used_at)
        .where(RefreshToken.token_sha256 == presented_hash)
        .execution_options(populate_existing=True)
    )
    if used_at is None:
        return Consumed(ok=False, family_id=family.id)  # family expired, idle or revoked
    # Grace retry: supersede the child issued last time, in the same kind of conditional UPDATE,
    # once only: the child must still be the presented token's only one. A second retry (there
    # are two children now) is reuse, whether it races the first or comes after it, on every
    # backend: SQLite serialises writers, so "racing" retries arrive there one after the other.
    only_child = (
        select(func.count())
        .select_from(RefreshToken)
        .where(RefreshToken.parent_sha256 == presented_hash)
        .scalar_subquery()
    ) == 1
    if (
        grace
        and used_at > now - grace
        and await mark_used(and_(RefreshToken.parent_sha256 == presented_hash, only_child))
    ):
        await audit.record(
            session,
            "refresh.grace_retry",
            user_id=family.user_id,
            client_id=family.client_id,
            family_id=family.id,
        )
        return Consumed(ok=True, family_id=family.id)
    return Consumed(ok=False, family_id=family.id, reuse=True)  # the caller revokes the family


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
            | (TokenFamily.last_used_at < now - idle - skew)
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
