"""Choosing a new password with a mailed link: `GET /password/reset?token=...` (the page) and
`POST /password/reset` (the page's form, or the JSON API with `{"token", "password"}`).

The link is checked when the page opens but used only by the POST, after signup's policy accepted
the new password (E4: nothing changes before). One transaction redeems the token and sets the
hash (`password_changes.reset`); the hash is computed before it, with no connection held. Then
every browser session and refresh-token family of the user is gone (E5), the person is not
signed in (they sign in with the new password), and a notice is mailed.
"""

from __future__ import annotations

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from authserver import account_mail
from authserver.context import AppContext
from authserver.domain import account_tokens, password_changes, users
from authserver.domain.errors import DomainError
from authserver.domain.rate_limits import address_key
from authserver.http.errors import NO_STORE, ApiError
from authserver.pages import browser
from authserver.pages.browser import PageError
from authserver.pages.rendering import render

INVALID = "This reset link has expired, was already used, or a newer one was sent."


def _invalid(page: bool) -> Exception:
    if page:
        return PageError("token_invalid", 400)
    return ApiError(400, "invalid_token", INVALID, field="token")


async def reset_page(request: Request) -> Response:
    return await browser.emailed_token_page(request, account_tokens.PASSWORD_RESET, "password_reset.html")


async def reset_submit(request: Request) -> Response:
    ctx: AppContext = request.app.state.ctx
    params, page = await browser.read_api_or_page(request)
    csrf = ""
    if page:
        async with ctx.transaction() as session:
            csrf = browser.require_csrf(await browser.current(request, session), params).csrf_token
    elif set(params) - {"token", "password"}:
        raise ApiError(400, "invalid_request", "Send only token and password.")
    ip = browser.client_ip(request)
    await ctx.limiter.enforce("password_reset_per_ip", address_key(ip), ip=ip)
    token, password = params.get("token", ""), params.get("password", "")
    async with ctx.transaction() as session:
        user = await account_tokens.peek(session, token, account_tokens.PASSWORD_RESET)
    if user is None:
        raise _invalid(page)
    try:
        users.check_new_password(ctx.password_rules, user, password)
    except DomainError as error:
        if not page:
            raise
        return render("password_reset.html", status=400, csrf=csrf, token=token, message=error.message)
    password_hash = await ctx.hasher.hash(password)  # before the transaction: no connection held
    try:
        async with ctx.transaction() as session:
            changed = await password_changes.reset(session, token, password_hash, ip=ip)
    except password_changes.TokenInvalid:
        raise _invalid(page) from None  # used or replaced between the check and now
    response: Response
    if page:
        response = render("password_reset.html", done=True)
        browser.clear_cookie(response, ctx.settings)
    else:
        response = JSONResponse({"status": "password_changed"}, headers=NO_STORE)
    response.background = BackgroundTask(account_mail.send_password_changed, ctx, changed.id, "reset")
    return response
