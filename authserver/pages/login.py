"""The login page: email or username and password, through the one signin core.

`users.check_credentials` gives unknown user, wrong password and disabled account the same answer
after the same argon2 work (B1, B2), so the page shows one sentence for all three. The
brute-force gate (`domain/signin_throttle.py`) runs before argon2 and treats an unknown identifier
like a known one; a refusal is the 429 page with Retry-After. Success starts
a new browser session (S2: the pre-login one dies, and with it any id an attacker planted) and
continues the pending authorization request, if there is one.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from authserver.context import AppContext
from authserver.db.models import User
from authserver.domain import users
from authserver.domain.browser_sessions import Current
from authserver.domain.pending_requests import Pending
from authserver.pages import browser, flow
from authserver.pages.rendering import redirect, render


def _page(
    ctx: AppContext,
    current: Current,
    pending: Pending | None,
    client_name: str | None,
    *,
    identifier: str | None = None,
    error: str | None = None,
) -> Response:
    return render(
        "login.html",
        status=400 if error else 200,
        csrf=current.csrf_token,
        request_id=pending.id if pending else None,
        client_name=client_name,
        identifier=identifier if identifier is not None else _hint(pending),
        signup_enabled=ctx.settings.signup_enabled,
        error=error,
        form_targets=[pending.params["redirect_uri"]] if pending else [],
    )


def _hint(pending: Pending | None) -> str:
    """OIDC Core §3.1.2.1 `login_hint`: prefills the field (escaped like any text); nothing more."""
    return pending.params.get("login_hint", "")[:320] if pending else ""


async def login_page(request: Request) -> Response:
    ctx: AppContext = request.app.state.ctx
    async with ctx.transaction() as session:
        found = await browser.current(request, session)
        current = await browser.ensure(request, session, found)
        pending = await flow.find_pending(session, current, request.query_params.get("request"))
        response = _page(ctx, current, pending, await flow.client_name(session, pending))
    if found is None:
        browser.set_cookie(response, ctx.settings, current)
    return response


async def login_submit(request: Request) -> Response:
    ctx: AppContext = request.app.state.ctx
    form = await browser.read_page_form(request)
    async with ctx.transaction() as session:  # CSRF first: a forged post costs no argon2 work (S5)
        current = browser.require_csrf(await browser.current(request, session), form)
        pending = await flow.find_pending(session, current, form.get("request"))
    typed = form.get("username", "")
    password = form.get("password", "")
    ip = browser.client_ip(request)
    gate = ctx.limiter.signin_gate(ip, pending.client_id if pending else None)
    await gate.check_ip()  # B4, before any lookup or argon2 (429 page when over)

    async def lookup(identifier: str) -> User | None:
        # A short session of its own: no connection is held while argon2 runs.
        async with ctx.transaction() as session:
            return await users.find_by_identifier(session, identifier)

    check = await users.check_credentials(
        lookup,
        ctx.hasher,
        typed if typed.isprintable() else "",  # no control character reaches SQL (L6)
        password,
        max_password_length=ctx.settings.password_max_length,
        gate=gate,  # B3, B5: may wait, or refuse with 429, before argon2
        require_verified_email=ctx.settings.require_verified_email,
    )
    if check.password_ok:
        await gate.succeeded(check.account)
    async with ctx.transaction() as session:
        still = await browser.current(request, session)  # re-read: the first transaction ended
        pending = await flow.find_pending(session, still, form.get("request")) if pending and still else None
        await users.record_signin(
            session,
            ctx.hasher,
            check,
            password,
            client_id=pending.client_id if pending else None,
            ip=ip,
        )
        if check.user is None or still is None:
            # One sentence for every failure (B1); the failed attempt's audit row is kept.
            name = await flow.client_name(session, pending)
            fresh = await browser.ensure(request, session, still)
            error = "unverified" if check.reason == "unverified" else "credentials"
            page = _page(ctx, fresh, pending, name, identifier=typed[:320], error=error)
            if still is None:
                browser.set_cookie(page, ctx.settings, fresh)
            return page
        signed_in = await browser.sign_in(request, session, still, check.user)
        if pending is None:
            response = redirect("/account", after_post=True)
        else:
            response = await flow.resume(request, session, signed_in, pending, after_post=True)
    browser.set_cookie(response, ctx.settings, signed_in)
    return response
