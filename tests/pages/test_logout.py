"""RP-initiated logout: the session ends, the browser goes only to a registered URI (A9, S3, O6)."""

from __future__ import annotations

import httpx

from authserver.context import AppContext
from authserver.domain import clients
from tests.oauth.helpers import REDIRECT, make_user
from tests.pages.helpers import (
    COOKIE,
    browser,
    hidden_fields,
    openid_app,
    query,
    request_params,
    run_to_code,
    sign_in,
    submit,
    token_request,
)

BYE = "https://app.example.com/bye"


async def registered_app(ctx: AppContext) -> tuple[str, str]:
    async with ctx.transaction() as session:
        made = await clients.create_client(
            session,
            name="Logout app",
            grant_types=("authorization_code",),
            redirect_uris=(REDIRECT,),
            scopes="openid",
            post_logout_redirect_uris=(BYE,),
        )
    assert made.secret is not None
    return made.client.client_id, made.secret


async def test_logout_ends_the_session_and_redirects_to_the_registered_uri_with_state(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    client_id, secret = await registered_app(ctx)
    await make_user(ctx)
    from tests.oauth.helpers import RegisteredApp

    app = RegisteredApp(client_id, secret)
    verifier, params = request_params(app, scope="openid")
    tokens = await token_request(client, app, (await run_to_code(client, params))["code"], verifier)
    old_cookie = client.cookies[COOKIE]

    asked = {"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": BYE, "state": "s&1"}
    page = await client.get("/logout", params=asked)
    assert page.status_code == 200 and "Logout app" in page.text  # a confirmation, nothing ended yet
    assert (await client.get("/account")).status_code == 200
    # Without the CSRF token the confirmation does nothing.
    fields = hidden_fields(page)
    assert (
        await client.post("/logout", data={k: v for k, v in fields.items() if k != "csrf"})
    ).status_code == 403
    done = await submit(client, page, "/logout")
    assert done.status_code == 303 and done.headers["location"].startswith(BYE + "?")
    assert query(done.headers["location"]) == {"state": "s&1"}
    assert (await client.get("/account")).headers["location"] == "/login"
    async with browser(ctx) as replay:  # S3: replaying the old cookie finds nothing
        replay.cookies.set(COOKIE, old_cookie)
        assert (await replay.get("/account")).headers["location"] == "/login"


async def test_A9_unregistered_post_logout_uri_or_foreign_hint_never_redirects(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    client_id, _ = await registered_app(ctx)
    other = await openid_app(ctx)
    await make_user(ctx)
    await sign_in(client, ctx)
    for asked in (
        {"client_id": client_id, "post_logout_redirect_uri": "https://evil.example/"},
        {"client_id": client_id, "post_logout_redirect_uri": BYE + "/x"},
        {"post_logout_redirect_uri": BYE},  # no client named: nothing to match against
        {"client_id": other.client_id, "post_logout_redirect_uri": BYE},
        {"id_token_hint": "not.a.token", "post_logout_redirect_uri": BYE},
        {"client_id": "nope", "post_logout_redirect_uri": BYE},
    ):
        response = await client.get("/logout", params=asked)
        assert response.status_code == 400 and "location" not in response.headers, asked
    # A confirmation posted with an unregistered URI ends nothing and goes nowhere.
    page = await client.get("/logout")
    forged = hidden_fields(page) | {
        "client_id": client_id,
        "post_logout_redirect_uri": "https://evil.example/",
    }
    assert (await client.post("/logout", data=forged)).status_code == 400
    assert (await client.get("/account")).status_code == 200


async def test_account_sign_out_button_shows_the_signed_out_page(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    await make_user(ctx)
    await sign_in(client, ctx)
    page = await client.get("/account")
    response = await client.post("/logout", data=hidden_fields(page))
    assert response.status_code == 200 and "You are signed out" in response.text
    assert (await client.get("/account")).headers["location"] == "/login"
