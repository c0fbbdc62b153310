"""Email verification (E6): `GET /email/verify?token=...` shows a button, `POST /email/verify`
(the page's form, or the JSON API with `{"token"}`) uses the token. A GET never verifies: mail
scanners open links. `GET`/`POST /email/verify/resend` sends a new link (the old one dies),
throttled per IP and per account, with the same answer for every address.

Verifying sets `email_verified`, which the ID token and userinfo report (OIDC Core §5.1), only
if the account's address is still the one the token was sent to.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from authserver import account_mail
from authserver.context import AppContext
from authserver.db.models import User
from authserver.db.types import utcnow
from authserver.domain import account_tokens, audit, users
from authserver.domain.errors import DomainError
from authserver.domain.rate_limits import address_key
from authserver.http.errors import NO_STORE, ApiError
from authserver.pages import browser
from authserver.pages.browser import PageError
from authserver.pages.rendering import redirect, render

RESEND = "/email/verify/resend"


async def verify_page(request: Request) -> Response:
    return await browser.emailed_token_page(request, account_tokens.EMAIL_VERIFICATION, "email_verify.html")


async def verify_submit(request: Request) -> Response:
    ctx: AppContext = request.app.state.ctx
    params, page = await browser.read_api_or_page(request)
    ip = browser.client_ip(request)
    async with ctx.transaction() as session:
        if page:
            browser.require_csrf(await browser.current(request, session), params)
        purpose = account_tokens.EMAIL_VERIFICATION
        redeemed = await account_tokens.redeem(session, params.get("token"), purpose)
        user = await session.get(User, redeemed.user_id) if redeemed is not None else None
        if redeemed is None or user is None or user.email_normalized != redeemed.email:
            if page:
                raise PageError("token_invalid", 400)
            raise ApiError(400, "invalid_token", "This link has expired, was already used, or was replaced.")
        await session.execute(
            update(User).where(User.id == user.id).values(email_verified=True, updated_at=utcnow())
        )
        await audit.record(session, "email.verified", user_id=user.id, ip=ip)
        email = user.email
    if page:
        return render("email_verify.html", done=True, email=email)
    return JSONResponse({"status": "verified"}, headers=NO_STORE)


def _resend_page(csrf: str, **context: Any) -> Response:
    return render(
        "password_forgot.html",
        status=400 if context.get("message") else 200,
        csrf=csrf,
        action=RESEND,
        button="Send me a new link",
        **context,
    )


async def resend_page(request: Request) -> Response:
    ctx: AppContext = request.app.state.ctx
    current, is_new = await browser.page_session(request)
    return browser.with_cookie(_resend_page(current.csrf_token, email=""), ctx.settings, current, is_new)


async def resend_submit(request: Request) -> Response:
    ctx: AppContext = request.app.state.ctx
    params, page = await browser.read_api_or_page(request)
    signed_in = False
    csrf = ""
    if page:
        async with ctx.transaction() as session:
            current = browser.require_csrf(await browser.current(request, session), params)
            csrf, signed_in = current.csrf_token, current.user is not None
    email = params.get("email", "")
    try:
        users.normalize_email(email)
    except DomainError as error:
        if not page:
            raise
        return _resend_page(csrf, email=browser.text(params, "email", 320), message=error.message)
    ip = browser.client_ip(request)
    await ctx.limiter.enforce("verification_resend_per_ip", address_key(ip), ip=ip)
    response: Response
    if signed_in:
        response = redirect("/account?done=verification_sent", after_post=True)
    elif page:
        response = render("email_verify.html", resent=True, csrf=csrf)
    else:
        response = JSONResponse({"status": "accepted"}, status_code=202, headers=NO_STORE)
    response.background = BackgroundTask(account_mail.resend_verification, ctx, email, ip)
    return response
