"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) and the sign-out button.

An RP sends the browser here (GET or POST, §2) with an optional `id_token_hint`, `client_id`,
`post_logout_redirect_uri` and `state`. We ask the person to confirm (a cross-site link alone must
not sign anyone out: the confirmation is a CSRF-checked POST), delete the session row (S3), and
send the browser to the redirect URI only if that client registered it exactly (A9, §3);
otherwise we show our own "signed out" page.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from authserver.context import AppContext
from authserver.db.models import Client
from authserver.domain import browser_sessions, identifiers
from authserver.http.bodies import parse_form
from authserver.http.errors import ApiError
from authserver.oauth import id_tokens, redirect_uris
from authserver.oauth.authorize import MAX_STATE_LENGTH, AuthorizeError, check_text
from authserver.pages import browser
from authserver.pages.browser import PageError
from authserver.pages.rendering import redirect, render


@dataclass(frozen=True)
class LogoutRequest:
    client: Client | None
    post_logout_redirect_uri: str | None
    state: str | None

    @property
    def target(self) -> str | None:
        if self.post_logout_redirect_uri is None:
            return None
        return redirect_uris.with_query(self.post_logout_redirect_uri, {"state": self.state})


async def check_logout_request(
    request: Request, session: AsyncSession, params: dict[str, str]
) -> LogoutRequest:
    """Validate the RP's parameters; anything wrong is our error page, never a redirect (A9)."""
    ctx: AppContext = request.app.state.ctx
    try:
        check_text(params)
    except AuthorizeError:
        raise PageError("bad_request") from None
    state = params.get("state")
    if state is not None and len(state) > MAX_STATE_LENGTH:
        raise PageError("bad_request")
    client_id = params.get("client_id") or None
    if "id_token_hint" in params:
        keyring = await ctx.keyring()
        hint = id_tokens.read_id_token_hint(keyring, params["id_token_hint"], issuer=ctx.settings.issuer)
        if hint is None:
            raise PageError("logout_hint")  # O6/J7: foreign, forged, or an access token
        audiences = id_tokens.audiences(hint)
        if client_id is not None and client_id not in audiences:
            raise PageError("logout_hint")
        client_id = client_id or (audiences[0] if len(audiences) == 1 else None)
    client = None
    if client_id is not None:
        client = await session.get(Client, client_id) if identifiers.is_client_id(client_id) else None
        if client is None:
            raise PageError("bad_client")
    uri = params.get("post_logout_redirect_uri") or None
    if uri is not None and (client is None or uri not in client.post_logout_redirect_uris):
        raise PageError("logout_redirect")  # exact match against the client's registration only
    return LogoutRequest(client, uri, state)


async def _params(request: Request) -> dict[str, str]:
    if request.method == "POST":
        return await browser.read_page_form(request)
    try:
        return parse_form(request.scope.get("query_string", b""))
    except ApiError:
        raise PageError("bad_request") from None


async def logout(request: Request) -> Response:
    ctx: AppContext = request.app.state.ctx
    params = await _params(request)
    moved = browser.same_origin_get(request, params)
    if moved is not None:
        return moved  # an app's cross-site POST: show the confirmation page to the person
    async with ctx.transaction() as session:
        found = await browser.current(request, session)
        if request.method == "POST" and params.get("confirm") == "yes":
            current = browser.require_csrf(found, params)
            asked = await check_logout_request(request, session, params)
            await browser_sessions.end(session, current)
            response = _done(asked, after_post=True)
            browser.clear_cookie(response, ctx.settings)
            return response
        asked = await check_logout_request(request, session, params)
        if found is None or found.user is None:
            return _done(asked, after_post=request.method == "POST")  # nobody to sign out
        return render(
            "logout.html",
            csrf=found.csrf_token,
            user=found.user,
            client_name=asked.client.name if asked.client else None,
            client_id=asked.client.client_id if asked.client else None,
            post_logout_redirect_uri=asked.post_logout_redirect_uri,
            state=asked.state,
            form_targets=[asked.post_logout_redirect_uri] if asked.post_logout_redirect_uri else [],
        )


def _done(asked: LogoutRequest, *, after_post: bool) -> Response:
    target = asked.target
    if target is not None:
        return redirect(target, after_post=after_post)
    return render("signed_out.html", client_name=asked.client.name if asked.client else None)
