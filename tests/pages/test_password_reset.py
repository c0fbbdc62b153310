"""E1-E5: forgotten passwords, over the JSON API and the pages."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import select, update

from authserver.context import AppContext
from authserver.db.models import AccountToken, AuditEvent
from authserver.db.types import utcnow
from tests.oauth.helpers import PASSWORD, make_user
from tests.pages.helpers import (
    COOKIE,
    hidden_fields,
    openid_app,
    request_params,
    run_to_code,
    sign_in,
    token_request,
)
from tests.pages.mail_helpers import links, outbox

NEW_PASSWORD = "an entirely fresh passphrase 42"


async def _forgot(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post("/password/forgot", json={"email": email})


async def test_E1_known_and_unknown_addresses_get_the_same_answer(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    await make_user(ctx)
    known, unknown = await _forgot(client, "alice@example.com"), await _forgot(client, "nobody@example.com")
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json() == {"status": "accepted"}
    assert {k: v for k, v in known.headers.items() if k != "content-length"} == {
        k: v for k, v in unknown.headers.items() if k != "content-length"
    }
    assert [m["To"] for m in outbox(ctx)] == ["alice@example.com"]  # only the account gets mail
    assert (await _forgot(client, "not an address")).status_code == 400  # the shape only


async def test_E2_a_reset_token_works_once(client: httpx.AsyncClient, ctx: AppContext) -> None:
    await make_user(ctx)
    await _forgot(client, "alice@example.com")
    [(path, token)] = links(ctx, "password_reset")
    assert path == "/password/reset" and len(token) >= 43  # 256 bits
    async with ctx.transaction() as session:
        stored = (await session.scalars(select(AccountToken.token_sha256))).all()
    assert token not in stored and len(stored) == 1  # only its digest is kept
    first = await client.post("/password/reset", json={"token": token, "password": NEW_PASSWORD})
    assert first.status_code == 200 and first.json() == {"status": "password_changed"}
    again = await client.post("/password/reset", json={"token": token, "password": NEW_PASSWORD + "!"})
    assert again.status_code == 400 and again.json()["error"] == "invalid_token"
    assert (await client.get("/password/reset", params={"token": token})).status_code == 400
    notices = [m for m in outbox(ctx) if m["X-Authserver-Template"] == "password_changed"]
    assert len(notices) == 1  # E5: a notice is mailed


async def test_E2_a_newer_token_kills_the_older_and_tokens_expire(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    await make_user(ctx)
    await _forgot(client, "alice@example.com")
    await _forgot(client, "alice@example.com")
    (_, older), (_, newer) = links(ctx, "password_reset")
    dead = await client.post("/password/reset", json={"token": older, "password": NEW_PASSWORD})
    assert dead.status_code == 400
    async with ctx.transaction() as session:
        await session.execute(update(AccountToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    expired = await client.post("/password/reset", json={"token": newer, "password": NEW_PASSWORD})
    assert expired.status_code == 400 and expired.json()["error"] == "invalid_token"


async def test_E4_weak_password_changes_nothing(client: httpx.AsyncClient, ctx: AppContext) -> None:
    await make_user(ctx)
    await _forgot(client, "alice@example.com")
    [(_, token)] = links(ctx, "password_reset")
    weak = await client.post("/password/reset", json={"token": token, "password": "alice alice alice"})
    assert weak.status_code == 400 and weak.json()["error"] == "weak_password"
    assert (
        await client.post("/password/reset", json={"token": token, "password": NEW_PASSWORD})
    ).status_code == 200


async def test_E5_reset_kills_refresh_families_and_browser_sessions(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    app = await openid_app(ctx)
    await make_user(ctx)
    verifier, params = request_params(app, scope="openid offline_access")
    code = (await run_to_code(client, params))["code"]
    tokens = await token_request(client, app, code, verifier)
    assert (await client.get("/account")).status_code == 200  # signed in in this browser

    async with httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url)) as other:
        page = await other.get("/password/forgot")
        sent = await other.post("/password/forgot", data=hidden_fields(page) | {"email": "alice@example.com"})
        assert sent.status_code == 200 and "If an account uses that address" in sent.text
        [(_, token)] = links(ctx, "password_reset")
        form = await other.get("/password/reset", params={"token": token})
        assert form.headers["referrer-policy"] == "no-referrer"  # E3
        done = await other.post("/password/reset", data=hidden_fields(form) | {"password": NEW_PASSWORD})
        assert done.status_code == 200 and "Password changed" in done.text

    refresh = await client.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=app.basic,
    )
    assert refresh.status_code == 400 and refresh.json()["error"] == "invalid_grant"
    account = await client.get("/account")
    assert account.status_code == 302 and account.headers["location"] == "/login"  # session gone
    async with ctx.transaction() as session:
        events = set((await session.scalars(select(AuditEvent.event))).all())
    assert {"password.reset_requested", "password.reset", "family.revoked.password_changed"} <= events


async def test_E3_links_use_the_issuer_not_the_host_header(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    await make_user(ctx)
    await client.post(
        "/password/forgot", json={"email": "alice@example.com"}, headers={"host": "evil.example"}
    )
    [message] = outbox(ctx)
    assert (
        "evil.example" not in message.as_string()
        and "http://127.0.0.1:8000/password/reset?token=" in message.as_string()
    )


async def test_U6_change_password_needs_the_current_one(client: httpx.AsyncClient, ctx: AppContext) -> None:
    await make_user(ctx)
    await sign_in(client, ctx)
    await _forgot(client, "alice@example.com")
    [(_, token)] = links(ctx, "password_reset")
    page = await client.get("/account/password")
    wrong = await client.post(
        "/account/password",
        data=hidden_fields(page) | {"current_password": "nope nope nope", "new_password": NEW_PASSWORD},
    )
    assert wrong.status_code == 400 and "current password is not right" in wrong.text
    done = await client.post(
        "/account/password",
        data=hidden_fields(page) | {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert done.status_code == 303 and done.headers["location"] == "/account?done=password_changed"
    assert (
        COOKIE in client.cookies and (await client.get("/account")).status_code == 200
    )  # this browser stays
    # The password change killed the outstanding reset link.
    assert (
        await client.post("/password/reset", json={"token": token, "password": NEW_PASSWORD + "x"})
    ).status_code == 400
