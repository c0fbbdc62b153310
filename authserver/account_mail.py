"""The mails of an account's life: reset links, verification links, password-changed notices.

Each function here runs after the response was sent (a Starlette `BackgroundTask`), so a caller
answers a forgotten-password request for an unknown address exactly as for a known one, in the
same time: the lookup, the token and the mail all happen later (E1). Links are built from the
configured issuer, never from a request's Host header (E3).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from authserver.context import AppContext
from authserver.db.models import User
from authserver.db.types import utcnow
from authserver.domain import account_tokens, audit, users
from authserver.limiter import RateLimited
from authserver.mail import compose, deliver
from authserver.pages.rendering import templates_dir

log = logging.getLogger("authserver.mail")


async def _send(ctx: AppContext, user: User, template: str, **context: object) -> bool:
    message = compose(
        templates_dir(),
        template,
        sender=ctx.settings.mail_from,
        to=user.email,
        username=user.username,
        email=user.email,
        issuer=ctx.settings.issuer,
        **context,
    )
    return await deliver(ctx.mailer, message)


async def send_reset_link(ctx: AppContext, email: str, ip: str | None) -> None:
    """`POST /password/forgot`'s work. Per account (known or not) at most
    `AUTHSERVER_RATE_LIMIT_PASSWORD_FORGOT_PER_ACCOUNT` mails; more are dropped silently, since
    the answer was already given."""
    key = users.email_key(email)
    try:
        await ctx.limiter.enforce("password_forgot_per_account", ctx.limiter.subject(key), ip=ip)
    except RateLimited:
        return
    lifetime = timedelta(seconds=ctx.settings.password_reset_ttl)
    async with ctx.transaction() as session:
        user = await users.find_by_email(session, email)
        if user is None or user.disabled:
            await audit.record(
                session, "password.reset_requested", ip=ip, outcome="failure", reason="no_account"
            )
            return
        token = await account_tokens.issue(session, user, account_tokens.PASSWORD_RESET, lifetime)
        await audit.record(session, "password.reset_requested", user_id=user.id, ip=ip)
    link = f"{ctx.settings.issuer}/password/reset?token={token}"
    await _send(ctx, user, "password_reset", link=link, minutes=ctx.settings.password_reset_ttl // 60)


async def send_verification(ctx: AppContext, user_id: str, ip: str | None = None) -> None:
    """A new verification link (the older one dies); after signup and on a resend."""
    lifetime = timedelta(seconds=ctx.settings.email_verification_ttl)
    async with ctx.transaction() as session:
        user = await session.get(User, user_id)
        if user is None or user.email_verified or user.disabled:
            return
        token = await account_tokens.issue(session, user, account_tokens.EMAIL_VERIFICATION, lifetime)
        await audit.record(session, "email.verification_sent", user_id=user.id, ip=ip)
    link = f"{ctx.settings.issuer}/email/verify?token={token}"
    await _send(ctx, user, "email_verification", link=link, hours=ctx.settings.email_verification_ttl // 3600)


async def resend_verification(ctx: AppContext, email: str, ip: str | None) -> None:
    """A resend asked for by address: throttled per account like forgotten passwords."""
    key = users.email_key(email)
    try:
        await ctx.limiter.enforce("verification_resend_per_account", ctx.limiter.subject(key), ip=ip)
    except RateLimited:
        return
    async with ctx.transaction() as session:
        user = await users.find_by_email(session, email)
    if user is not None:
        await send_verification(ctx, user.id, ip)


async def send_password_changed(ctx: AppContext, user_id: str, how: str) -> None:
    """E5: a notice, so a person whose password someone else changed finds out."""
    async with ctx.transaction() as session:
        user = await session.get(User, user_id)
    if user is not None:
        await _send(ctx, user, "password_changed", how=how, when=utcnow().strftime("%Y-%m-%d %H:%M"))
