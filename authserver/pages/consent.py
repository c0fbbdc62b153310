"""The consent page (checklist S9): which app asks, for what, in plain words; allow or deny.

The client's name and every scope's description are rendered through autoescaped templates, so
nothing a client registers can inject markup. Allowing is remembered per user, client and scope
set (`domain/consents.py`); denying answers the client `access_denied` (RFC 6749 §4.1.2.1).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from authserver.context import AppContext
from authserver.domain import pending_requests
from authserver.oauth.authorize import AuthorizeError
from authserver.pages import browser, flow
from authserver.pages.browser import PageError
from authserver.pages.rendering import redirect, render


def scope_lines(ctx: AppContext, scopes: list[str]) -> list[tuple[str, str | None]]:
    """(scope, description or None) for each scope, in a stable order with `openid` first."""
    ordered = sorted(scopes, key=lambda s: (s != "openid", s))
    return [(scope, ctx.settings.scope_text(scope)) for scope in ordered]


async def consent_page(request: Request) -> Response:
    ctx: AppContext = request.app.state.ctx
    async with ctx.transaction() as session:
        current = await browser.current(request, session)
        if current is None:
            raise PageError("expired")
        pending = await flow.find_pending(session, current, request.query_params.get("request"))
        if pending is None:
            raise PageError("expired")
        if current.user is None:
            return redirect(f"/login?request={pending.id}", after_post=False)
        try:
            auth = await flow.load_request(request, session, pending)
        except AuthorizeError as error:
            await pending_requests.finish(session, pending)
            return flow.answer_error(ctx, error, after_post=False)
        return render(
            "consent.html",
            csrf=current.csrf_token,
            request_id=pending.id,
            client_name=auth.client.name,
            scopes=scope_lines(ctx, auth.scopes),
            user=current.user,
            form_targets=[auth.redirect_uri],
        )


async def consent_submit(request: Request) -> Response:
    ctx: AppContext = request.app.state.ctx
    form = await browser.read_page_form(request)
    async with ctx.transaction() as session:
        current = browser.require_csrf(await browser.current(request, session), form)
        pending = await flow.find_pending(session, current, form.get("request"))
        if pending is None:
            raise PageError("expired")
        if form.get("decision") == "allow":
            # resume re-checks login (prompt=login, max_age) before it issues anything.
            return await flow.resume(request, session, current, pending, after_post=True, consent_given=True)
        try:
            auth = await flow.load_request(request, session, pending)
            error = AuthorizeError(
                "access_denied",
                "The user denied the request.",
                redirect_uri=auth.redirect_uri,
                state=auth.state,
            )
        except AuthorizeError as invalid:
            error = invalid
        await pending_requests.finish(session, pending)
        return flow.answer_error(ctx, error, after_post=True)
