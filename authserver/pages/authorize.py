"""GET and POST /authorize (RFC 6749 §4.1.1, OIDC Core §3.1.2.1: both methods, A12).

The request is validated before anything else; a valid one is stored server-side as a pending
request bound to this browser's session, which gets created if the browser has none, and
`flow.resume` takes it from there.
"""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response

from authserver.context import AppContext
from authserver.domain import pending_requests
from authserver.domain.rate_limits import address_key
from authserver.http.bodies import parse_form
from authserver.http.errors import ApiError
from authserver.oauth import authorize
from authserver.oauth.authorize import AuthorizeError
from authserver.pages import browser, flow
from authserver.pages.browser import PageError, read_page_form
from authserver.pages.rendering import error_page


async def _params(request: Request) -> dict[str, str]:
    """Query (GET) or form body (POST); invalid UTF-8 or a repeated parameter is a 400 page (A5)."""
    if request.method == "POST":
        return await read_page_form(request)
    try:
        return parse_form(request.scope.get("query_string", b""))
    except ApiError:
        raise PageError("bad_request") from None


async def authorization_endpoint(request: Request) -> Response:
    ctx: AppContext = request.app.state.ctx
    after_post = request.method == "POST"
    request.state.page = True  # a 429 here is a page, like every answer of this endpoint
    ip = browser.client_ip(request)
    # Before anything is stored: an anonymous request can create a session and a pending request.
    await ctx.limiter.enforce("authorize_per_ip", address_key(ip), ip=ip, per_worker=True)
    try:
        params = await _params(request)
    except PageError as error:
        return error_page(error.kind, error.status)
    moved = browser.same_origin_get(request, params)
    if moved is not None:
        return moved  # a cross-site POST: continue as a GET, where the browser sends its cookie
    async with ctx.transaction() as session:
        try:
            auth = await authorize.validate(session, ctx.settings, ctx.keyring, params)
        except AuthorizeError as error:
            return flow.answer_error(ctx, error, after_post=after_post)
        found = await browser.current(request, session)
        current = await browser.ensure(request, session, found)
        pending = await pending_requests.create(
            session,
            browser_session_id=current.row.id,
            client_id=auth.client.client_id,
            params=auth.params,
            lifetime=timedelta(seconds=ctx.settings.authorization_request_ttl),
        )
        response = await flow.resume(request, session, current, pending, after_post=after_post)
    if found is None:
        browser.set_cookie(response, ctx.settings, current)
    return response
