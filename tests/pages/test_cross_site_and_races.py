"""Findings of the adversarial review of the pages: cross-site POSTs, double submits, native apps,
prompt=create without signup, userinfo's 400 challenge, and query strings in the server log."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from authserver.context import AppContext
from authserver.http.security_headers import form_target
from tests.oauth.helpers import RegisteredApp, make_client, make_user
from tests.pages.helpers import COOKIE, hidden_fields, login, openid_app, query, request_params, run_to_code
from tests.servers import running_server


async def test_a_cross_site_post_to_authorize_moves_to_a_get_and_keeps_the_session(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    app = await openid_app(ctx)
    await make_user(ctx)
    await run_to_code(client, request_params(app)[1])
    mine = client.cookies[COOKIE]
    # SameSite=Lax: a cross-site POST arrives without the cookie.
    client.cookies.clear()
    _, params = request_params(app)
    posted = await client.post("/authorize", data=params)
    assert posted.status_code == 303 and "set-cookie" not in posted.headers
    assert posted.headers["location"].startswith("/authorize?")
    assert query(posted.headers["location"]) == params
    # The GET that follows is a top-level navigation: the browser sends its cookie, still signed in.
    client.cookies.set(COOKIE, mine)
    followed = await client.get(posted.headers["location"])
    assert "code" in query(followed.headers["location"])


async def test_an_apps_cross_site_logout_post_shows_the_confirmation_page(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    from tests.pages.test_logout import BYE, registered_app

    client_id, secret = await registered_app(ctx)
    await make_user(ctx)
    await run_to_code(client, request_params(RegisteredApp(client_id, secret), scope="openid")[1])
    mine = client.cookies[COOKIE]
    client.cookies.clear()
    posted = await client.post("/logout", data={"client_id": client_id, "post_logout_redirect_uri": BYE})
    assert posted.status_code == 303 and posted.headers["location"].startswith("/logout?")
    client.cookies.set(COOKIE, mine)
    page = await client.get(posted.headers["location"])
    assert page.status_code == 200 and "confirm" in page.text  # the person decides
    assert (await client.get("/account")).status_code == 200  # still signed in


def test_an_ipv6_loopback_redirect_is_allowed_by_scheme_in_form_action() -> None:
    assert form_target("http://[::1]:18296/cb") == "http:"
    assert form_target("http://127.0.0.1:5555/cb") == "http://127.0.0.1:5555"


async def test_a_double_clicked_allow_issues_one_code(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app = await openid_app(ctx)
    await make_user(ctx)
    start = await client.get("/authorize", params=request_params(app)[1])
    consent_at = (await login(client, start.headers["location"])).headers["location"]
    page = await client.get(consent_at)
    form = hidden_fields(page) | {"decision": "allow"}
    answers = await asyncio.gather(*(client.post("/consent", data=form) for _ in range(6)))
    assert all(a.status_code in (303, 400, 404, 410) for a in answers), [a.status_code for a in answers]
    codes = [a for a in answers if a.status_code == 303 and "code=" in a.headers["location"]]
    assert len(codes) == 1, [a.status_code for a in answers]


async def test_RFC8252_a_public_native_app_is_asked_every_time(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    native = await make_client(
        ctx,
        grants=("authorization_code", "refresh_token"),
        scope="openid offline_access",
        public=True,
        redirect_uris=("http://127.0.0.1/cb",),
    )
    await make_user(ctx)
    first = request_params(native, scope="openid offline_access", redirect_uri="http://127.0.0.1:5555/cb")[1]
    assert "code" in await run_to_code(client, first)
    # Another local program on another port, with prompt=none: never answered silently.
    other = request_params(
        native, scope="openid offline_access", redirect_uri="http://127.0.0.1:31337/cb", prompt="none"
    )[1]
    silent = await client.get("/authorize", params=other)
    assert query(silent.headers["location"])["error"] == "consent_required"


@pytest.mark.parametrize("settings_overrides", [{"signup_enabled": False}])
async def test_prompt_create_without_signup_is_neither_advertised_nor_a_dead_end(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    meta = (await client.get("/.well-known/openid-configuration")).json()
    assert "create" not in meta["prompt_values_supported"]
    app = await openid_app(ctx)
    response = await client.get("/authorize", params=request_params(app, prompt="create")[1])
    assert response.headers["location"].startswith("/login?")


async def test_O8_userinfo_400_carries_its_challenge(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/userinfo", data={"access_token": "a"}, headers={"Authorization": "Bearer b"}
    )
    assert response.status_code == 400
    assert response.headers["www-authenticate"] == 'Bearer realm="authserver", error="invalid_request"'


def test_L1_no_query_string_reaches_the_server_log(tmp_path: Path) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'q.db'}"
    with running_server(database, tmp_path) as base:
        httpx.get(base + "/logout?id_token_hint=SECRET-IN-URL&login_hint=someone%40example.com")
        httpx.get(base + "/authorize?client_id=x&state=STATE-IN-URL")
        httpx.get(base + "/userinfo?access_token=TOKEN-IN-URL")
    log = "".join(p.read_text() for p in tmp_path.glob("server-*.log"))
    assert "GET /logout" in log  # our access line, path only
    for secret in ("SECRET-IN-URL", "someone", "STATE-IN-URL", "TOKEN-IN-URL"):
        assert secret not in log
