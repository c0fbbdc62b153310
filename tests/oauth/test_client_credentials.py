"""POST /token with client_credentials, and the endpoint-wide rules (T1-T4, T9, T10, J1-J3)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from authserver.context import AppContext
from tests.conftest import ISSUER
from tests.oauth.helpers import make_client, unverified_claims, unverified_header


async def test_issues_rfc9068_access_token(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app = await make_client(ctx)
    response = await client.post("/token", data={"grant_type": "client_credentials"}, auth=app.basic)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 600
    assert body["scope"] == "read write" and "refresh_token" not in body
    header, claims = unverified_header(body["access_token"]), unverified_claims(body["access_token"])
    assert header["typ"] == "at+jwt" and header["alg"] == "RS256" and header["kid"]  # J1
    assert claims["iss"] == ISSUER and claims["aud"] == ISSUER
    assert claims["sub"] == app.client_id == claims["client_id"]  # J2
    assert claims["exp"] - claims["iat"] == 600 and abs(claims["iat"] - time.time()) < 5  # J3
    assert len(claims["jti"]) >= 16


async def test_T2_token_responses_are_no_store_json(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app = await make_client(ctx)
    ok = await client.post("/token", data={"grant_type": "client_credentials"}, auth=app.basic)
    bad = await client.post("/token", data={"grant_type": "nope"}, auth=app.basic)
    for response in (ok, bad):
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["pragma"] == "no-cache"
        assert response.headers["content-type"] == "application/json"
    assert bad.status_code == 400 and bad.json()["error"] == "unsupported_grant_type"


async def test_T1_get_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/token", params={"grant_type": "client_credentials"})
    assert response.status_code == 405 and "access_token" not in response.text


async def test_T3_wrong_secret_basic_is_401_with_challenge(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    app = await make_client(ctx)
    response = await client.post(
        "/token", data={"grant_type": "client_credentials"}, auth=(app.client_id, "wrong")
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic")


async def test_T3_unknown_client_and_missing_auth(client: httpx.AsyncClient) -> None:
    unknown = await client.post("/token", data={"grant_type": "client_credentials"}, auth=("nobody", "x"))
    assert unknown.status_code == 401 and unknown.json()["error"] == "invalid_client"
    missing = await client.post("/token", data={"grant_type": "client_credentials"})
    assert missing.status_code in (400, 401) and missing.json()["error"] == "invalid_client"


async def test_client_secret_post(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app = await make_client(ctx, auth_method="client_secret_post")
    ok = await client.post(
        "/token",
        data={"grant_type": "client_credentials", "client_id": app.client_id, "client_secret": app.secret},
    )
    assert ok.status_code == 200, ok.text
    bad = await client.post(
        "/token",
        data={"grant_type": "client_credentials", "client_id": app.client_id, "client_secret": "x"},
    )
    assert bad.status_code in (400, 401) and bad.json()["error"] == "invalid_client"


async def test_T4_two_auth_methods_or_repeated_parameter(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app = await make_client(ctx)
    both = await client.post(
        "/token",
        data={"grant_type": "client_credentials", "client_id": app.client_id, "client_secret": app.secret},
        auth=app.basic,
    )
    assert both.status_code == 400 and both.json()["error"] == "invalid_request"
    repeated = await client.post(
        "/token",
        content="grant_type=client_credentials&scope=read&scope=write",
        headers={"content-type": "application/x-www-form-urlencoded"},
        auth=app.basic,
    )
    assert repeated.status_code == 400 and repeated.json()["error"] == "invalid_request"


async def test_T9_grant_not_registered_is_unauthorized_client(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    app = await make_client(ctx, grants=("password",))
    response = await client.post("/token", data={"grant_type": "client_credentials"}, auth=app.basic)
    assert response.status_code == 400 and response.json()["error"] == "unauthorized_client"


async def test_T10_scope_beyond_registration_is_invalid_scope(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    app = await make_client(ctx, scope="read")
    response = await client.post(
        "/token", data={"grant_type": "client_credentials", "scope": "read admin"}, auth=app.basic
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_scope"
    narrowed = await client.post(
        "/token", data={"grant_type": "client_credentials", "scope": "read"}, auth=app.basic
    )
    assert narrowed.json()["scope"] == "read"


async def test_resource_indicator_sets_audience(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app = await make_client(ctx, resources=("https://api.example.com",))
    ok = await client.post(
        "/token",
        data={"grant_type": "client_credentials", "resource": "https://api.example.com"},
        auth=app.basic,
    )
    assert unverified_claims(ok.json()["access_token"])["aud"] == "https://api.example.com"
    refused = await client.post(
        "/token",
        data={"grant_type": "client_credentials", "resource": "https://other.example.com"},
        auth=app.basic,
    )
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_target"


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        ("grant_type=client_credentials", "application/json", 415),
        ('{"grant_type": "client_credentials"}', "application/json", 415),
        ("x" * 70_000, "application/x-www-form-urlencoded", 413),
    ],
)
async def test_bad_bodies(
    client: httpx.AsyncClient, ctx: AppContext, content: str, content_type: str, status: int
) -> None:
    app = await make_client(ctx)
    response = await client.post(
        "/token", content=content, headers={"content-type": content_type}, auth=app.basic
    )
    assert response.status_code == status and response.json()["error"] == "invalid_request"


async def test_public_client_cannot_use_client_credentials(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    app = await make_client(ctx, grants=("authorization_code",), public=True)
    response = await client.post(
        "/token", data={"grant_type": "client_credentials", "client_id": app.client_id}
    )
    assert response.status_code in (400, 401) and response.json()["error"] in (
        "invalid_client",
        "unauthorized_client",
    )


async def test_rotated_secret_works_during_overlap_then_refused(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    from datetime import timedelta

    from authserver.domain import clients

    app = await make_client(ctx)
    async with ctx.transaction() as session:
        new_secret = await clients.rotate_secret(session, app.client_id, timedelta(seconds=1))
    form = {"grant_type": "client_credentials"}
    assert (await client.post("/token", data=form, auth=app.basic)).status_code == 200
    assert (await client.post("/token", data=form, auth=(app.client_id, new_secret))).status_code == 200
    # The overlap ends by time alone: no write happens, yet a cached client refuses the old secret.
    await asyncio.sleep(1.2)
    old = await client.post("/token", data=form, auth=app.basic)
    assert old.status_code == 401 and old.json()["error"] == "invalid_client"
    assert (await client.post("/token", data=form, auth=(app.client_id, new_secret))).status_code == 200


async def test_T4_body_client_id_must_match_basic_auth(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app = await make_client(ctx)
    other = await make_client(ctx)
    mismatch = await client.post(
        "/token", data={"grant_type": "client_credentials", "client_id": other.client_id}, auth=app.basic
    )
    assert mismatch.status_code == 400 and mismatch.json()["error"] == "invalid_request"
    same = await client.post(
        "/token", data={"grant_type": "client_credentials", "client_id": app.client_id}, auth=app.basic
    )
    assert same.status_code == 200
