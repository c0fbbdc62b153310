"""Refresh tokens (RFC 6749 §6): find one, rotate it, add the next (architecture §4).

A refresh token is consumed by one conditional UPDATE (`... WHERE used_at IS NULL` and the family
still live) whose row count decides the single winner, even across workers. Presenting a used
token again is reuse; the caller revokes the family (RFC 9700 §4.14.2).

On PostgreSQL the usual case, a live token rotated by its own client, is one statement
(`rotate_at_once`): the lookup, that conditional UPDATE and the INSERT of the next token, as
data-modifying CTEs, committed by itself and returning all that issuing needs, so no query
follows the commit. Anything else (reuse, a grace retry, another client's token, a disabled
user) falls back to `find` and `rotate`, which SQLite always uses; those run in the request's
transaction, so a request that fails after `rotate` rolls the rotation back.

This is the hot path of the refresh grant, so the statements are built once, over the tables,
with bind parameters: building SQLAlchemy expressions per request, and the ORM's bookkeeping,
cost more CPU than the queries themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Table,
    Text,
    and_,
    bindparam,
    exists,
    func,
    insert,
    literal_column,
    null,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from authserver.db.direct import DirectStatement
from authserver.db.models import RefreshToken, TokenFamily, User, UserRole
from authserver.db.rows import affected
from authserver.db.types import utcnow
from authserver.domain import audit
from authserver.domain.token_families import Consumed, FamilyRecord, digest, new_opaque_token

_tokens = cast(Table, RefreshToken.__table__)
_families = cast(Table, TokenFamily.__table__)
_users = cast(Table, User.__table__)
_roles = cast(Table, UserRole.__table__)


@dataclass(frozen=True)
class RefreshRecord:
    token_sha256: str
    used_at: datetime | None


@dataclass(frozen=True)
class PresentedRefresh:
    token: RefreshRecord
    family: FamilyRecord
    live: bool  # unused, in a live family, when it was looked up
    user_id: str | None = None  # the family's user, if the account still exists
    user_disabled: bool = True
    # Read with the token by `rotate_at_once`, so issuing after it needs no query at all (a
    # rotation it has committed cannot then be lost to a failing read).
    user: User | None = None
    roles: list[str] | None = None


# The one definition of a live family: not revoked, within its absolute lifetime.
_FAMILY_IS_LIVE = and_(_families.c.revoked_at.is_(None), _families.c.expires_at > bindparam("now"))
# Idle timeout: a family's live token was issued by its last use (every use rotates), so the
# token's own `created_at` says when the family was last used; no write to the family per use.
_NOT_IDLE = _tokens.c.created_at > bindparam("idle_cutoff")

_FIND = (
    select(
        _tokens.c.token_sha256,
        _tokens.c.used_at,
        _families.c.id,
        _families.c.client_id,
        _families.c.user_id,
        _families.c.scope,
        _families.c.audience,
        _families.c.grant_type,
        _families.c.auth_time,
        _families.c.created_at,
        _families.c.expires_at,
        _families.c.revoked_at,
        and_(_tokens.c.used_at.is_(None), _NOT_IDLE, _FAMILY_IS_LIVE).label("live"),
        _users.c.id.label("account"),
        _users.c.disabled,
    )
    .select_from(
        _tokens.join(_families, _families.c.id == _tokens.c.family_id).outerjoin(
            _users, _users.c.id == _families.c.user_id
        )
    )
    .where(_tokens.c.token_sha256 == bindparam("sha"))
)

_LIVE_FAMILY = select(_families.c.id).where(_families.c.id == bindparam("fam"), _FAMILY_IS_LIVE)
_UNUSED_IN_LIVE_FAMILY = and_(
    _tokens.c.used_at.is_(None), _tokens.c.family_id == _LIVE_FAMILY.scalar_subquery()
)
# Rotation: the presented token itself, if it was issued within the idle timeout.
_MARK_PRESENTED = (
    update(_tokens)
    .where(_tokens.c.token_sha256 == bindparam("sha"), _NOT_IDLE, _UNUSED_IN_LIVE_FAMILY)
    .values(used_at=bindparam("at"))
)
# Grace retry: the presented token's child, only while it is the only one.
_ONLY_CHILD = (
    select(func.count()).select_from(_tokens).where(_tokens.c.parent_sha256 == bindparam("sha"))
).scalar_subquery() == 1
_MARK_ONLY_CHILD = (
    update(_tokens)
    .where(_tokens.c.parent_sha256 == bindparam("sha"), _ONLY_CHILD, _UNUSED_IN_LIVE_FAMILY)
    .values(used_at=bindparam("at"))
)
# Everything `find` reads, plus whether this same statement rotated the token: the presented
# token marked used (same conditions as _MARK_PRESENTED, and its family's client is the caller
# and its user exists and is enabled) and the next token added. The outer SELECT sees the rows
# as they were before the statement, so only `rotated` says what happened.
_ROTATABLE = exists(
    select(literal_column("1"))
    .select_from(_families.join(_users, _users.c.id == _families.c.user_id))
    .where(
        _families.c.id == _tokens.c.family_id,
        _FAMILY_IS_LIVE,
        _families.c.client_id == bindparam("client_id"),
        _users.c.disabled.is_(False),
    )
)
_MARKED = (
    update(_tokens)
    .where(_tokens.c.token_sha256 == bindparam("sha"), _tokens.c.used_at.is_(None), _NOT_IDLE, _ROTATABLE)
    .values(used_at=bindparam("at"))
    .returning(_tokens.c.token_sha256, _tokens.c.family_id)
    .cte("marked")
)
_NEXT = (
    insert(_tokens)
    .from_select(
        ["token_sha256", "family_id", "scope", "parent_sha256", "created_at", "used_at"],
        select(
            bindparam("next_sha", type_=_tokens.c.token_sha256.type),
            _families.c.id,
            _families.c.scope,
            _MARKED.c.token_sha256,
            bindparam("at", type_=_tokens.c.created_at.type),
            null(),
        ).select_from(_MARKED.join(_families, _families.c.id == _MARKED.c.family_id)),
    )
    .returning(_tokens.c.token_sha256)
    .cte("next")
)
_ROTATE_AT_ONCE = DirectStatement(
    _FIND.add_columns(
        select(func.count()).select_from(_NEXT).scalar_subquery().label("rotated"),
        _users.c.email,
        _users.c.email_verified,
        _users.c.username,
        _users.c.updated_at,
        # text[], not varchar[]: asyncpg would look an unknown array type up on every new connection.
        select(func.array_agg(_roles.c.role.cast(Text)))
        .where(_roles.c.user_id == _families.c.user_id)
        .scalar_subquery()
        .label("roles"),
    ).add_cte(_MARKED, _NEXT)
)
_USED_AT = select(_tokens.c.used_at).where(_tokens.c.token_sha256 == bindparam("sha"))
_ADD = insert(_tokens)


async def find(session: AsyncSession, value: str, *, idle: timedelta) -> PresentedRefresh | None:
    """The token, its family and whether its user can still use it, in one round trip."""
    now = utcnow()
    found = await session.execute(_FIND, {"sha": digest(value), "now": now, "idle_cutoff": now - idle})
    row = found.first()
    return None if row is None else _presented(row._mapping)


async def rotate_at_once(
    engine: AsyncEngine, value: str, *, client_id: str, idle: timedelta
) -> tuple[PresentedRefresh, str] | None:
    """PostgreSQL only: rotate a live token of `client_id` in one statement that commits by
    itself. Returns (the presented token, the next token), or None when it did not rotate, for
    `find` and `rotate` to tell why in the request's transaction."""
    now, following = utcnow(), new_opaque_token()
    params = {
        "sha": digest(value),
        "client_id": client_id,
        "next_sha": digest(following),
        "now": now,
        "idle_cutoff": now - idle,
        "at": now,
    }
    row = await _ROTATE_AT_ONCE.fetchrow(engine, params)
    if row is None or row["rotated"] != 1:
        return None
    user = User(
        id=row["account"],
        email=row["email"],
        email_verified=row["email_verified"],
        username=row["username"],
        updated_at=row["updated_at"],
    )
    presented = replace(_presented(row), user=user, roles=sorted(row["roles"] or []))
    return presented, following


