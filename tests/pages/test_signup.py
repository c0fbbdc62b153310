"""The signup page (/register): same rules as POST /signup, signs in, continues the flow."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from authserver.context import AppContext
from authserver.db.models import User
from tests.oauth.helpers import make_user
from tests.pages.helpers import COOKIE, hidden_fields, openid_app, query, request_params, submit

NEW = {"email": "grace@example.com", "username": "grace", "password": "a compiler in every drawer"}


async def users_count(ctx: AppContext) -> int:
    async with ctx.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(User)) or 0)


async def test_prompt_create_starts_on_signup_and_continues_to_consent(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    app = await openid_app(ctx)
    _, params = request_params(app, prompt="create")
    response = await client.get("/authorize", params=params)
    assert response.headers["location"].startswith("/register?request=")
    page = await client.get(response.headers["location"])
    assert (
        page.status_code == 200 and "test client" in page.text and 'autocomplete="new-password"' in page.text
    )
    before = client.cookies[COOKIE]
    created = await submit(client, page, "/register", **NEW)
    assert created.status_code == 303 and created.headers["location"].startswith("/consent?request=")
    assert client.cookies[COOKIE] != before  # signed in with a new session (S2)
    consent = await client.get(created.headers["location"])
    done = await submit(client, consent, "/consent", decision="allow")
    assert "code" in query(done.headers["location"])


async def test_signup_page_uses_the_api_rules_and_messages(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    await make_user(ctx)
    page = await client.get("/register")
    cases = [
        ({"password": "short"}, "at least 12 characters"),
        ({"password": "password1234"}, "too common"),
        ({"username": "x"}, "Username must be 3 to 32 characters"),
        ({"email": "not-an-email"}, "Email is not valid"),
        ({"email": "alice@example.com"}, "already exists"),
        ({"password": "grace grace grace 1"}, "must not contain your username"),
    ]
    for change, message in cases:
        response = await submit(client, page, "/register", **(NEW | change))
        assert response.status_code == 400 and message in response.text, (change, response.text)
        assert 'value="grace' in response.text or "username" in change  # fields kept, password not
        assert NEW["password"] not in response.text
    assert await users_count(ctx) == 1


class TestHiddenConflicts:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"signup_reveals_conflicts": False}

    async def test_U7_taken_email_gets_a_neutral_sentence(
        self, client: httpx.AsyncClient, ctx: AppContext
    ) -> None:
        await make_user(ctx)
        page = await client.get("/register")
        response = await submit(client, page, "/register", **(NEW | {"email": "alice@example.com"}))
        assert response.status_code == 400 and "already exists" not in response.text
        assert "could not create this account" in response.text


class TestSignupDisabled:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"signup_enabled": False}

    async def test_no_signup_page_or_link_when_disabled(
        self, client: httpx.AsyncClient, ctx: AppContext
    ) -> None:
        assert (await client.get("/register")).status_code == 403
        assert (await client.post("/register", data=NEW)).status_code == 403
        assert "/register" not in (await client.get("/login")).text


async def test_S5_signup_without_csrf_creates_nothing(client: httpx.AsyncClient, ctx: AppContext) -> None:
    page = await client.get("/register")
    assert (await client.post("/register", data=NEW)).status_code == 403
    wrong = hidden_fields(page) | {"csrf": "forged"}
    assert (await client.post("/register", data=wrong | NEW)).status_code == 403
    assert await users_count(ctx) == 0
