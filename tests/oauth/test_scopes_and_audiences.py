"""Scopes and audiences never widen (RFC 6749 §3.3, §6; RFC 8707 §2.2; R3, T10)."""

from __future__ import annotations

import httpx
import pytest

from authserver.context import AppContext
from tests.oauth.helpers import (
    PASSWORD,
    REDIRECT,
    exchange,
    get_code,
    make_client,
    make_user,
    pkce_pair,
    unverified_claims,
)

API = "https://api.example.com"
OTHER_API = "https://other.example.com"


@pytest.mark.parametrize("settings_overrides", [{"role_scopes": {"admin": ["admin:write"]}}])
async def test_R3_empty_granted_scope_refreshes_to_empty_not_to_registration(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    # Role filtering leaves nothing of what was asked: the grant's scope is empty.
    app = await make_client(ctx, grants=("password", "refresh_token"), scope="admin:write read write")
    await make_user(ctx)
    login = await client.post(
        "/token",
        data={"grant_type": "password", "username": "alice", "password": PASSWORD, "scope": "admin:write"},
        auth=app.basic,
    )
    assert login.status_code == 200 and login.json()["scope"] == ""
    refreshed = await client.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": login.json()["refresh_token"]},
        auth=app.basic,
    )
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["scope"] == ""
    assert unverified_claims(refreshed.json()["access_token"])["scope"] == ""
    wider = await client.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refreshed.json()["refresh_token"],
            "scope": "read",
        },
        auth=app.basic,
    )
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"


@pytest.mark.parametrize("scope", ["read  write", " read", "read ", "read\twrite", "read\nwrite", 're"ad'])
async def test_T10_scopes_are_separated_by_single_spaces_only(
    client: httpx.AsyncClient, ctx: AppContext, scope: str
) -> None:
    app = await make_client(ctx)
    response = await client.post(
        "/token", data={"grant_type": "client_credentials", "scope": scope}, auth=app.basic
    )
    assert response.status_code == 400
    assert response.json()["error"] in ("invalid_scope", "invalid_request")  # controls stop at the edge


async def password_login(
    http: httpx.AsyncClient, ctx: AppContext, **form: str
) -> tuple[object, dict[str, str]]:
    app = await make_client(ctx, grants=("password", "refresh_token"), resources=(API, OTHER_API))
    await make_user(ctx)
    response = await http.post(
        "/token",
        data={"grant_type": "password", "username": "alice", "password": PASSWORD} | form,
        auth=app.basic,
    )
    assert response.status_code == 200, response.text
    return app, response.json()


async def test_RFC8707_refresh_cannot_change_the_audience(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app, tokens = await password_login(client, ctx, resource=API)
    assert unverified_claims(tokens["access_token"])["aud"] == API
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    other = await client.post("/token", data=form | {"resource": OTHER_API}, auth=app.basic)  # type: ignore[attr-defined]
    assert other.status_code == 400 and other.json()["error"] == "invalid_target"
    same = await client.post("/token", data=form | {"resource": API}, auth=app.basic)  # type: ignore[attr-defined]
    assert same.status_code == 200 and unverified_claims(same.json()["access_token"])["aud"] == API


async def code_for(ctx: AppContext, *, resource: str | None) -> tuple[object, str, str]:
    app = await make_client(ctx, grants=("authorization_code",), scope="read", resources=(API, OTHER_API))
    user = await make_user(ctx)
    verifier, challenge = pkce_pair()
    extra = {"resource": resource} if resource else None
    code = await get_code(ctx, app, user, challenge=challenge, extra=extra)
    return app, code, verifier


async def test_RFC8707_token_request_stays_within_the_authorized_resource(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    app, code, verifier = await code_for(ctx, resource=API)
    widened = await client.post(
        "/token",
        data=exchange(code, verifier, resource=OTHER_API),
        auth=app.basic,  # type: ignore[attr-defined]
    )
    assert widened.status_code == 400 and widened.json()["error"] == "invalid_target"
    # The failed attempt did not burn the code: the right request still works once.
    ok = await client.post("/token", data=exchange(code, verifier, resource=API), auth=app.basic)  # type: ignore[attr-defined]
    assert ok.status_code == 200 and unverified_claims(ok.json()["access_token"])["aud"] == API


async def test_RFC8707_no_resource_authorized_means_no_resource_at_the_token_endpoint(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    app, code, verifier = await code_for(ctx, resource=None)
    widened = await client.post(
        "/token",
        data=exchange(code, verifier, resource=API),
        auth=app.basic,  # type: ignore[attr-defined]
    )
    assert widened.status_code == 400 and widened.json()["error"] == "invalid_target"
    ok = await client.post("/token", data=exchange(code, verifier), auth=app.basic)  # type: ignore[attr-defined]
    assert (
        ok.status_code == 200 and unverified_claims(ok.json()["access_token"])["aud"] == ctx.settings.audience
    )


async def test_code_redirect_uri_is_required_and_exact(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app, code, verifier = await code_for(ctx, resource=None)
    form = exchange(code, verifier)
    for wrong in (None, REDIRECT + "/", REDIRECT.upper()):
        data = {k: v for k, v in form.items() if k != "redirect_uri"}
        if wrong is not None:
            data["redirect_uri"] = wrong
        response = await client.post("/token", data=data, auth=app.basic)  # type: ignore[attr-defined]
        assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
