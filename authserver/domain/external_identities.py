"""Local accounts linked to users of a trusted identity source (Better Auth).

Identity is the pair (`issuer`, `subject`), the outside user's stable id; an email is never an
identity (checklist E7). A link is made in exactly two ways:

- an operator links an existing account (`authserver identities link`), having checked for
  themselves that both belong to the same person;
- when `AUTHSERVER_BETTER_AUTH_AUTO_CREATE_USERS` is on, a *new* local account is created for an
  outside user on their first token exchange.

There is deliberately no third way: an outside user whose email matches an existing local account
is never linked to it, verified or not. The outside system's verification is its own business;
trusting it to take over an account that has its own password would let whoever controls that
system's email checks (or a misconfiguration of them) sign in as our user.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from authserver.db.models import ExternalIdentity, User
from authserver.db.rows import affected
from authserver.domain import audit
from authserver.domain.errors import AccountExists, InvalidInput, NotFound
from authserver.domain.passwords import PasswordHasher
from authserver.domain.users import get_user, normalize_email

MAX_ISSUER_LENGTH = 255
MAX_SUBJECT_LENGTH = 255
OPERATOR = "operator"
AUTO = "auto"


def check_identity(issuer: str, subject: str) -> None:
    """Both parts are non-empty printable strings that fit their columns."""
    checks = ((issuer, MAX_ISSUER_LENGTH, "issuer"), (subject, MAX_SUBJECT_LENGTH, "subject"))
    for value, limit, field in checks:
        if not value or len(value) > limit or not value.isprintable():
            raise InvalidInput(f"The {field} must be 1 to {limit} printable characters.", field=field)


async def linked_user(session: AsyncSession, issuer: str, subject: str) -> User | None:
    """The local account linked to (`issuer`, `subject`), or None."""
    return await session.scalar(
        select(User)
        .join(ExternalIdentity, ExternalIdentity.user_id == User.id)
        .where(ExternalIdentity.issuer == issuer, ExternalIdentity.subject == subject)
    )


async def link(
    session: AsyncSession,
    *,
    issuer: str,
    subject: str,
    user_ref: str,
    linked_by: str = OPERATOR,
) -> ExternalIdentity:
    """Link an existing account (by id, email or username) to an outside user.

    Refused when the outside user is already linked (to anyone) or the account already has a link
    for this issuer: a link is changed by unlinking first, so nobody moves one by accident.
    """
    check_identity(issuer, subject)
    user = await get_user(session, user_ref)
    row = ExternalIdentity(issuer=issuer, subject=subject, user_id=user.id, linked_by=linked_by)
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        raise AccountExists(
            "That outside user is already linked, or this account already has a link for that issuer."
        ) from None
    await audit.record(
        session, "identity.linked", user_id=user.id, issuer=issuer, subject=subject, how=linked_by
    )
    return row


async def unlink(session: AsyncSession, *, issuer: str, subject: str) -> str:
    """Remove a link; returns the local user id it pointed to. Tokens already issued stay valid
    until they expire or are revoked (`authserver users disable` revokes them all)."""
    user_id = await session.scalar(
        select(ExternalIdentity.user_id).where(
            ExternalIdentity.issuer == issuer, ExternalIdentity.subject == subject
        )
    )
    if user_id is None:
        raise NotFound("No such link.")
    result = await session.execute(
        delete(ExternalIdentity).where(ExternalIdentity.issuer == issuer, ExternalIdentity.subject == subject)
    )
    if affected(result):
        await audit.record(session, "identity.unlinked", user_id=user_id, issuer=issuer, subject=subject)
    return user_id


async def list_links(session: AsyncSession, user_ref: str | None = None) -> Sequence[ExternalIdentity]:
    query = select(ExternalIdentity).order_by(ExternalIdentity.created_at, ExternalIdentity.subject)
    if user_ref is not None:
        user = await get_user(session, user_ref)
        query = query.where(ExternalIdentity.user_id == user.id)
    return (await session.scalars(query)).all()


@dataclass(frozen=True)
class OutsideUser:
    """What a trusted source asserted about its user, after its token was verified."""

    issuer: str
    subject: str
    email: str | None
    email_verified: bool


class NotCreated(Exception):
    """An account could not be created for an outside user; `reason` is for the audit log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def username_for(issuer: str, subject: str) -> str:
    """A stable username from the identity itself: `ba-` and 16 hex digits of its SHA-256.

    Deterministic, so a retry after a lost response finds the same name; never the outside
    user's own name or email, which could collide with, or impersonate, a local username.
    """
    digest = hashlib.sha256(f"{issuer}\n{subject}".encode()).hexdigest()
    return f"ba-{digest[:16]}"


async def unusable_password_hash(hasher: PasswordHasher) -> str:
    """A real argon2 hash of 256 random bits nobody knows: the account has no usable password,
    yet a login attempt on it costs the same time as on any other (B2)."""
    return await hasher.hash(secrets.token_urlsafe(32))


async def create_linked_user(
    session: AsyncSession, outside: OutsideUser, password_hash: str, *, client_id: str | None = None
) -> User:
    """Create a local account for an outside user and link it, in one transaction.

    Only an outside user whose email the source says it verified gets an account
    (`NotCreated("email_unverified")` otherwise): an account made from an unverified address would
    let whoever typed someone else's email there hold a link to the account that person later
    takes over by password reset (account pre-hijacking). If that email, or the derived username, is taken by
    another account, nothing is created (`NotCreated("email_taken")`): that account may belong
    to someone else, and an operator decides. A concurrent first exchange for the same outside
    user loses on the primary key and then finds the winner's link (`linked_user`).
    """
    check_identity(outside.issuer, outside.subject)
    if not outside.email:
        raise NotCreated("no_email")
    if not outside.email_verified:
        raise NotCreated("email_unverified")
    try:
        shown_email, email_key = normalize_email(outside.email)
    except InvalidInput:
        raise NotCreated("bad_email") from None
    username = username_for(outside.issuer, outside.subject)
    user = User(
        id=str(uuid.uuid4()),
        email=shown_email,
        email_normalized=email_key,
        username=username,
        username_normalized=username,
        password_hash=password_hash,
        email_verified=True,
    )
    try:
        async with session.begin_nested():
            session.add(user)
            await session.flush()
            link = ExternalIdentity(
                issuer=outside.issuer, subject=outside.subject, user_id=user.id, linked_by=AUTO
            )
            session.add(link)
            await session.flush()
    except IntegrityError:
        raise NotCreated("email_taken") from None
    await audit.record(session, "user.created", user_id=user.id, client_id=client_id, source="better_auth")
    await audit.record(
        session,
        "identity.linked",
        user_id=user.id,
        client_id=client_id,
        issuer=outside.issuer,
        subject=outside.subject,
        how=AUTO,
    )
    return user
