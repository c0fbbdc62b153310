"""RFC 7662 introspection and RFC 7009 revocation (I1-I8)."""

from __future__ import annotations

import time

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from authserver.context import AppContext
from authserver.oauth.access_tokens import sign_access_token
from tests.conftest import ISSUER
from tests.oauth.helpers import (
    PASSWORD,
    introspect,
    make_client,
    make_resource_server,
    make_user,
    unverified_claims,
    unverified_header,
)


async def password_tokens(client: httpx.AsyncClient, ctx: AppContext):  # type: ignore[no-untyped-def]
    # The app may introspect too: a refresh token is introspectable only by its own client (I9).
    app = await make_client(ctx, grants=("password", "refresh_token"), introspect=True)
    await make_user(ctx)
    response = await client.post(
        "/token", data={"grant_type": "password", "username": "alice", "password": PASSWORD}, auth=app.basic
    )
    assert response.status_code == 200
    return app, response.json()


async def test_I1_introspection_needs_client_auth(client: httpx.AsyncClient, ctx: AppContext) -> None:
    _, tokens = await password_tokens(client, ctx)
    response = await client.post("/introspect", data={"token": tokens["access_token"]})
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    wrong = await client.post("/introspect", data={"token": tokens["access_token"]}, auth=("x", "y"))
    assert wrong.status_code == 401


async def test_I3_active_access_and_refresh_tokens(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app, tokens = await password_tokens(client, ctx)
    rs = await make_resource_server(ctx)
    access = await introspect(client, rs, tokens["access_token"])
    assert access["active"] is True and access["client_id"] == app.client_id
    assert (
        access["scope"] == "read write" and access["token_type"] == "Bearer" and access["exp"] > time.time()
    )
    refresh = await introspect(client, app, tokens["refresh_token"])
    assert refresh["active"] is True and refresh["token_type"] == "refresh_token"


async def test_I2_inactive_answers_say_nothing_else(client: httpx.AsyncClient, ctx: AppContext) -> None:
    _, tokens = await password_tokens(client, ctx)
    rs = await make_resource_server(ctx)
    access = tokens["access_token"]
    head, payload, sig = access.split(".")
    claims = unverified_claims(access)
    # Same claims, signed by a key we never published (a "foreign" token).
    foreign = jwt.encode(
        {"alg": "RS256", "typ": "at+jwt", "kid": unverified_header(access)["kid"]},
        claims,
        RSAKey.generate_key(2048, private=True),
        algorithms=["RS256"],
    )
    for token in ("unknown", "a.b.c", f"{head}.{payload}.{sig[:-4]}AAAA", foreign, "x" * 9000):
        assert await introspect(client, rs, token) == {"active": False}, token[:40]
    # Our own signature and claims, but past `exp`: inactive.
    ring = await ctx.keyring()
    expired = sign_access_token(
        ring, issuer=ISSUER, subject="alice", audience=ISSUER, client_id=claims["client_id"], scope="", ttl=-5
    )
    assert await introspect(client, rs, expired.value) == {"active": False}


async def test_I6_revoking_unknown_token_is_200(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app = await make_client(ctx)
    response = await client.post("/revoke", data={"token": "never-issued"}, auth=app.basic)
    assert response.status_code == 200


async def test_revoking_access_token_makes_it_inactive(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app, tokens = await password_tokens(client, ctx)
    rs = await make_resource_server(ctx)
    response = await client.post(
        "/revoke", data={"token": tokens["access_token"], "token_type_hint": "access_token"}, auth=app.basic
    )
    assert response.status_code == 200
    assert await introspect(client, rs, tokens["access_token"]) == {"active": False}
    assert (await introspect(client, app, tokens["refresh_token"]))["active"] is True


async def test_I8_revoking_refresh_token_kills_family(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app, tokens = await password_tokens(client, ctx)
    rs = await make_resource_server(ctx)
    # A wrong hint is ignored.
    response = await client.post(
        "/revoke", data={"token": tokens["refresh_token"], "token_type_hint": "access_token"}, auth=app.basic
    )
    assert response.status_code == 200
    assert await introspect(client, rs, tokens["refresh_token"]) == {"active": False}
    assert await introspect(client, rs, tokens["access_token"]) == {"active": False}
    refreshed = await client.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=app.basic,
    )
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"


async def test_I5_revocation_with_bad_credentials(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app, tokens = await password_tokens(client, ctx)
    response = await client.post(
        "/revoke", data={"token": tokens["access_token"]}, auth=(app.client_id, "bad")
    )
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


async def test_I7_client_cannot_revoke_another_clients_token(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    _, tokens = await password_tokens(client, ctx)
    other = await make_client(ctx)
    rs = await make_resource_server(ctx)
    response = await client.post("/revoke", data={"token": tokens["access_token"]}, auth=other.basic)
    assert response.status_code == 400
    assert (await introspect(client, rs, tokens["access_token"]))["active"] is True


async def test_revocation_and_introspection_are_post_form_only(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    app = await make_client(ctx)
    assert (await client.get("/introspect")).status_code == 405
    bad = await client.post("/introspect", json={"token": "x"}, auth=app.basic)
    assert bad.status_code == 415


async def test_I9_only_designated_clients_may_introspect(client: httpx.AsyncClient, ctx: AppContext) -> None:
    _, tokens = await password_tokens(client, ctx)
    ordinary = await make_client(ctx)
    response = await client.post("/introspect", data={"token": tokens["access_token"]}, auth=ordinary.basic)
    assert response.status_code == 403 and response.json()["error"] == "unauthorized_client"
    assert "sub" not in response.text and "active" not in response.text


async def test_I9_refresh_token_introspectable_only_by_its_own_client(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    app, tokens = await password_tokens(client, ctx)
    rs = await make_resource_server(ctx)
    assert await introspect(client, rs, tokens["refresh_token"]) == {"active": False}
    own = await introspect(client, app, tokens["refresh_token"])
    assert own["active"] is True and own["client_id"] == app.client_id


@pytest.mark.parametrize("hint", ["banana", "ACCESS_TOKEN", "", "id_token"])
async def test_I8_unknown_token_type_hint_is_ignored(
    client: httpx.AsyncClient, ctx: AppContext, hint: str
) -> None:
    app, tokens = await password_tokens(client, ctx)
    rs = await make_resource_server(ctx)
    seen = await client.post(
        "/introspect", data={"token": tokens["access_token"], "token_type_hint": hint}, auth=rs.basic
    )
    assert seen.status_code == 200 and seen.json()["active"] is True
    revoked = await client.post(
        "/revoke", data={"token": tokens["refresh_token"], "token_type_hint": hint}, auth=app.basic
    )
    assert revoked.status_code == 200
    assert await introspect(client, app, tokens["refresh_token"]) == {"active": False}


async def test_I1_every_401_carries_www_authenticate(client: httpx.AsyncClient, ctx: AppContext) -> None:
    rs = await make_resource_server(ctx)
    for data in (
        {"token": "x"},
        {"token": "x", "client_id": rs.client_id},
        {"token": "x", "client_id": rs.client_id, "client_secret": "wrong"},
    ):
        for path in ("/introspect", "/revoke"):
            response = await client.post(path, data=data)
            assert response.status_code == 401, (path, data, response.text)
            assert response.headers["www-authenticate"].startswith("Basic")
