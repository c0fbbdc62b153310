"""Single-use tokens mailed to a person: password reset and email verification (E2, E6).

A token is 256 random bits (`secrets.token_urlsafe(32)`); only its SHA-256 is stored, tied to
the user and, for verification, to the address it proves. It is redeemed by one conditional
`DELETE ... RETURNING`, so two concurrent uses cannot both succeed. Issuing a token deletes the
user's older tokens of the same purpose (only the latest mail works), and a password change
deletes every reset token of the user.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from authserver.db.models import AccountToken, User
from authserver.db.rows import affected
from authserver.db.types import utcnow
from authserver.domain.token_families import digest

PASSWORD_RESET = "password_reset"  # noqa: S105 (a purpose name, not a secret)
EMAIL_VERIFICATION = "email_verification"
MAX_TOKEN_LENGTH = 100  # ours are 43 characters; anything much longer is not one of ours


@dataclass(frozen=True)
class Redeemed:
    user_id: str
    email: str


def _usable(token: object) -> str | None:
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        return None
    return token


async def issue(session: AsyncSession, user: User, purpose: str, lifetime: timedelta) -> str:
    """A new token for `user`; the user's older tokens of this purpose die now."""
    await session.execute(
        delete(AccountToken).where(AccountToken.user_id == user.id, AccountToken.purpose == purpose)
    )
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        AccountToken(
            token_sha256=digest(token),
            user_id=user.id,
            purpose=purpose,
            email=user.email_normalized,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    await session.flush()
    return token


async def peek(session: AsyncSession, token: object, purpose: str) -> User | None:
    """The user a live token belongs to, without using it (the reset form checks first)."""
    usable = _usable(token)
    if usable is None:
        return None
    return await session.scalar(
        select(User)
        .join(AccountToken, AccountToken.user_id == User.id)
        .where(
            AccountToken.token_sha256 == digest(usable),
            AccountToken.purpose == purpose,
            AccountToken.expires_at > utcnow(),
        )
    )


async def redeem(session: AsyncSession, token: object, purpose: str) -> Redeemed | None:
    """Use the token: it is gone afterwards whatever the caller does next in this transaction."""
    usable = _usable(token)
    if usable is None:
        return None
    row = (
        await session.execute(
            delete(AccountToken)
            .where(
                AccountToken.token_sha256 == digest(usable),
                AccountToken.purpose == purpose,
                AccountToken.expires_at > utcnow(),
            )
            .returning(AccountToken.user_id, AccountToken.email)
        )
    ).one_or_none()
    return Redeemed(row[0], row[1]) if row is not None else None


async def revoke_for_user(session: AsyncSession, user_id: str, purpose: str) -> int:
    result = await session.execute(
        delete(AccountToken).where(AccountToken.user_id == user_id, AccountToken.purpose == purpose)
    )
    return affected(result)


async def prune_expired(session: AsyncSession) -> int:
    result = await session.execute(delete(AccountToken).where(AccountToken.expires_at <= utcnow()))
    return affected(result)
