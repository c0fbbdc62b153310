"""The browser session as the pages see it: the cookie, the form body, the CSRF check.

Cookie (checklist S1): HttpOnly, SameSite=Lax, Path=/, no Domain; on an https issuer also Secure
with the `__Host-` prefix, which the browser enforces. Over plain http (loopback development only,
settings refuse anything else) it is named `authserver_session` without Secure.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from authserver.context import AppContext
from authserver.db.models import User
from authserver.domain import account_tokens, browser_sessions
from authserver.domain.browser_sessions import Current, Lifetimes
from authserver.http import client_ips
from authserver.http.bodies import FORM, media_type, read_form, read_form_or_json
from authserver.http.errors import ApiError
from authserver.pages.rendering import render
from authserver.settings import Settings


class PageError(Exception):
    """Ends a page request with the friendly error page (see `rendering.error_page`)."""

    def __init__(self, kind: str, status: int = 400) -> None:
        super().__init__(kind)
        self.kind = kind
        self.status = status


def lifetimes(settings: Settings) -> Lifetimes:
    return Lifetimes(
        idle=timedelta(seconds=settings.session_idle_ttl), absolute=timedelta(seconds=settings.session_ttl)
    )


def client_ip(request: Request) -> str | None:
    """The socket's peer, or what a trusted proxy says (`http/client_ips.py`)."""
    return client_ips.client_ip(request)


async def current(request: Request, session: AsyncSession) -> Current | None:
    ctx: AppContext = request.app.state.ctx
    secret = request.cookies.get(ctx.settings.session_cookie_name)
    return await browser_sessions.load(session, secret, lifetimes(ctx.settings))


async def ensure(request: Request, session: AsyncSession, found: Current | None) -> Current:
    """The browser's session, or a new pre-login one (it carries the login form's CSRF token)."""
    if found is not None:
        return found
    ctx: AppContext = request.app.state.ctx
    return await browser_sessions.start(
        session, lifetimes(ctx.settings), user_agent=request.headers.get("user-agent", "")
    )


async def sign_in(request: Request, session: AsyncSession, replaces: Current | None, user: User) -> Current:
    """S2: a new session at every login; the one the browser had (if any) dies."""
    ctx: AppContext = request.app.state.ctx
    return await browser_sessions.start(
        session,
        lifetimes(ctx.settings),
        user=user,
        user_agent=request.headers.get("user-agent", ""),
        replaces=replaces,
    )


def same_origin_get(request: Request, params: dict[str, str]) -> Response | None:
    """A POST that arrived without our cookie, answered by a 303 to the same request as a GET.

    A SameSite=Lax cookie is not sent on a cross-site POST (an app posting its authorization or
    logout request), but it is on the top-level GET that follows a redirect. Handling such a POST
    directly would start a new session over the person's own (signing them out), or act as if
    nobody were signed in. The parameters move to our own URL, as a GET request would carry them.
    """
    ctx: AppContext = request.app.state.ctx
    if request.method != "POST" or ctx.settings.session_cookie_name in request.cookies:
        return None
    return RedirectResponse(request.url.path + ("?" + urlencode(params) if params else ""), status_code=303)


def set_cookie(response: Response, settings: Settings, session: Current) -> None:
    response.set_cookie(
        settings.session_cookie_name,
        session.secret,
        max_age=settings.session_ttl,
        path="/",
        secure=settings.issuer_is_https,
        httponly=True,
        samesite="lax",
    )


def clear_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        settings.session_cookie_name, path="/", secure=settings.issuer_is_https, httponly=True, samesite="lax"
    )


async def read_page_form(request: Request) -> dict[str, str]:
    """The posted form (size-limited, repeats refused); any problem is a 400 page, not JSON."""
    ctx: AppContext = request.app.state.ctx
    request.state.page = True  # a refusal from here on (429) is answered with a page
    try:
        return await read_form(request, ctx.settings.max_body_bytes)
    except ApiError as error:
        raise PageError("bad_form", 413 if error.status == 413 else 400) from None


def require_csrf(found: Current | None, form: dict[str, str]) -> Current:
    """S5: a form post without the token of this browser's session changes nothing: 403."""
    if found is None or not browser_sessions.csrf_matches(found, form.get("csrf")):
        raise PageError("csrf", 403)
    return found


def text(form: dict[str, str], name: str, limit: int = 1024) -> str:
    """A form field as short text; anything longer is cut here and refused by the domain rules."""
    return form.get(name, "")[:limit]


async def read_api_or_page(request: Request) -> tuple[dict[str, str], bool]:
    """For a path that is both a JSON API and a page's form target (`/password/forgot` ...):
    the body, and whether it is a page's post (a form carrying the page's CSRF field)."""
    ctx: AppContext = request.app.state.ctx
    params = await read_form_or_json(request, ctx.settings.max_body_bytes)
    page = media_type(request) == FORM and "csrf" in params
    if page:
        request.state.page = True
    return params, page


async def page_session(request: Request) -> tuple[Current, bool]:
    """(this browser's session or a new pre-login one, whether it is new) for a form page."""
    ctx: AppContext = request.app.state.ctx
    async with ctx.transaction() as session:
        found = await current(request, session)
        return await ensure(request, session, found), found is None


async def emailed_token_page(request: Request, purpose: str, template: str) -> Response:
    """The page an emailed link opens (reset, verification): its form only while the link's token
    is still good for `purpose`; peeking consumes nothing, the form's POST does."""
    ctx: AppContext = request.app.state.ctx
    token = request.query_params.get("token", "")
    async with ctx.transaction() as session:
        user = await account_tokens.peek(session, token, purpose)
    if user is None:
        raise PageError("token_invalid", 400)
    found, is_new = await page_session(request)
    return with_cookie(render(template, csrf=found.csrf_token, token=token), ctx.settings, found, is_new)


def with_cookie(response: Response, settings: Settings, session: Current, is_new: bool) -> Response:
    if is_new:
        set_cookie(response, settings, session)
    return response
