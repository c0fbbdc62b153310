"""Setting a new password: by a reset link (E4, E5) or on the account page (U6).

Either way the new hash is computed by the caller before its transaction (no connection held
while argon2 runs), then one transaction sets it and ends what the old password opened: every
reset token of the user, the browser sessions (all of them for a reset; all but the current one
for a change), and every refresh-token family (`revoke_user_families`, so apps must sign in
again). Nothing on the account changes until a valid token is used (E4): the token is redeemed
by the same transaction, first.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from authserver.db.models import User
from authserver.db.types import utcnow
from authserver.domain import account_tokens, audit, browser_sessions, token_families


class TokenInvalid(Exception):
    """The link expired, was used, or was replaced by a newer one."""


async def _set(session: AsyncSession, user_id: str, password_hash: str, *, keep_session: str | None) -> None:
    await session.execute(
        update(User).where(User.id == user_id).values(password_hash=password_hash, updated_at=utcnow())
    )
    await account_tokens.revoke_for_user(session, user_id, account_tokens.PASSWORD_RESET)
    await browser_sessions.end_all_for_user(session, user_id, keep=keep_session)
    await token_families.revoke_user_families(session, user_id, "password_changed")


async def reset(session: AsyncSession, token: object, password_hash: str, *, ip: str | None) -> User:
    """Redeem a reset token and set the password; `TokenInvalid` changes nothing."""
    redeemed = await account_tokens.redeem(session, token, account_tokens.PASSWORD_RESET)
    user = await session.get(User, redeemed.user_id) if redeemed is not None else None
    if user is None or user.disabled:
        raise TokenInvalid
    await _set(session, user.id, password_hash, keep_session=None)
    await audit.record(session, "password.reset", user_id=user.id, ip=ip)
    return user


async def change(
    session: AsyncSession, user: User, password_hash: str, *, current_session: str, ip: str | None
) -> None:
    """The signed-in person proved the current password; this browser stays signed in."""
    await _set(session, user.id, password_hash, keep_session=current_session)
    await audit.record(session, "password.changed", user_id=user.id, ip=ip)
