"""The signup page (/register): the same rules and messages as `POST /signup`, then signed in.

`prompt=create` (OpenID Connect Prompt Create 1.0) starts a flow here. The account is made by
the one domain service `users.create_user`, so the page and the API cannot drift apart. When
`AUTHSERVER_SIGNUP_REVEALS_CONFLICTS=false`, a taken email or username gets a neutral sentence
rather than "already exists"; the page still differs from a success (which signs the person in),
so only email verification, when it lands, can hide existence completely (README: Signup).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response

from authserver import account_mail
from authserver.context import AppContext
from authserver.domain import users
from authserver.domain.browser_sessions import Current
from authserver.domain.errors import AccountExists, DomainError
from authserver.domain.pending_requests import Pending
from authserver.domain.rate_limits import address_key
from authserver.pages import browser, flow
from authserver.pages.browser import PageError
from authserver.pages.rendering import redirect, render


def _page(
    current: Current,
    pending: Pending | None,
    client_name: str | None,
    *,
    form: dict[str, str] | None = None,
    message: str | None = None,
    field: str | None = None,
    conflict: bool = False,
) -> Response:
    values = form or {}
    return render(
        "signup.html",
        status=400 if message or conflict else 200,
        csrf=current.csrf_token,
        request_id=pending.id if pending else None,
        client_name=client_name,
        email=browser.text(values, "email", 320),
        username=browser.text(values, "username", 64),
        message=message,
        field=field,
        conflict=conflict,
        form_targets=[pending.params["redirect_uri"]] if pending else [],
    )


async def signup_page(request: Request) -> Response:
    ctx: AppContext = request.app.state.ctx
    if not ctx.settings.signup_enabled:
        raise PageError("signup_disabled", 403)
    async with ctx.transaction() as session:
        found = await browser.current(request, session)
        current = await browser.ensure(request, session, found)
        pending = await flow.find_pending(session, current, request.query_params.get("request"))
        response = _page(current, pending, await flow.client_name(session, pending))
    if found is None:
        browser.set_cookie(response, ctx.settings, current)
    return response


async def signup_submit(request: Request) -> Response:
    ctx: AppContext = request.app.state.ctx
    if not ctx.settings.signup_enabled:
        raise PageError("signup_disabled", 403)
    form = await browser.read_page_form(request)
    async with ctx.transaction() as session:  # CSRF first: a forged post costs no argon2 work (S5)
        browser.require_csrf(await browser.current(request, session), form)
    ip = browser.client_ip(request)
    await ctx.limiter.enforce("signup_per_ip", address_key(ip), ip=ip)  # U7: 429 page, before argon2
    # A new transaction: create_user hashes before its first query, so no connection is held
    # while argon2 waits for a slot (a signup flood must not starve other requests).
    async with ctx.transaction() as session:
        try:
            user = await users.create_user(
                session,
                ctx.hasher,
                ctx.password_rules,
                email=form.get("email"),
                username=form.get("username"),
                password=form.get("password"),
                ip=ip,
            )
        except AccountExists as error:
            current, pending, name = await _context(request, session, form)
            if ctx.settings.signup_reveals_conflicts:
                return _page(current, pending, name, form=form, message=error.message)
            return _page(current, pending, name, form=form, conflict=True)
        except DomainError as error:
            current, pending, name = await _context(request, session, form)
            return _page(current, pending, name, form=form, message=error.message, field=error.field)
        still = await browser.current(request, session)  # re-read: the first transaction ended
        pending = await flow.find_pending(session, still, form.get("request")) if still else None
        signed_in = await browser.sign_in(request, session, still, user)
        if pending is None:
            response = redirect("/account", after_post=True)
        else:
            response = await flow.resume(request, session, signed_in, pending, after_post=True)
    browser.set_cookie(response, ctx.settings, signed_in)
    response.background = BackgroundTask(account_mail.send_verification, ctx, user.id, ip)  # E6
    return response


async def _context(
    request: Request, session: AsyncSession, form: dict[str, str]
) -> tuple[Current, Pending | None, str | None]:
    current = await browser.ensure(request, session, await browser.current(request, session))
    pending = await flow.find_pending(session, current, form.get("request"))
    return current, pending, await flow.client_name(session, pending)
