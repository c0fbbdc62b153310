"""The login page and the browser session: S1-S3, S5, B1, L1."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from authserver.context import AppContext
from authserver.db.models import AuditEvent, BrowserSession
from authserver.db.types import utcnow
from authserver.domain import users
from tests.oauth.helpers import PASSWORD, make_user
from tests.pages.helpers import COOKIE, browser, hidden_fields, openid_app, request_params, sign_in, submit


async def session_rows(ctx: AppContext) -> int:
    async with ctx.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(BrowserSession)) or 0)


async def test_S1_cookie_attributes_on_loopback_http(client: httpx.AsyncClient, ctx: AppContext) -> None:
    response = await client.get("/login")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    lowered = cookie.lower()
    assert "httponly" in lowered and "samesite=lax" in lowered and "path=/" in lowered
    assert "domain=" not in lowered and "secure" not in lowered  # http://127.0.0.1 development only


class TestHttpsIssuer:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"issuer": "https://auth.example.com"}

    async def test_S1_host_prefix_and_secure_on_https(self, ctx: AppContext) -> None:
        from authserver.http.app import create_app

        transport = httpx.ASGITransport(app=create_app(ctx))
        async with httpx.AsyncClient(transport=transport, base_url="https://auth.example.com") as http:
            response = await http.get("/login")
        cookie = response.headers["set-cookie"]
        assert cookie.startswith("__Host-authserver-session=")
        assert "secure" in cookie.lower() and "domain=" not in cookie.lower() and "path=/" in cookie.lower()
        assert "max-age=31536000" in response.headers["strict-transport-security"]


async def test_S2_new_session_id_at_login_and_the_pre_login_id_is_dead(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    await make_user(ctx)
    page = await client.get("/login")
    before = client.cookies[COOKIE]
    response = await submit(client, page, "/login", username="alice", password=PASSWORD)
    assert response.status_code == 303 and response.headers["location"] == "/account"
    after = client.cookies[COOKIE]
    assert after != before and len(after) >= 43  # 256 bits, base64url
    assert await session_rows(ctx) == 1  # the pre-login row was deleted
    # The planted/pre-login cookie no longer reaches anything.
    async with browser(ctx) as replay:
        replay.cookies.set(COOKIE, before)
        assert (await replay.get("/account")).headers["location"] == "/login"
    async with ctx.transaction() as session:
        stored = (await session.scalars(select(BrowserSession.secret_sha256))).one()
    assert after not in stored and before not in stored  # only hashes stored


async def test_S5_login_without_or_with_another_sessions_csrf_is_refused(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    await make_user(ctx)
    page = await client.get("/login")
    async with browser(ctx) as other:
        foreign = hidden_fields(await other.get("/login"))["csrf"]
    for fields in ({}, {"csrf": foreign}, {"csrf": ""}, {"csrf": hidden_fields(page)["csrf"] + "x"}):
        response = await client.post("/login", data=fields | {"username": "alice", "password": PASSWORD})
        assert response.status_code == 403, fields
        assert "set-cookie" not in response.headers
    async with ctx.transaction() as session:
        assert (
            await session.scalar(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.event == "login.succeeded")
            )
            == 0
        )
    # Without any session cookie at all (a cross-site post): 403 too.
    async with browser(ctx) as fresh:
        response = await fresh.post(
            "/login", data={"csrf": foreign, "username": "alice", "password": PASSWORD}
        )
        assert response.status_code == 403


async def test_B1_one_sentence_for_unknown_user_wrong_password_and_disabled_account(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    await make_user(ctx)
    await make_user(ctx, "dora")
    async with ctx.transaction() as session:
        await users.set_disabled(session, "dora", True)
    page = await client.get("/login")
    bodies = []
    for username, password in (("nobody", PASSWORD), ("alice", "wrong password here"), ("dora", PASSWORD)):
        response = await submit(client, page, "/login", username=username, password=password)
        assert response.status_code == 400
        assert "do not match an active account" in response.text
        assert "wrong password" not in response.text
        bodies.append(response.text.replace(username, "USER"))
    assert len({b.split('name="csrf"')[0] for b in bodies}) == 1
    # A control character is refused with the whole form (L6) before any account is looked at.
    odd = await submit(client, page, "/login", username="a\x00b", password="x")
    assert odd.status_code == 400 and "form could not be read" in odd.text
    async with ctx.transaction() as session:
        failures = await session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.event == "login.failed")
        )
    assert failures == 3  # each failure is audited (L2), none signed anyone in


async def test_login_page_names_the_client_escapes_it_and_prefills_login_hint(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    app = await openid_app(ctx)
    async with ctx.transaction() as session:
        from authserver.db.models import Client

        row = await session.get(Client, app.client_id)
        assert row is not None
        row.name = "<script>alert(1)</script> App"
    _, params = request_params(app, login_hint='ada@example.com"><b>')
    response = await client.get("/authorize", params=params)
    page = await client.get(response.headers["location"])
    assert "&lt;script&gt;alert(1)&lt;/script&gt; App" in page.text and "<script>" not in page.text
    assert 'value="ada@example.com&#34;&gt;&lt;b&gt;"' in page.text
    assert 'autocomplete="username"' in page.text and 'autocomplete="current-password"' in page.text
    assert 'href="/register?request=' in page.text


async def test_S3_idle_and_absolute_timeouts_are_enforced_by_the_server(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    await make_user(ctx)
    await sign_in(client, ctx)
    assert (await client.get("/account")).status_code == 200
    idle = timedelta(seconds=ctx.settings.session_idle_ttl + 1)
    async with ctx.transaction() as session:
        await session.execute(update(BrowserSession).values(last_seen_at=utcnow() - idle))
    assert (await client.get("/account")).headers["location"] == "/login"
    await sign_in(client, ctx)
    async with ctx.transaction() as session:
        await session.execute(update(BrowserSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert (await client.get("/account")).headers["location"] == "/login"
