"""Accounts: signup validation, the signin core, roles and disabling.

The signin core is shared by the password grant and (later) the login page, so its guarantees live
here once: unknown user, wrong password and disabled account are indistinguishable in result and
in time (B1, B2), and a hash made with older argon2 parameters is replaced on a successful login.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from authserver.db.models import User, UserRole
from authserver.db.rows import affected
from authserver.db.types import utcnow
from authserver.domain import audit, change_counters, identifiers, token_families
from authserver.domain.errors import AccountExists, InvalidInput, NotFound
from authserver.domain.passwords import PasswordHasher, check_password_policy, normalize_password

# Usernames: 3-32 characters, ASCII letters, digits, '.', '_' and '-', starting with a letter or digit.
# ASCII only, so two usernames cannot look alike (no homoglyphs) and none can contain '@'.
USERNAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{2,31}")
ROLE_RE = re.compile(r"[a-z][a-z0-9_.:-]{0,63}")
SERVICE_NAME = "authserver"


@dataclass(frozen=True)
class PasswordRules:
    min_length: int
    max_length: int


def normalize_email(raw: object) -> tuple[str, str]:
    """Return (email as it will be shown, lower-cased key for uniqueness).

    Only ASCII addresses are accepted: internationalised local parts have several encodings of
    the same text and many mail systems refuse them, which would make verification unreliable.
    An internationalised domain is kept in its one ASCII (IDNA, `xn--`) form, the form typed
    here and the form `email_key` looks up, so a user can always sign in with what they typed.
    """
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidInput("Email is required.", field="email")
    if raw != raw.strip() or any(ch.isspace() for ch in raw):
        raise InvalidInput("Email must not contain spaces.", field="email")
    if len(raw) > 254:
        raise InvalidInput("Email is too long.", field="email")
    if not raw.isascii():
        raise InvalidInput("Email must use ASCII characters only.", field="email")
    try:
        result = validate_email(raw, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise InvalidInput(f"Email is not valid: {exc}", field="email") from None
    shown = result.ascii_email or result.normalized
    return shown, shown.lower()


def email_key(typed: str) -> str:
    """The lookup key for an email typed at sign-in: the same form `normalize_email` stores,
    whether the domain was typed as Unicode or as `xn--`."""
    try:
        result = validate_email(typed.strip(), check_deliverability=False, allow_smtputf8=False)
    except (EmailNotValidError, UnicodeError, ValueError):
        return typed.strip().lower()
    return (result.ascii_email or result.normalized).lower()


def normalize_username(raw: object) -> tuple[str, str]:
    if not isinstance(raw, str) or not raw:
        raise InvalidInput("Username is required.", field="username")
    if not USERNAME_RE.fullmatch(raw):
        raise InvalidInput(
            "Username must be 3 to 32 characters: letters, digits, '.', '_' or '-', "
            "starting with a letter or digit.",
            field="username",
        )
    return raw, raw.lower()


def normalize_role(raw: str) -> str:
    if not ROLE_RE.fullmatch(raw):
        raise InvalidInput(
            "Role must be 1 to 64 characters: lower-case letters, digits, '_', '.', ':' or '-', "
            "starting with a letter.",
            field="role",
        )
    return raw


async def create_user(
    session: AsyncSession,
    hasher: PasswordHasher,
    rules: PasswordRules,
    *,
    email: object,
    username: object,
    password: object,
    roles: Iterable[str] = (),
    ip: str | None = None,
) -> User:
    """Validate, hash and insert one user; the unique indexes settle concurrent duplicates.

    The password is hashed before the first query, whether or not the account exists: a taken
    email costs the same argon2 work as a free one, so timing does not tell them apart (U9), and
    no database connection is held while the hash waits for a free argon2 slot (a signup flood
    must not starve the token endpoint of connections).
    """
    shown_email, email_key = normalize_email(email)
    shown_username, username_key = normalize_username(username)
    if not isinstance(password, str) or not password:
        raise InvalidInput("Password is required.", field="password")
    role_list = sorted({normalize_role(r) for r in roles})
    check_password_policy(
        password,
        min_length=rules.min_length,
        max_length=rules.max_length,
        context=(username_key, email_key, email_key.split("@", 1)[0], SERVICE_NAME),
    )
    password_hash = await hasher.hash(password)
    if await _exists(session, email_key, username_key):
        raise AccountExists("An account with this email or username already exists.")
    user = User(
        id=str(uuid.uuid4()),
        email=shown_email,
        email_normalized=email_key,
        username=shown_username,
        username_normalized=username_key,
        password_hash=password_hash,
    )
    try:
        async with session.begin_nested():
            session.add(user)
            await session.flush()
            session.add_all(UserRole(user_id=user.id, role=r) for r in role_list)
            await session.flush()
    except IntegrityError:
        raise AccountExists("An account with this email or username already exists.") from None
    await audit.record(session, "user.created", user_id=user.id, ip=ip)
    return user


async def _exists(session: AsyncSession, email_key: str, username_key: str) -> bool:
    found = await session.scalar(
        select(User.id).where(
            (User.email_normalized == email_key) | (User.username_normalized == username_key)
        )
    )
    return found is not None


def identifier_key(identifier: str) -> str:
    """What an identifier typed at sign-in is looked up as (the stored lower-cased form)."""
    return email_key(identifier) if "@" in identifier else identifier.strip().lower()


async def find_by_identifier(session: AsyncSession, identifier: str) -> User | None:
    """Email if it has an '@' (usernames cannot), else username; both compared lower-cased."""
    column = User.email_normalized if "@" in identifier else User.username_normalized
    return (await session.scalars(select(User).where(column == identifier_key(identifier)))).one_or_none()


@dataclass(frozen=True)
class SigninCheck:
    """The outcome of checking credentials, before anything is written."""

    user: User | None
    reason: str | None = None  # why it failed: for the audit row, never shown to the person
    user_id: str | None = None  # the account the identifier matched, if any
    account: str | None = None  # the brute-force counters' name for the account (see SigninGate)

    @property
    def password_ok(self) -> bool:
        """The password was right (the sign-in may still be refused for an unverified email)."""
        return self.user is not None or self.reason == "unverified"


UserLookup = Callable[[str], Awaitable[User | None]]


class SigninGate(Protocol):
    """Brute-force protection around the password check (`domain/signin_throttle.py`)."""

    def account_for(self, identifier_key: str) -> str:
        """The counter name for an identifier that matched no user (a keyed digest)."""
        ...

    async def check(self, account: str, user_id: str | None) -> None:
        """Before argon2: wait, or raise `TooManyAttempts`."""
        ...


async def check_credentials(
    lookup: UserLookup,
    hasher: PasswordHasher,
    identifier: object,
    password: object,
    *,
    max_password_length: int,
    gate: SigninGate | None = None,
    require_verified_email: bool = False,
) -> SigninCheck:
    """The signin core: the user, or a failure, with the same argon2 work done either way (B1, B2).

    `lookup` finds a user by identifier (see `find_by_identifier`); callers give it a session of
    its own, so no database connection is held while argon2 runs (tens of milliseconds, queued
    behind other hashes under load). The length limit is checked on the NFKC-normalised
    password, the text signup measured, so a password accepted at signup is never refused here
    for its length.

    `gate` runs after the lookup and before argon2, for a known and an unknown identifier alike
    (an unknown one is counted under a digest of what was typed), so the brute-force limits
    treat both the same way (B1). With `require_verified_email`, the right password for an
    unverified address fails with reason `unverified`: only someone who knows the password
    learns that the account exists and waits for verification.
    """
    if not isinstance(identifier, str) or not isinstance(password, str) or not password:
        return SigninCheck(None, "malformed")
    if len(identifier) > 320 or not identifiers.is_encodable(identifier + password):
        return SigninCheck(None, "malformed")
    # Bound the raw text before normalising it, then apply signup's rule to the normalised form.
    if len(password) > 4 * max_password_length or len(normalize_password(password)) > max_password_length:
        return SigninCheck(None, "malformed")  # never hash unbounded input
    user = None if identifiers.has_control_character(identifier) else await lookup(identifier)
    account = user.id if user is not None else None
    if gate is not None:
        account = account or gate.account_for(identifier_key(identifier))
        await gate.check(account, user.id if user is not None else None)
    if user is None:
        await hasher.verify_dummy(password)
        return SigninCheck(None, "unknown_user", account=account)
    ok = await hasher.verify(user.password_hash, password)
    if not ok or user.disabled:
        return SigninCheck(None, "disabled" if ok else "bad_password", user.id, account)
    if require_verified_email and not user.email_verified:
        return SigninCheck(None, "unverified", user.id, account)
    return SigninCheck(user, None, user.id, account)


async def record_signin(
    session: AsyncSession,
    hasher: PasswordHasher,
    check: SigninCheck,
    password: str,
    *,
    client_id: str | None = None,
    ip: str | None = None,
) -> None:
    """Audit the attempt (L2) with the user id when one matched, never the identifier typed:
    people paste passwords into username fields. A success also upgrades an old hash."""
    if check.user is None:
        await audit.record(
            session, "login.failed", user_id=check.user_id, client_id=client_id, ip=ip, reason=check.reason
        )
        return
    user = check.user
    await audit.record(session, "login.succeeded", user_id=user.id, client_id=client_id, ip=ip)
    if hasher.needs_rehash(user.password_hash):
        user.password_hash = await hasher.hash(password)
        # An UPDATE by id: `user` may come from another (short) session.
        await session.execute(
            update(User)
            .where(User.id == user.id)
            .values(password_hash=user.password_hash, updated_at=utcnow())
        )


async def authenticate(
    session: AsyncSession,
    hasher: PasswordHasher,
    identifier: object,
    password: object,
    *,
    max_password_length: int,
    client_id: str | None = None,
    ip: str | None = None,
) -> User | None:
    """`check_credentials` then `record_signin` on the same session: the user, or None."""

    async def lookup(typed: str) -> User | None:
        return await find_by_identifier(session, typed)

    check = await check_credentials(
        lookup, hasher, identifier, password, max_password_length=max_password_length
    )
    await record_signin(
        session, hasher, check, password if isinstance(password, str) else "", client_id=client_id, ip=ip
    )
    return check.user


async def get_user(session: AsyncSession, ref: str) -> User:
    """A user by id, email or username (what an operator types)."""
    user = await session.get(User, ref) if len(ref) == 36 else None
    if user is None:
        user = await find_by_identifier(session, ref)
    if user is None:
        raise NotFound("No such user.")
    return user


async def roles_of(session: AsyncSession, user_id: str) -> list[str]:
    rows = await session.scalars(
        select(UserRole.role).where(UserRole.user_id == user_id).order_by(UserRole.role)
    )
    return list(rows)


async def list_users(session: AsyncSession) -> Sequence[tuple[User, list[str]]]:
    users = (await session.scalars(select(User).order_by(User.created_at, User.id))).all()
    roles: dict[str, list[str]] = {}
    for user_id, role in await session.execute(
        select(UserRole.user_id, UserRole.role).order_by(UserRole.role)
    ):
        roles.setdefault(user_id, []).append(role)
    return [(u, roles.get(u.id, [])) for u in users]


async def set_disabled(session: AsyncSession, ref: str, disabled: bool) -> User:
    user = await get_user(session, ref)
    await session.execute(
        update(User).where(User.id == user.id).values(disabled=disabled, updated_at=utcnow())
    )
    user.disabled = disabled
    await change_counters.bump(session, change_counters.REVOCATIONS)  # cached verdicts name the user
    await audit.record(session, "user.disabled" if disabled else "user.enabled", user_id=user.id)
    if disabled:
        await token_families.revoke_user_families(session, user.id, "user_disabled")  # R5
    return user


async def add_role(session: AsyncSession, ref: str, role: str) -> list[str]:
    user = await get_user(session, ref)
    role = normalize_role(role)
    if role not in await roles_of(session, user.id):
        session.add(UserRole(user_id=user.id, role=role))
        await session.flush()
        await audit.record(session, "user.role_added", user_id=user.id, role=role)
    return await roles_of(session, user.id)


async def remove_role(session: AsyncSession, ref: str, role: str) -> list[str]:
    user = await get_user(session, ref)
    result = await session.execute(delete(UserRole).where(UserRole.user_id == user.id, UserRole.role == role))
    if affected(result):
        await audit.record(session, "user.role_removed", user_id=user.id, role=role)
    return await roles_of(session, user.id)


def check_new_password(rules: PasswordRules, user: User, password: object) -> str:
    """Signup's policy (U1-U4) for a new password of an existing account."""
    if not isinstance(password, str) or not password:
        raise InvalidInput("Password is required.", field="password")
    email = user.email_normalized
    check_password_policy(
        password,
        min_length=rules.min_length,
        max_length=rules.max_length,
        context=(user.username_normalized, email, email.split("@", 1)[0], SERVICE_NAME),
    )
    return password


async def find_by_email(session: AsyncSession, typed: str) -> User | None:
    return await session.scalar(select(User).where(User.email_normalized == email_key(typed)))
