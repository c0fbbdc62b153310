"""Changing the password on the account page (U6: the current password is required).

The current password goes through the signin core with the brute-force gate (a stolen session
cannot guess it freely) and is checked with no connection held; the new one meets signup's
policy. Then `password_changes.change` ends the user's other browsers, reset links and
refresh-token families; this browser stays signed in, and a notice is mailed.
"""

from __future__ import annotations

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response

from authserver import account_mail
from authserver.context import AppContext
from authserver.db.models import User
from authserver.domain import password_changes, users
from authserver.domain.browser_sessions import Current
from authserver.domain.errors import DomainError
from authserver.pages import browser
from authserver.pages.browser import PageError
from authserver.pages.rendering import redirect, render


def _page(current: Current, message: str | None = None) -> Response:
    assert current.user is not None
    return render(
        "password_change.html",
        status=400 if message else 200,
        csrf=current.csrf_token,
        username=current.user.username,
        message=message,
    )


async def change_page(request: Request) -> Response:
    ctx: AppContext = request.app.state.ctx
    async with ctx.transaction() as session:
        current = await browser.current(request, session)
    if current is None or current.user is None:
        return redirect("/login", after_post=False)
    return _page(current)


async def change_submit(request: Request) -> Response:
    ctx: AppContext = request.app.state.ctx
    form = await browser.read_page_form(request)
    async with ctx.transaction() as session:
        current = browser.require_csrf(await browser.current(request, session), form)
    user = current.user
    if user is None:
        raise PageError("signed_out", 403)
    ip = browser.client_ip(request)
    gate = ctx.limiter.signin_gate(ip)

    async def itself(_typed: str) -> User | None:
        return user

    check = await users.check_credentials(
        itself,
        ctx.hasher,
        user.username,
        form.get("current_password", ""),
        max_password_length=ctx.settings.password_max_length,
        gate=gate,
    )
    if check.user is None:
        return _page(current, "Your current password is not right.")
    await gate.succeeded(check.account)
    new_password = form.get("new_password", "")
    try:
        users.check_new_password(ctx.password_rules, user, new_password)
    except DomainError as error:
        return _page(current, error.message)
    password_hash = await ctx.hasher.hash(new_password)
    async with ctx.transaction() as session:
        await password_changes.change(session, user, password_hash, current_session=current.row.id, ip=ip)
    response = redirect("/account?done=password_changed", after_post=True)
    response.background = BackgroundTask(account_mail.send_password_changed, ctx, user.id, "changed")
    return response
