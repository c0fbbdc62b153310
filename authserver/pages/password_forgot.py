"""Forgotten password: `GET /password/forgot` (the page) and `POST /password/forgot` (the page's
form, or the JSON API with `{"email": ...}`).

E1: the answer is the same for every well-formed address, whether or not an account uses it, and
so is the work done before answering (the per-IP limit's one counter update): looking the
account up, issuing the token and sending the mail happen after the response
(`account_mail.send_reset_link`, a background task), so timing does not tell either.
"""

from __future__ import annotations

from typing import Any

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from authserver import account_mail
from authserver.context import AppContext
from authserver.domain import users
from authserver.domain.errors import DomainError
from authserver.domain.rate_limits import address_key
from authserver.http.errors import NO_STORE, ApiError
from authserver.pages import browser
from authserver.pages.rendering import render

ACTION = "/password/forgot"


def _page(ctx: AppContext, csrf: str, **context: Any) -> Response:
    return render(
        "password_forgot.html",
        status=400 if context.get("message") else 200,
        csrf=csrf,
        action=ACTION,
        button="Send me a link",
        minutes=ctx.settings.password_reset_ttl // 60,
        **context,
    )


async def forgot_page(request: Request) -> Response:
    ctx: AppContext = request.app.state.ctx
    current, is_new = await browser.page_session(request)
    return browser.with_cookie(_page(ctx, current.csrf_token, email=""), ctx.settings, current, is_new)


async def forgot_submit(request: Request) -> Response:
    ctx: AppContext = request.app.state.ctx
    params, page = await browser.read_api_or_page(request)
    csrf = ""
    if page:
        async with ctx.transaction() as session:
            csrf = browser.require_csrf(await browser.current(request, session), params).csrf_token
    elif set(params) - {"email"}:
        raise ApiError(400, "invalid_request", f"Unknown field {sorted(set(params) - {'email'})[0]!r}.")
    email = params.get("email", "")
    try:
        users.normalize_email(email)  # the shape only: the same for every address
    except DomainError as error:
        if not page:
            raise
        return _page(ctx, csrf, email=browser.text(params, "email", 320), message=error.message)
    ip = browser.client_ip(request)
    await ctx.limiter.enforce("password_forgot_per_ip", address_key(ip), ip=ip)
    response: Response
    if page:
        response = _page(ctx, csrf, sent=True)
    else:
        response = JSONResponse({"status": "accepted"}, status_code=202, headers=NO_STORE)
    response.background = BackgroundTask(account_mail.send_reset_link, ctx, email, ip)
    return response
