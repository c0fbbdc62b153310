"""L6 (issue 8): arbitrary text and bytes in every parameter of /authorize (GET and POST), every
page and /userinfo never give a 5xx and never log a traceback, on SQLite and PostgreSQL.

Bounded (60 examples per backend) so the suite stays fast. Half the requests carry this
browser's real CSRF token and a valid authorization request with one value replaced, so the
fuzzing reaches past the first checks.
"""

from __future__ import annotations

import logging
from urllib.parse import quote, quote_from_bytes

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authserver.context import AppContext
from tests.log_capture import Collect
from tests.oauth.helpers import make_user
from tests.pages.helpers import hidden_fields, openid_app, request_params, sign_in

KEYS = [
    "response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge",
    "code_challenge_method", "prompt", "max_age", "resource", "id_token_hint", "login_hint",
    "response_mode", "request", "request_uri", "csrf", "request", "username", "password", "email",
    "decision", "confirm", "post_logout_redirect_uri", "ui_locales", "display",
]  # fmt: skip
PAGES = [
    ("GET", "/authorize"), ("POST", "/authorize"), ("GET", "/login"), ("POST", "/login"),
    ("GET", "/register"), ("POST", "/register"), ("GET", "/consent"), ("POST", "/consent"),
    ("GET", "/account"), ("POST", "/account/consents/withdraw"), ("POST", "/account/sessions/end-others"),
    ("GET", "/logout"), ("POST", "/logout"), ("GET", "/userinfo"), ("POST", "/userinfo"),
]  # fmt: skip

values = st.one_of(
    st.text(max_size=40), st.binary(max_size=40), st.sampled_from(["", "\x00", "é", "%", "&=", " " * 3])
)


def encode(pairs: list[tuple[str, str | bytes]]) -> str:
    return "&".join(
        quote(key) + "=" + (quote_from_bytes(value) if isinstance(value, bytes) else quote(value, safe=""))
        for key, value in pairs
    )


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(
    page=st.sampled_from(PAGES),
    pairs=st.lists(st.tuples(st.sampled_from(KEYS), values), max_size=6),
    deeper=st.booleans(),
    cookie=st.one_of(st.none(), st.text(max_size=80)),
    authorization=st.one_of(st.none(), st.text(alphabet=st.characters(max_codepoint=255), max_size=60)),
)
async def test_L6_no_5xx_and_no_traceback_from_any_input(
    client: httpx.AsyncClient,
    ctx: AppContext,
    server_logging: Collect,
    page: tuple[str, str],
    pairs: list[tuple[str, str | bytes]],
    deeper: bool,
    cookie: str | None,
    authorization: str | None,
) -> None:
    if not getattr(ctx, "fuzz_user", False):
        await make_user(ctx)
        ctx.fuzz_user = True  # type: ignore[attr-defined]
    account = await client.get("/account")
    if account.status_code != 200:  # an earlier example signed this browser out
        await sign_in(client, ctx)
        account = await client.get("/account")
    method, path = page
    sent: list[tuple[str, str | bytes]] = list(pairs)
    headers: dict[str, str | bytes] = {}
    if deeper:
        app = await openid_app(ctx)
        base = request_params(app)[1] | {"csrf": hidden_fields(account)["csrf"]}
        replaced = {key for key, _ in pairs}
        sent = [(k, v) for k, v in base.items() if k not in replaced] + sent
    if authorization is not None:
        headers["Authorization"] = authorization.encode("latin-1")
    cookies = (
        {"authserver_session": cookie}
        if cookie is not None and cookie.isascii() and cookie.isprintable() and ";" not in cookie
        else None
    )
    body = encode(sent)
    if method == "GET":
        request = client.build_request("GET", f"{path}?{body}", headers=headers)
    else:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        request = client.build_request("POST", path, content=body.encode(), headers=headers)
    if cookies is not None:
        request.headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    response = await client.send(request)
    assert response.status_code < 500, (method, path, sent, response.text[:500])
    assert not server_logging.tracebacks(), server_logging.tracebacks()[-1]
    assert not [r.getMessage() for r in server_logging.records if r.levelno >= logging.ERROR]
