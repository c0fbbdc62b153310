"""The account page: the apps a person allowed (withdraw one) and their signed-in browsers.

Withdrawing consent also ends that app's refresh-token families for the person
(`consents.withdraw`, checklist R5); "sign out other browsers" deletes every other session row,
so those cookies find nothing next time (S3). Both are CSRF-checked POSTs answered with 303 (A8).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from authserver.context import AppContext
from authserver.domain import browser_sessions, consents, identifiers
from authserver.domain.browser_sessions import Current
from authserver.pages import browser
from authserver.pages.browser import PageError
from authserver.pages.consent import scope_lines
from authserver.pages.rendering import redirect, render


async def account_page(request: Request) -> Response:
    ctx: AppContext = request.app.state.ctx
    async with ctx.transaction() as session:
        current = await browser.current(request, session)
        if current is None or current.user is None:
            return redirect("/login", after_post=False)
        apps = await consents.list_for_user(session, current.user.id)
        sessions = await browser_sessions.list_for_user(
            session, current.user.id, browser.lifetimes(ctx.settings)
        )
        return render(
            "account.html",
            csrf=current.csrf_token,
            user=current.user,
            apps=[(app, scope_lines(ctx, app.scopes)) for app in apps],
            sessions=sessions,
            current_id=current.row.id,
            notice=request.query_params.get("done"),
        )


def _signed_in(found: Current | None, form: dict[str, str]) -> Current:
    current = browser.require_csrf(found, form)
    if current.user is None:
        raise PageError("signed_out", 403)
    return current


async def withdraw_consent(request: Request) -> Response:
    ctx: AppContext = request.app.state.ctx
    form = await browser.read_page_form(request)
    async with ctx.transaction() as session:
        current = _signed_in(await browser.current(request, session), form)
        assert current.user is not None
        client_id = form.get("client_id", "")
        if not identifiers.is_client_id(client_id):
            raise PageError("bad_form")
        await consents.withdraw(session, current.user.id, client_id, ip=browser.client_ip(request))
    return redirect("/account?done=withdrawn", after_post=True)


async def end_other_sessions(request: Request) -> Response:
    ctx: AppContext = request.app.state.ctx
    form = await browser.read_page_form(request)
    async with ctx.transaction() as session:
        current = _signed_in(await browser.current(request, session), form)
        await browser_sessions.end_others(session, current)
    return redirect("/account?done=signed_out_others", after_post=True)
