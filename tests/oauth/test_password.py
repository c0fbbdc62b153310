"""password grant (first-party only), scopes limited by roles (RBAC), B1 over HTTP."""

from __future__ import annotations

import httpx
import pytest

from authserver.context import AppContext
from authserver.domain import users
from tests.oauth.helpers import PASSWORD, make_client, make_user, unverified_claims


def password_form(username: str = "alice", password: str = PASSWORD, **extra: str) -> dict[str, str]:
    return {"grant_type": "password", "username": username, "password": password} | extra


async def test_password_grant_issues_tokens(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app = await make_client(ctx, grants=("password", "refresh_token"))
    user = await make_user(ctx)
    response = await client.post("/token", data=password_form(), auth=app.basic)
    assert response.status_code == 200, response.text
    body = response.json()
    assert unverified_claims(body["access_token"])["sub"] == user.id
    assert "refresh_token" in body


async def test_no_refresh_token_without_refresh_grant(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app = await make_client(ctx, grants=("password",))
    await make_user(ctx)
    body = (await client.post("/token", data=password_form(), auth=app.basic)).json()
    assert "access_token" in body and "refresh_token" not in body


async def test_B1_bad_credentials_are_invalid_grant_and_identical(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    app = await make_client(ctx, grants=("password",))
    await make_user(ctx)
    await make_user(ctx, "carol")
    async with ctx.transaction() as session:
        await users.set_disabled(session, "carol", True)
    answers = [
        await client.post("/token", data=password_form(password=PASSWORD + "x"), auth=app.basic),
        await client.post("/token", data=password_form(username="nobody"), auth=app.basic),
        await client.post("/token", data=password_form(username="carol"), auth=app.basic),
    ]
    assert {(r.status_code, r.text) for r in answers} == {
        (400, '{"error":"invalid_grant","error_description":"Invalid username or password."}')
    }


async def test_T9_password_grant_off_unless_registered(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app = await make_client(ctx, grants=("client_credentials",))
    await make_user(ctx)
    response = await client.post("/token", data=password_form(), auth=app.basic)
    assert response.status_code == 400 and response.json()["error"] == "unauthorized_client"


async def test_missing_username_is_invalid_request(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app = await make_client(ctx, grants=("password",))
    response = await client.post("/token", data={"grant_type": "password", "password": "x"}, auth=app.basic)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


@pytest.mark.parametrize("settings_overrides", [{"role_scopes": {"admin": ["admin:write"]}}])
async def test_role_restricted_scope_needs_the_role(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app = await make_client(ctx, grants=("password",), scope="read admin:write roles")
    await make_user(ctx, "alice")
    await make_user(ctx, "root", roles=("admin",))
    plain = await client.post("/token", data=password_form(scope="read admin:write"), auth=app.basic)
    assert plain.json()["scope"] == "read"
    admin = await client.post(
        "/token", data=password_form(username="root", scope="read admin:write"), auth=app.basic
    )
    claims = unverified_claims(admin.json()["access_token"])
    assert claims["scope"] == "admin:write read" and "roles" not in claims
    with_roles = await client.post(
        "/token", data=password_form(username="root", scope="read roles"), auth=app.basic
    )
    assert unverified_claims(with_roles.json()["access_token"])["roles"] == ["admin"]


async def test_T10_scope_beyond_client_registration(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app = await make_client(ctx, grants=("password",), scope="read")
    await make_user(ctx)
    response = await client.post("/token", data=password_form(scope="read write"), auth=app.basic)
    assert response.status_code == 400 and response.json()["error"] == "invalid_scope"


async def test_J2_client_sub_never_equals_user_sub(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app = await make_client(ctx, grants=("password", "client_credentials"))
    await make_user(ctx)
    user_token = (await client.post("/token", data=password_form(), auth=app.basic)).json()
    client_token = (
        await client.post("/token", data={"grant_type": "client_credentials"}, auth=app.basic)
    ).json()
    user_sub = unverified_claims(user_token["access_token"])["sub"]
    client_sub = unverified_claims(client_token["access_token"])["sub"]
    assert user_sub != client_sub and len(user_sub) == 36 and len(client_sub) != 36


async def test_L2_logins_audited_with_user_client_ip_and_no_identifier(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    from sqlalchemy import select

    from authserver.db.models import AuditEvent

    app = await make_client(ctx, grants=("password",))
    user = await make_user(ctx)
    await client.post("/token", data=password_form(), auth=app.basic)
    await client.post("/token", data=password_form(password="wrong password attempt"), auth=app.basic)
    await client.post("/token", data=password_form(username="typed-my-password-here"), auth=app.basic)
    async with ctx.transaction() as session:
        events = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.event.like("login.%")).order_by(AuditEvent.id)
            )
        ).all()
    summary = [(e.event, e.user_id, e.client_id, e.ip, e.detail.get("reason")) for e in events]
    assert summary == [
        ("login.succeeded", user.id, app.client_id, "203.0.113.7", None),
        ("login.failed", user.id, app.client_id, "203.0.113.7", "bad_password"),
        ("login.failed", None, app.client_id, "203.0.113.7", "unknown_user"),
    ]
    rendered = repr([e.__dict__ for e in events])
    for secret in (PASSWORD, "wrong password attempt", "typed-my-password-here"):
        assert secret not in rendered
