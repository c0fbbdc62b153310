"""The kit against the real authserver app: its metadata, JWKS, tokens and introspection."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest

from authserver.context import AppContext
from authserver.domain import keys
from authserver_resource import Authenticator, Introspection, InvalidToken, Issuer
from tests.conftest import ISSUER
from tests.kit.conftest import FakeClock
from tests.oauth.helpers import (
    PASSWORD,
    RegisteredApp,
    exchange,
    get_code,
    make_client,
    make_user,
    pkce_pair,
    unverified_header,
)

API = "https://api.example.com"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"key_refresh_interval": 0.05}  # the app sees a rotation at once


async def client_credentials(client: httpx.AsyncClient, app: RegisteredApp, **extra: str) -> str:
    response = await client.post("/token", data={"grant_type": "client_credentials"} | extra, auth=app.basic)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def test_our_client_credentials_token_accepted(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app = await make_client(ctx, scope="orders:read orders:write", resources=(API,))
    token = await client_credentials(client, app, resource=API)
    # The kit discovers the metadata and JWKS of the real app (through the in-process transport).
    authenticator = Authenticator([Issuer(ISSUER, audience=API)], http=client)
    principal = await authenticator.verify_jwt(token)
    assert principal.issuer == ISSUER and principal.client_id == app.client_id
    assert principal.scopes == {"orders:read", "orders:write"}
    assert principal.claims["aud"] == API and principal.claims["jti"]
    # The same token for an API it was not issued to.
    elsewhere = Authenticator([Issuer(ISSUER, audience="https://other-api.example")], http=client)
    with pytest.raises(InvalidToken):
        await elsewhere.verify_jwt(token)


async def test_user_token_accepted_and_id_token_refused(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app = await make_client(ctx, grants=("authorization_code",), scope="openid read")
    user = await make_user(ctx)
    verifier, challenge = pkce_pair()
    code = await get_code(ctx, app, user, scope="openid read", challenge=challenge)
    response = await client.post("/token", data=exchange(code, verifier), auth=app.basic)
    assert response.status_code == 200, response.text
    authenticator = Authenticator([Issuer(ISSUER, audience=ISSUER)], http=client)
    principal = await authenticator.verify_jwt(response.json()["access_token"])
    assert principal.scopes == {"openid", "read"} and principal.client_id == app.client_id
    # J7: the ID token is signed by the same keys, but it is not an access token (typ, aud).
    with pytest.raises(InvalidToken):
        await authenticator.verify_jwt(response.json()["id_token"])
    for_client = Authenticator([Issuer(ISSUER, audience=app.client_id)], http=client)
    with pytest.raises(InvalidToken):
        await for_client.verify_jwt(response.json()["id_token"])


async def test_revoked_token_refused_with_introspection(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app = await make_client(ctx, grants=("password", "refresh_token"), scope="read")
    await make_user(ctx)
    tokens = await client.post(
        "/token", data={"grant_type": "password", "username": "alice", "password": PASSWORD}, auth=app.basic
    )
    assert tokens.status_code == 200, tokens.text
    access, refresh = tokens.json()["access_token"], tokens.json()["refresh_token"]
    rs = await make_client(ctx, scope="read", introspect=True)  # RFC 7662 §4: designated (I9)
    assert rs.secret is not None
    issuer = Issuer(
        ISSUER, audience=ISSUER, introspection=Introspection(rs.client_id, rs.secret, cache_ttl=0)
    )
    checked = Authenticator([issuer], http=client)
    local_only = Authenticator([Issuer(ISSUER, audience=ISSUER)], http=client)
    assert (await checked.verify_jwt(access)).subject == (await local_only.verify_jwt(access)).subject
    # Revoking the refresh token kills its family's access tokens (RFC 7009 §2.1, checklist I8).
    revoked = await client.post("/revoke", data={"token": refresh}, auth=app.basic)
    assert revoked.status_code == 200
    with pytest.raises(InvalidToken) as caught:
        await checked.verify_jwt(access)
    assert caught.value.description == "The access token is not active."
    # Without introspection, the signature alone still says yes until the token expires: that is
    # exactly why services that need revocation to count at once turn introspection on.
    assert (await local_only.verify_jwt(access)).subject


async def test_issuer_key_rotation_picked_up_without_restart(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    app = await make_client(ctx)
    clock = FakeClock()
    authenticator = Authenticator([Issuer(ISSUER, audience=ISSUER)], http=client, monotonic=clock)
    before = await client_credentials(client, app)
    await authenticator.verify_jwt(before)  # caches the JWKS: current and next key
    for _ in range(2):  # the second rotation promotes a key the kit has never seen
        async with ctx.transaction() as session:
            promoted = await keys.rotate(
                session, ctx.key_encryptor(), 2048, min_next_age=timedelta(0), force=True
            )
    # The app re-reads its ring every key_refresh_interval; on a loaded machine that can take a
    # while, so wait for it to sign with the promoted key rather than for a fixed time.
    for _ in range(200):
        after = await client_credentials(client, app)
        if unverified_header(after)["kid"] == promoted.kid:
            break
        await asyncio.sleep(0.05)
    assert unverified_header(after)["kid"] == promoted.kid
    with pytest.raises(InvalidToken):  # the refetch happened less than refetch_interval ago
        await authenticator.verify_jwt(after)
    clock.advance(10)
    assert (await authenticator.verify_jwt(after)).client_id == app.client_id
    # The retired key stays published until its tokens expire (J9): old tokens still verify.
    assert (await authenticator.verify_jwt(before)).client_id == app.client_id
