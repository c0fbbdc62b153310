"""authorization_code with PKCE at the token endpoint (T5-T8, P1-P6)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import update

from authserver.context import AppContext
from authserver.db.models import AuthorizationCode
from authserver.db.types import utcnow
from authserver.domain import users
from authserver.oauth.authorize import authorize
from tests.oauth.helpers import (
    REDIRECT,
    exchange,
    get_code,
    introspect,
    make_client,
    make_resource_server,
    make_user,
    pkce_pair,
    unverified_claims,
)

CODE_GRANTS = ("authorization_code", "refresh_token")


async def test_confidential_client_code_flow(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app = await make_client(ctx, grants=CODE_GRANTS)
    user = await make_user(ctx)
    verifier, challenge = pkce_pair()
    code = await get_code(ctx, app, user, challenge=challenge)
    response = await client.post("/token", data=exchange(code, verifier), auth=app.basic)
    assert response.status_code == 200, response.text
    body = response.json()
    claims = unverified_claims(body["access_token"])
    assert claims["sub"] == user.id and claims["client_id"] == app.client_id and "auth_time" in claims
    assert body["refresh_token"] and body["scope"] == "read"


async def test_public_client_code_flow_with_openid(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app = await make_client(ctx, grants=CODE_GRANTS, public=True, scope="openid offline_access read")
    user = await make_user(ctx)
    verifier, challenge = pkce_pair()
    code = await get_code(
        ctx, app, user, challenge=challenge, scope="openid offline_access", extra={"nonce": "n-0S6_WzA2Mj"}
    )
    response = await client.post("/token", data=exchange(code, verifier, client_id=app.client_id))
    assert response.status_code == 200, response.text
    body = response.json()
    id_claims = unverified_claims(body["id_token"])
    assert id_claims["aud"] == app.client_id and id_claims["sub"] == user.id
    assert id_claims["nonce"] == "n-0S6_WzA2Mj" and "at_hash" in id_claims
    assert "refresh_token" in body


async def test_openid_without_offline_access_gets_no_refresh_token(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    app = await make_client(ctx, grants=CODE_GRANTS, scope="openid read")
    user = await make_user(ctx)
    verifier, challenge = pkce_pair()
    code = await get_code(ctx, app, user, challenge=challenge, scope="openid")
    body = (await client.post("/token", data=exchange(code, verifier), auth=app.basic)).json()
    assert "id_token" in body and "refresh_token" not in body


async def authorize_error(ctx: AppContext, app_id: str, user, **params: str) -> tuple[str | None, str | None]:  # type: ignore[no-untyped-def]
    base = {
        "response_type": "code",
        "client_id": app_id,
        "redirect_uri": REDIRECT,
        "scope": "read",
        "state": "s1",
    }
    await ctx.ensure_keys()
    result = await authorize(ctx, base | params, user)
    if result.location:
        query = parse_qs(urlsplit(result.location).query)
        assert query.get("state") == ["s1"]
        return query.get("error", [None])[0], result.location
    return result.error, None


async def test_P1_P2_P3_challenge_rules_at_authorization(ctx: AppContext) -> None:
    app = await make_client(ctx, grants=CODE_GRANTS, public=True)
    user = await make_user(ctx)
    _, challenge = pkce_pair()
    assert (await authorize_error(ctx, app.client_id, user))[0] == "invalid_request"  # P1
    assert (await authorize_error(ctx, app.client_id, user, code_challenge=challenge))[0] == "invalid_request"
    plain = {"code_challenge": challenge, "code_challenge_method": "plain"}
    assert (await authorize_error(ctx, app.client_id, user, **plain))[0] == "invalid_request"  # P2
    bad = {"code_challenge": "short", "code_challenge_method": "S256"}
    assert (await authorize_error(ctx, app.client_id, user, **bad))[0] == "invalid_request"  # P3


async def test_A1_A3_bad_redirect_uri_or_client_never_redirects(ctx: AppContext) -> None:
    app = await make_client(ctx, grants=CODE_GRANTS)
    user = await make_user(ctx)
    _, challenge = pkce_pair()
    pk = {"code_challenge": challenge, "code_challenge_method": "S256"}
    for uri in (
        REDIRECT + "/x",
        REDIRECT + "?a=1",
        REDIRECT + "/",
        REDIRECT.upper(),
        "https://evil.example/cb",
    ):
        error, location = await authorize_error(ctx, app.client_id, user, redirect_uri=uri, **pk)
        assert location is None and error == "invalid_request", uri
    error, location = await authorize_error(ctx, "unknown-client", user, **pk)
    assert location is None and error == "invalid_client"


async def test_P4_P5_missing_wrong_or_malformed_verifier(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app = await make_client(ctx, grants=CODE_GRANTS)
    user = await make_user(ctx)
    verifier, challenge = pkce_pair()
    for bad in (None, pkce_pair()[0], "short", verifier + "!"):
        code = await get_code(ctx, app, user, challenge=challenge)
        response = await client.post("/token", data=exchange(code, bad), auth=app.basic)
        assert response.status_code == 400 and response.json()["error"] == "invalid_grant", bad


async def test_P6_code_without_challenge_cannot_be_redeemed(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    # Such a code can only exist if the rules were bypassed; it must still not be redeemable.
    app = await make_client(ctx, grants=CODE_GRANTS)
    user = await make_user(ctx)
    verifier, challenge = pkce_pair()
    code = await get_code(ctx, app, user, challenge=challenge)
    async with ctx.transaction() as session:
        await session.execute(
            update(AuthorizationCode).values(code_challenge=None, code_challenge_method=None)
        )
    response = await client.post("/token", data=exchange(code, verifier), auth=app.basic)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


async def test_T6_redirect_uri_mismatch_or_missing(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app = await make_client(ctx, grants=CODE_GRANTS)
    user = await make_user(ctx)
    verifier, challenge = pkce_pair()
    code = await get_code(ctx, app, user, challenge=challenge)
    wrong = await client.post(
        "/token", data=exchange(code, verifier, redirect_uri=REDIRECT + "/x"), auth=app.basic
    )
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    data = exchange(code, verifier)
    del data["redirect_uri"]
    missing = await client.post("/token", data=data, auth=app.basic)
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_grant"
    # Failed attempts did not burn the code.
    assert (await client.post("/token", data=exchange(code, verifier), auth=app.basic)).status_code == 200


async def test_T5_code_redeemed_by_another_client(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app = await make_client(ctx, grants=CODE_GRANTS)
    other = await make_client(ctx, grants=CODE_GRANTS)
    user = await make_user(ctx)
    verifier, challenge = pkce_pair()
    code = await get_code(ctx, app, user, challenge=challenge)
    response = await client.post("/token", data=exchange(code, verifier), auth=other.basic)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


async def test_T7_code_reuse_revokes_tokens(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app = await make_client(ctx, grants=CODE_GRANTS)
    rs = await make_resource_server(ctx)
    user = await make_user(ctx)
    verifier, challenge = pkce_pair()
    code = await get_code(ctx, app, user, challenge=challenge)
    first = await client.post("/token", data=exchange(code, verifier), auth=app.basic)
    assert first.status_code == 200
    tokens = first.json()
    assert (await introspect(client, rs, tokens["access_token"]))["active"] is True

    again = await client.post("/token", data=exchange(code, verifier), auth=app.basic)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert await introspect(client, rs, tokens["access_token"]) == {"active": False}
    assert await introspect(client, rs, tokens["refresh_token"]) == {"active": False}
    refresh = await client.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=app.basic,
    )
    assert refresh.status_code == 400 and refresh.json()["error"] == "invalid_grant"


async def test_expired_code(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app = await make_client(ctx, grants=CODE_GRANTS)
    user = await make_user(ctx)
    verifier, challenge = pkce_pair()
    code = await get_code(ctx, app, user, challenge=challenge)
    async with ctx.transaction() as session:
        await session.execute(update(AuthorizationCode).values(expires_at=utcnow() - timedelta(seconds=1)))
    response = await client.post("/token", data=exchange(code, verifier), auth=app.basic)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


async def test_T8_code_lifetime_default_one_minute(ctx: AppContext) -> None:
    app = await make_client(ctx, grants=CODE_GRANTS)
    user = await make_user(ctx)
    await get_code(ctx, app, user, challenge=pkce_pair()[1])
    async with ctx.transaction() as session:
        from sqlalchemy import select

        row = (await session.scalars(select(AuthorizationCode))).one()
    assert timedelta(seconds=55) < row.expires_at - row.created_at <= timedelta(seconds=60)


async def test_T8_parallel_redemptions_one_success(
    client: httpx.AsyncClient, ctx: AppContext, backend: str
) -> None:
    app = await make_client(ctx, grants=CODE_GRANTS)
    user = await make_user(ctx)
    verifier, challenge = pkce_pair()
    code = await get_code(ctx, app, user, challenge=challenge)
    responses = await asyncio.gather(
        *(client.post("/token", data=exchange(code, verifier), auth=app.basic) for _ in range(8))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) == 1 and statuses.count(400) == 7, [r.text for r in responses]
    assert all(r.json()["error"] == "invalid_grant" for r in responses if r.status_code == 400)


@pytest.mark.parametrize("grant", ["authorization_code"])
async def test_T9_client_without_code_grant(client: httpx.AsyncClient, ctx: AppContext, grant: str) -> None:
    app = await make_client(ctx, grants=("client_credentials",))
    response = await client.post("/token", data=exchange("x" * 43, "y" * 43), auth=app.basic)
    assert response.status_code == 400 and response.json()["error"] == "unauthorized_client"


async def test_T7_reuse_by_another_client_also_revokes(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app = await make_client(ctx, grants=("authorization_code", "refresh_token"))
    thief = await make_client(ctx, grants=("authorization_code",))
    rs = await make_resource_server(ctx)
    user = await make_user(ctx)
    verifier, challenge = pkce_pair()
    code = await get_code(ctx, app, user, challenge=challenge)
    tokens = (await client.post("/token", data=exchange(code, verifier), auth=app.basic)).json()
    assert (await introspect(client, rs, tokens["access_token"]))["active"] is True
    stolen = await client.post("/token", data=exchange(code, verifier), auth=thief.basic)
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"
    assert await introspect(client, rs, tokens["access_token"]) == {"active": False}


async def test_no_tokens_for_a_code_of_a_user_disabled_since(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    app = await make_client(ctx, grants=("authorization_code",))
    user = await make_user(ctx)
    verifier, challenge = pkce_pair()
    code = await get_code(ctx, app, user, challenge=challenge)
    async with ctx.transaction() as session:
        await users.set_disabled(session, user.id, True)
    response = await client.post("/token", data=exchange(code, verifier), auth=app.basic)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
