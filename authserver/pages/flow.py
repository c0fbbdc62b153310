"""Moving a pending authorization request along: login, signup, consent, then the code.

Every page that finishes a step (the authorization endpoint itself, login, signup, consent) calls
`resume`, which re-validates the stored request (the client may have changed meanwhile), asks
`authorize.next_step` where to go, and either sends the browser to the next page or back to the
client with a code or an error.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from authserver.context import AppContext
from authserver.db.models import Client
from authserver.domain import browser_sessions, consents, pending_requests
from authserver.domain.browser_sessions import Current
from authserver.domain.pending_requests import Pending
from authserver.oauth import authorize, redirect_uris
from authserver.oauth.authorize import AuthorizationRequest, AuthorizeError
from authserver.pages.browser import PageError
from authserver.pages.rendering import error_page, redirect

PAGES = {"login": "/login", "signup": "/register", "consent": "/consent"}


def answer_error(ctx: AppContext, error: AuthorizeError, *, after_post: bool) -> Response:
    """Back to the client with the error, or our error page when there is nowhere safe to go (A3)."""
    location = error.location(ctx.settings.issuer)
    if location is None:
        return error_page(error.page)
    return redirect(location, after_post=after_post)


async def find_pending(session: AsyncSession, browser: Current, value: object) -> Pending | None:
    """The pending request a page names, made by this browser; a stale or foreign id is an error
    page. No id at all is fine: the login page also works on its own."""
    if value is None or value == "":
        return None
    pending = await pending_requests.find(session, value, browser.row.id)
    if pending is None:
        raise PageError("expired")
    return pending


async def client_name(session: AsyncSession, pending: Pending | None) -> str | None:
    """The name the operator registered, shown so the person knows which app asks (S9)."""
    if pending is None:
        return None
    client = await session.get(Client, pending.client_id)
    return client.name if client is not None else None


async def load_request(request: Request, session: AsyncSession, pending: Pending) -> AuthorizationRequest:
    ctx: AppContext = request.app.state.ctx
    return await authorize.validate(session, ctx.settings, ctx.keyring, pending.params)


async def resume(
    request: Request,
    session: AsyncSession,
    browser: Current,
    pending: Pending,
    *,
    after_post: bool,
    consent_given: bool = False,
) -> Response:
    ctx: AppContext = request.app.state.ctx
    try:
        auth = await load_request(request, session, pending)
        user = browser.user
        # RFC 8252 §8.6: a public native app's redirect can be answered by any local program, so
        # remembered consent does not skip the page for it; the person approves each request.
        may_remember = not (auth.client.public and redirect_uris.is_native(auth.redirect_uri))
        consented = consent_given or (
            user is not None
            and may_remember
            and "consent" not in auth.prompt
            and await consents.covers(session, user.id, auth.client.client_id, auth.scopes)
        )
        step = authorize.next_step(
            auth,
            user=user,
            auth_time=browser_sessions.auth_time_of(browser),
            started_at=pending.created_at,
            consented=consented,
        )
        if step == "signup" and not ctx.settings.signup_enabled:
            step = "login"  # prompt=create where signup is off: sign in instead
        if step != "issue":
            return redirect(f"{PAGES[step]}?request={pending.id}", after_post=after_post)
        assert user is not None and browser.row.auth_time is not None
        # Claim the request first: of two concurrent submits (a double click), one issues a code
        # and the other finds it answered. A PostgreSQL DELETE holds the row until commit.
        if not await pending_requests.finish(session, pending):
            raise PageError("expired")
        if consent_given:
            await consents.grant(session, user.id, auth.client.client_id, auth.scopes)
        location = await authorize.issue(
            session, ctx.settings, auth, user, auth_time=browser.row.auth_time, sid=browser.row.id
        )
    except AuthorizeError as error:
        await pending_requests.finish(session, pending)  # answered: the id is dead
        return answer_error(ctx, error, after_post=after_post)
    return redirect(location, after_post=after_post)