def _presented(row: Mapping[Any, Any]) -> PresentedRefresh:
    family = FamilyRecord(
        id=row["id"],
        client_id=row["client_id"],
        user_id=row["user_id"],
        scope=row["scope"],
        audience=row["audience"],
        grant_type=row["grant_type"],
        auth_time=row["auth_time"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
    )
    return PresentedRefresh(
        RefreshRecord(row["token_sha256"], row["used_at"]),
        family,
        bool(row["live"]),
        user_id=row["account"],
        user_disabled=bool(row["disabled"]) if row["account"] is not None else True,
    )


async def rotate(
    session: AsyncSession, presented: PresentedRefresh, *, idle: timedelta, grace: timedelta
) -> Consumed:
    """Mark the presented token used in one conditional UPDATE that also checks, in the query,
    that its family is live (not revoked, within its absolute lifetime) and not idle (the token
    was issued within the idle timeout). Row count 1 wins.

    Otherwise the token was used before. Inside the grace window (off by default) a retry by a
    client that lost the response is let through only by a second conditional UPDATE that marks
    the child issued last time as used, once only: the child must still be the presented
    token's only one. So the family keeps exactly one live refresh token, and a second retry
    (whether it races the first, as on PostgreSQL, or comes after it, as SQLite's serialised
    writers make it) is reuse. On reuse the caller revokes the whole family, in a transaction of
    its own.
    """
    now = utcnow()
    family = presented.family
    sha = presented.token.token_sha256
    params = {"sha": sha, "fam": family.id, "now": now, "idle_cutoff": now - idle, "at": now}

    async def mark(statement: object) -> bool:
        return affected(await session.execute(statement, params)) == 1  # type: ignore[call-overload]

    if await mark(_MARK_PRESENTED):
        return Consumed(ok=True, family_id=family.id)
    used_at = await session.scalar(_USED_AT, {"sha": sha})
    if used_at is None:
        return Consumed(ok=False, family_id=family.id)  # family expired, idle or revoked
    if grace and used_at > now - grace and await mark(_MARK_ONLY_CHILD):
        await audit.record(
            session,
            "refresh.grace_retry",
            user_id=family.user_id,
            client_id=family.client_id,
            family_id=family.id,
        )
        return Consumed(ok=True, family_id=family.id)
    return Consumed(ok=False, family_id=family.id, reuse=True)


async def add(session: AsyncSession, family: FamilyRecord, parent_sha256: str | None = None) -> str:
    """A new refresh token in `family`; only its SHA-256 is stored (architecture §2)."""
    value = new_opaque_token()
    await session.execute(
        _ADD,
        {
            "token_sha256": digest(value),
            "family_id": family.id,
            "scope": family.scope,
            "parent_sha256": parent_sha256,
            "created_at": utcnow(),
            "used_at": None,
        },
    )
    return value
