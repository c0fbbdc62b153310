"""L1: no password or password hash in any log line during signup and signin, with the logging
configuration the server really uses, at its most verbose level."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from authserver.context import AppContext
from authserver.db.models import User
from authserver.domain import users
from authserver.log import JsonFormatter
from tests.log_capture import Collect

PASSWORD = "unguessable Passphrase 4 audit"


async def test_L1_signup_and_signin_log_no_password_or_hash(
    client: httpx.AsyncClient, ctx: AppContext, server_logging: Collect
) -> None:
    body = {"email": "someone@example.com", "username": "someone", "password": PASSWORD}
    assert (await client.post("/signup", json=body)).status_code == 201
    assert (await client.post("/signup", json=body)).status_code == 409
    await client.post("/signup", json=body | {"username": "x", "email": "bad"})
    async with ctx.transaction() as session:
        for attempt in (PASSWORD, PASSWORD + "wrong"):
            await users.authenticate(session, ctx.hasher, "someone", attempt, max_password_length=1024)
        stored_hash = (await session.scalars(select(User.password_hash))).one()

    assert any(r.name == "authserver.audit" for r in server_logging.records)
    formatter = JsonFormatter()
    for record in server_logging.records:
        line = formatter.format(record)
        for secret in (PASSWORD, stored_hash, stored_hash.split("$")[-1]):
            assert secret not in line, f"secret leaked in log line from {record.name}"


async def test_L1_token_endpoint_logs_no_tokens_codes_or_secrets(
    client: httpx.AsyncClient, ctx: AppContext, server_logging: Collect
) -> None:
    from tests.oauth.helpers import exchange, get_code, make_client, make_user, pkce_pair

    app = await make_client(ctx, grants=("authorization_code", "password", "refresh_token"))
    user = await make_user(ctx)
    verifier, challenge = pkce_pair()
    code = await get_code(ctx, app, user, challenge=challenge)
    exchanged = (
        await client.post(
            "/token",
            data=exchange(code, verifier),
            auth=app.basic,
        )
    ).json()
    from tests.oauth.helpers import PASSWORD as USER_PASSWORD

    password_tokens = (
        await client.post(
            "/token",
            data={"grant_type": "password", "username": "alice", "password": USER_PASSWORD},
            auth=app.basic,
        )
    ).json()
    refreshed = (
        await client.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": password_tokens["refresh_token"]},
            auth=app.basic,
        )
    ).json()
    await client.post(
        "/token",
        data={"grant_type": "password", "username": "alice", "password": "nope nope"},
        auth=app.basic,
    )
    await client.post("/revoke", data={"token": refreshed["refresh_token"]}, auth=app.basic)

    secrets = [app.secret, code, verifier, USER_PASSWORD, "nope nope"]
    for body in (exchanged, password_tokens, refreshed):
        secrets += [body["access_token"], body["refresh_token"]]
    assert any(r.name == "authserver.audit" for r in server_logging.records)
    formatter = JsonFormatter()
    for record in server_logging.records:
        line = formatter.format(record)
        for secret in secrets:
            assert secret and secret not in line, f"secret leaked in log line from {record.name}"
