"""The account page: consent withdrawal (R5, S9) and other browsers signed out (S3)."""

from __future__ import annotations

import httpx

from authserver.context import AppContext
from tests.oauth.helpers import introspect, make_resource_server, make_user
from tests.pages.helpers import (
    browser,
    hidden_fields,
    openid_app,
    request_params,
    run_to_code,
    sign_in,
    token_request,
)


async def test_withdrawn_consent_kills_refresh_tokens_and_brings_the_page_back(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    app = await openid_app(ctx)
    rs = await make_resource_server(ctx)
    await make_user(ctx)
    verifier, params = request_params(app, scope="openid offline_access")
    tokens = await token_request(client, app, (await run_to_code(client, params))["code"], verifier)
    assert "refresh_token" in tokens

    page = await client.get("/account")
    assert page.status_code == 200 and "test client" in page.text
    fields = hidden_fields(page)
    assert (
        await client.post("/account/consents/withdraw", data={"client_id": app.client_id})
    ).status_code == 403
    withdrawn = await client.post(
        "/account/consents/withdraw", data={"csrf": fields["csrf"], "client_id": app.client_id}
    )
    assert withdrawn.status_code == 303 and withdrawn.headers["location"].startswith("/account")

    assert await introspect(client, rs, tokens["refresh_token"]) == {"active": False}
    assert await introspect(client, rs, tokens["access_token"]) == {"active": False}
    refresh = await client.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=app.basic,
    )
    assert refresh.status_code == 400 and refresh.json()["error"] == "invalid_grant"
    again = await client.get("/authorize", params=request_params(app, scope="openid offline_access")[1])
    assert again.headers["location"].startswith("/consent")
    assert "test client" not in (await client.get("/account")).text


async def test_S3_sign_out_other_browsers_keeps_this_one(client: httpx.AsyncClient, ctx: AppContext) -> None:
    await make_user(ctx)
    await sign_in(client, ctx)
    async with browser(ctx) as laptop, browser(ctx) as phone:
        await sign_in(laptop, ctx)
        await sign_in(phone, ctx)
        page = await client.get("/account")
        assert page.text.count("Signed in 20") == 3
        response = await client.post(
            "/account/sessions/end-others", data={"csrf": hidden_fields(page)["csrf"]}
        )
        assert response.status_code == 303
        assert (await laptop.get("/account")).headers["location"] == "/login"
        assert (await phone.get("/account")).headers["location"] == "/login"
    assert (await client.get("/account")).status_code == 200


async def test_S6_no_state_change_over_get(client: httpx.AsyncClient, ctx: AppContext) -> None:
    await make_user(ctx)
    await sign_in(client, ctx)
    for path in ("/account/consents/withdraw", "/account/sessions/end-others"):
        assert (await client.get(path)).status_code == 405
    assert (await client.get("/account")).status_code == 200
