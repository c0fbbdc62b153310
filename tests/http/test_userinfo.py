"""GET/POST /userinfo (OIDC Core §5.3, RFC 6750): O8, J7, and refused revoked or expired tokens."""

from __future__ import annotations

import time
from typing import Any

import httpx
from sqlalchemy import update

from authserver.context import AppContext
from authserver.db.models import User
from authserver.oauth.access_tokens import sign_access_token
from tests.oauth.helpers import PASSWORD, RegisteredApp, make_client, make_user, unverified_claims
from tests.pages.helpers import openid_app, request_params, run_to_code, token_request


async def signed_in_tokens(
    client: httpx.AsyncClient, ctx: AppContext, scope: str = "openid profile email offline_access"
) -> tuple[RegisteredApp, dict[str, Any]]:
    app = await openid_app(ctx)
    await make_user(ctx)
    verifier, params = request_params(app, scope=scope)
    return app, await token_request(client, app, (await run_to_code(client, params))["code"], verifier)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_O8_claims_follow_scopes_by_get_and_post(client: httpx.AsyncClient, ctx: AppContext) -> None:
    _, tokens = await signed_in_tokens(client, ctx)
    by_get = await client.get("/userinfo", headers=bearer(tokens["access_token"]))
    by_post = await client.post("/userinfo", headers=bearer(tokens["access_token"]))
    assert by_get.status_code == by_post.status_code == 200
    assert by_get.json() == by_post.json()
    info = by_get.json()
    assert info["sub"] == unverified_claims(tokens["id_token"])["sub"]
    assert info["email"] == "alice@example.com" and info["email_verified"] is False
    assert info["preferred_username"] == "alice"
    assert by_get.headers["cache-control"] == "no-store"
    in_body = await client.post("/userinfo", data={"access_token": tokens["access_token"]})  # RFC 6750 §2.2
    assert in_body.status_code == 200 and in_body.json() == info
    both = await client.post(
        "/userinfo", data={"access_token": tokens["access_token"]}, headers=bearer(tokens["access_token"])
    )
    assert both.status_code == 400 and both.json()["error"] == "invalid_request"
    in_query = await client.get("/userinfo", params={"access_token": tokens["access_token"]})  # §2.3: never
    assert in_query.status_code == 401


async def test_O8_openid_only_gives_sub_only(client: httpx.AsyncClient, ctx: AppContext) -> None:
    _, tokens = await signed_in_tokens(client, ctx, scope="openid")
    info = (await client.get("/userinfo", headers=bearer(tokens["access_token"]))).json()
    assert set(info) == {"sub"}


async def test_O8_E6_email_verified_reflects_the_account(client: httpx.AsyncClient, ctx: AppContext) -> None:
    _, tokens = await signed_in_tokens(client, ctx)
    async with ctx.transaction() as session:
        await session.execute(update(User).values(email_verified=True))
    assert (await client.get("/userinfo", headers=bearer(tokens["access_token"]))).json()[
        "email_verified"
    ] is True


async def test_O8_missing_or_invalid_token_is_401_with_challenge(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    _, tokens = await signed_in_tokens(client, ctx)
    missing = await client.get("/userinfo")
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == 'Bearer realm="authserver"'
    non_ascii = await client.get("/userinfo", headers={"Authorization": "Bearer é".encode()})
    assert non_ascii.status_code == 401
    for header in (
        bearer("garbage"),
        bearer(tokens["id_token"]),  # J7: an ID token is not an access token
        bearer(tokens["refresh_token"]),
        bearer(tokens["access_token"] + "x"),
        {"Authorization": "Basic " + tokens["access_token"]},
        bearer("a\x01b"),
    ):
        response = await client.get("/userinfo", headers=header)
        assert response.status_code == 401, header
        assert "Bearer" in response.headers["www-authenticate"]
        if header["Authorization"].startswith("Bearer") and header["Authorization"].isprintable():
            assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_O8_revoked_token_and_revoked_family_are_refused(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    app, tokens = await signed_in_tokens(client, ctx)
    assert (await client.get("/userinfo", headers=bearer(tokens["access_token"]))).status_code == 200
    await client.post("/revoke", data={"token": tokens["access_token"]}, auth=app.basic)
    response = await client.get("/userinfo", headers=bearer(tokens["access_token"]))
    assert response.status_code == 401 and 'error="invalid_token"' in response.headers["www-authenticate"]

    refreshed = await client.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=app.basic,
    )
    fresh = refreshed.json()["access_token"]
    assert (await client.get("/userinfo", headers=bearer(fresh))).status_code == 200
    await client.post("/revoke", data={"token": refreshed.json()["refresh_token"]}, auth=app.basic)
    assert (await client.get("/userinfo", headers=bearer(fresh))).status_code == 401  # family revoked


async def test_O8_expired_token_is_refused(client: httpx.AsyncClient, ctx: AppContext) -> None:
    _, tokens = await signed_in_tokens(client, ctx)
    claims = unverified_claims(tokens["access_token"])
    keyring = await ctx.keyring()
    expired = sign_access_token(
        keyring,
        issuer=ctx.settings.issuer,
        subject=claims["sub"],
        audience=claims["aud"],
        client_id=claims["client_id"],
        scope=claims["scope"],
        ttl=-5,
    )
    assert expired.expires_at < time.time()
    assert (await client.get("/userinfo", headers=bearer(expired.value))).status_code == 401


async def test_token_without_openid_or_for_another_audience_is_refused(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    app = await make_client(
        ctx, grants=("password",), scope="read openid", resources=("https://api.example.com",)
    )
    await make_user(ctx)
    form = {"grant_type": "password", "username": "alice", "password": PASSWORD}
    no_openid = (await client.post("/token", data=form | {"scope": "read"}, auth=app.basic)).json()
    response = await client.get("/userinfo", headers=bearer(no_openid["access_token"]))
    assert (
        response.status_code == 403 and 'error="insufficient_scope"' in response.headers["www-authenticate"]
    )
    for_api = await client.post(
        "/token", data=form | {"scope": "openid", "resource": "https://api.example.com"}, auth=app.basic
    )
    assert (await client.get("/userinfo", headers=bearer(for_api.json()["access_token"]))).status_code == 401
    machine = await make_client(ctx, scope="openid")
    cc = await client.post(
        "/token", data={"grant_type": "client_credentials", "scope": "openid"}, auth=machine.basic
    )
    assert (await client.get("/userinfo", headers=bearer(cc.json()["access_token"]))).status_code == 401
