"""Browser sessions at the pages: server-side rows, cookies that carry only a random secret.

Checklist S2/S3: the cookie value is 256 bits from the CSPRNG and only its SHA-256 is stored; a
session ends at an idle timeout and at an absolute lifetime, both checked in the query; logging
in always creates a new session and deletes the one the browser had (no fixation: whatever id an
attacker planted before login is dead afterwards); logging out deletes the row, so a replayed
cookie finds nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from authserver.db.models import BrowserSession, PendingAuthorization, User
from authserver.db.rows import affected
from authserver.db.types import utcnow
from authserver.domain.token_families import digest

# A session's last_seen_at is written at most this often: a page view is not worth a write each time.
TOUCH_EVERY = timedelta(seconds=60)
SECRET_MAX_LENGTH = 64  # a cookie longer than any we issue is not looked up at all


@dataclass(frozen=True)
class Lifetimes:
    idle: timedelta
    absolute: timedelta


@dataclass(frozen=True)
class Current:
    """The browser's session as one request sees it: the row, its user (if signed in), the secret."""

    row: BrowserSession
    user: User | None
    secret: str

    @property
    def csrf_token(self) -> str:
        return csrf_token(self.secret)


def csrf_token(secret: str) -> str:
    """The synchronizer token for forms (OWASP CSRF cheat sheet): an HMAC of the session secret.

    Bound to the session (another session's token never matches), stored nowhere, and it changes
    at login together with the session.
    """
    mac = hmac.new(secret.encode("ascii"), b"authserver csrf v1", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def csrf_matches(current: Current | None, presented: object) -> bool:
    if current is None or not isinstance(presented, str) or not presented.isascii():
        return False
    return hmac.compare_digest(current.csrf_token.encode("ascii"), presented.encode("ascii"))


def _usable_secret(secret: object) -> str | None:
    if not isinstance(secret, str) or not secret or len(secret) > SECRET_MAX_LENGTH:
        return None
    return secret if secret.isascii() and secret.isprintable() else None


async def load(session: AsyncSession, secret: object, lifetimes: Lifetimes) -> Current | None:
    """The live session for a cookie value, or None (unknown, idle, expired, or logged out)."""
    usable = _usable_secret(secret)
    if usable is None:
        return None
    now = utcnow()
    row = (
        await session.execute(
            select(BrowserSession, User)
            .outerjoin(User, User.id == BrowserSession.user_id)
            .where(
                BrowserSession.secret_sha256 == digest(usable),
                BrowserSession.expires_at > now,
                BrowserSession.last_seen_at > now - lifetimes.idle,
            )
        )
    ).first()
    if row is None:
        return None
    browser, user = row[0], row[1]
    if user is not None and user.disabled:
        # A disabled account is signed out for good: enabling it again does not revive the session.
        await session.execute(delete(BrowserSession).where(BrowserSession.id == browser.id))
        return None
    if browser.last_seen_at < now - TOUCH_EVERY:
        await session.execute(
            update(BrowserSession).where(BrowserSession.id == browser.id).values(last_seen_at=now)
        )
    return Current(browser, user, usable)


async def start(
    session: AsyncSession,
    lifetimes: Lifetimes,
    *,
    user: User | None = None,
    user_agent: str = "",
    replaces: Current | None = None,
) -> Current:
    """A new session (pre-login when `user` is None). `replaces` is deleted and its pending
    authorization requests move to the new session, so a flow survives the login that ends it."""
    now = utcnow()
    secret = secrets.token_urlsafe(32)
    row = BrowserSession(
        id=str(uuid.uuid4()),
        secret_sha256=digest(secret),
        user_id=user.id if user is not None else None,
        auth_time=now if user is not None else None,
        user_agent=user_agent[:200],
        created_at=now,
        last_seen_at=now,
        expires_at=now + lifetimes.absolute,
    )
    session.add(row)
    await session.flush()
    if replaces is not None:
        await session.execute(
            update(PendingAuthorization)
            .where(PendingAuthorization.browser_session_id == replaces.row.id)
            .values(browser_session_id=row.id)
        )
        await session.execute(delete(BrowserSession).where(BrowserSession.id == replaces.row.id))
    return Current(row, user, secret)


async def end(session: AsyncSession, current: Current) -> None:
    await session.execute(delete(BrowserSession).where(BrowserSession.id == current.row.id))


async def list_for_user(
    session: AsyncSession, user_id: str, lifetimes: Lifetimes
) -> Sequence[BrowserSession]:
    now = utcnow()
    rows = await session.scalars(
        select(BrowserSession)
        .where(
            BrowserSession.user_id == user_id,
            BrowserSession.expires_at > now,
            BrowserSession.last_seen_at > now - lifetimes.idle,
        )
        .order_by(BrowserSession.last_seen_at.desc())
    )
    return rows.all()


async def end_others(session: AsyncSession, current: Current) -> int:
    """Sign the user out of every other browser (the account page's "end the others")."""
    assert current.user is not None
    result = await session.execute(
        delete(BrowserSession).where(
            BrowserSession.user_id == current.user.id, BrowserSession.id != current.row.id
        )
    )
    return affected(result)


async def prune_expired(session: AsyncSession, lifetimes: Lifetimes) -> int:
    """Delete dead sessions (their pending requests go with them by ON DELETE CASCADE)."""
    now = utcnow()
    result = await session.execute(
        delete(BrowserSession).where(
            (BrowserSession.expires_at <= now) | (BrowserSession.last_seen_at <= now - lifetimes.idle)
        )
    )
    await session.execute(delete(PendingAuthorization).where(PendingAuthorization.expires_at <= now))
    return affected(result)


def auth_time_of(current: Current | None) -> datetime | None:
    return current.row.auth_time if current is not None and current.user is not None else None


async def end_all_for_user(session: AsyncSession, user_id: str, *, keep: str | None = None) -> int:
    """Sign the user out of every browser (a password reset), or of all but `keep` (a change)."""
    query = delete(BrowserSession).where(BrowserSession.user_id == user_id)
    if keep is not None:
        query = query.where(BrowserSession.id != keep)
    return affected(await session.execute(query))
