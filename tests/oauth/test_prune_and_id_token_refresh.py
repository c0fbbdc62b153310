"""Housekeeping of token records, and ID tokens on refresh (R7)."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import func, select, update

from authserver.context import AppContext
from authserver.db.models import AuthorizationCode, RefreshToken, RevokedAccessToken, TokenFamily
from authserver.db.types import utcnow
from authserver.domain import token_families
from tests.oauth.helpers import (
    PASSWORD,
    exchange,
    get_code,
    introspect,
    make_client,
    make_resource_server,
    make_user,
    pkce_pair,
    unverified_claims,
)


async def counts(ctx: AppContext) -> tuple[int, ...]:
    found = []
    async with ctx.transaction() as session:
        for model in (RevokedAccessToken, AuthorizationCode, TokenFamily, RefreshToken):
            found.append(int(await session.scalar(select(func.count()).select_from(model)) or 0))
    return tuple(found)


async def prune(ctx: AppContext) -> token_families.Pruned:
    async with ctx.transaction() as session:
        return await token_families.prune_expired(
            session, access_ttl=timedelta(seconds=600), idle=timedelta(days=14), skew=timedelta(seconds=60)
        )


async def test_prune_keeps_live_records_and_removes_dead_ones(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    app = await make_client(ctx, grants=("authorization_code", "password", "refresh_token"))
    rs = await make_resource_server(ctx)
    user = await make_user(ctx)
    form = {"grant_type": "password", "username": "alice", "password": PASSWORD}
    live = (await client.post("/token", data=form, auth=app.basic)).json()
    doomed = (await client.post("/token", data=form, auth=app.basic)).json()
    await get_code(ctx, app, user, challenge=pkce_pair()[1])
    # Issuing wrote no per-token record (architecture §2): none to prune either.
    assert await counts(ctx) == (0, 1, 2, 2)
    assert await prune(ctx) == token_families.Pruned(0, 0, 0)

    assert (await introspect(client, rs, doomed["access_token"]))["active"] is True
    family_id = unverified_claims(doomed["access_token"])["fam"]
    async with ctx.transaction() as session:
        long_ago = utcnow() - timedelta(days=2)
        await session.execute(
            update(TokenFamily).where(TokenFamily.id == family_id).values(expires_at=long_ago)
        )
        await session.execute(update(AuthorizationCode).values(expires_at=long_ago))
    pruned = await prune(ctx)
    assert pruned.families == 1 and pruned.codes == 1
    assert await counts(ctx) == (0, 0, 1, 1)
    assert (await introspect(client, rs, live["access_token"]))["active"] is True
    assert await introspect(client, rs, doomed["access_token"]) == {"active": False}


async def test_R7_id_token_on_refresh_keeps_auth_time_and_drops_nonce(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    app = await make_client(
        ctx, grants=("authorization_code", "refresh_token"), scope="openid offline_access"
    )
    user = await make_user(ctx)
    verifier, challenge = pkce_pair()
    code = await get_code(
        ctx, app, user, challenge=challenge, scope="openid offline_access", extra={"nonce": "abc"}
    )
    first = (
        await client.post(
            "/token",
            data=exchange(code, verifier),
            auth=app.basic,
        )
    ).json()
    refreshed = await client.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        auth=app.basic,
    )
    assert refreshed.status_code == 200, refreshed.text
    original, renewed = unverified_claims(first["id_token"]), unverified_claims(refreshed.json()["id_token"])
    assert renewed["iss"] == original["iss"] and renewed["sub"] == original["sub"] == user.id
    assert renewed["aud"] == original["aud"] and renewed["auth_time"] == original["auth_time"]
    assert original["nonce"] == "abc" and "nonce" not in renewed
    assert renewed["iat"] >= original["iat"]


async def test_prune_keeps_a_young_family_without_refresh_tokens(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    """A password grant to a client without the refresh grant starts a family with no refresh
    token; its access tokens name it, so it must outlive them (idle is judged from its start)."""
    app = await make_client(ctx, grants=("password",))
    rs = await make_resource_server(ctx)
    await make_user(ctx)
    form = {"grant_type": "password", "username": "alice", "password": PASSWORD}
    tokens = (await client.post("/token", data=form, auth=app.basic)).json()
    assert "refresh_token" not in tokens
    assert (await prune(ctx)).families == 0
    assert (await introspect(client, rs, tokens["access_token"]))["active"] is True
    async with ctx.transaction() as session:
        await session.execute(update(TokenFamily).values(created_at=utcnow() - timedelta(days=15)))
    assert (await prune(ctx)).families == 1
