"""The consent page: S9, remembered consent, deny, prompt=consent, S5."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from authserver.context import AppContext
from authserver.db.models import Client, Consent
from tests.oauth.helpers import make_user
from tests.pages.helpers import hidden_fields, login, openid_app, query, request_params, run_to_code, submit


async def to_consent_page(client: httpx.AsyncClient, params: dict[str, str]) -> httpx.Response:
    response = await client.get("/authorize", params=params)
    if response.headers["location"].startswith("/login"):
        response = await login(client, response.headers["location"])
    assert response.headers["location"].startswith("/consent?request="), response.headers["location"]
    return await client.get(response.headers["location"])


async def test_S9_consent_shows_client_name_escaped_and_scopes_in_plain_words(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    app = await openid_app(ctx)
    async with ctx.transaction() as session:
        row = await session.get(Client, app.client_id)
        assert row is not None
        row.name = 'Evil <img src=x onerror="alert(1)">'
    await make_user(ctx)
    page = await to_consent_page(client, request_params(app, scope="openid email read")[1])
    assert "Evil &lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page.text and "<img" not in page.text
    assert "See your email address" in page.text and "Know who you are" in page.text
    assert "<code>read</code>" in page.text  # no description configured: the scope itself, escaped


async def test_remembered_consent_skips_the_page_until_more_is_asked(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    app = await openid_app(ctx)
    await make_user(ctx)
    await run_to_code(client, request_params(app, scope="openid profile")[1])
    again = await client.get("/authorize", params=request_params(app, scope="profile openid")[1])
    assert "code" in query(again.headers["location"])  # remembered: no page
    narrower = await client.get("/authorize", params=request_params(app, scope="openid")[1])
    assert "code" in query(narrower.headers["location"])
    wider = await client.get("/authorize", params=request_params(app, scope="openid email")[1])
    assert wider.headers["location"].startswith("/consent")
    forced = await client.get("/authorize", params=request_params(app, scope="openid", prompt="consent")[1])
    assert forced.headers["location"].startswith("/consent")


async def test_deny_answers_access_denied_and_remembers_nothing(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    app = await openid_app(ctx)
    await make_user(ctx)
    page = await to_consent_page(client, request_params(app)[1])
    response = await submit(client, page, "/consent", decision="deny")
    assert response.status_code == 303
    answer = query(response.headers["location"])
    assert answer["error"] == "access_denied" and answer["state"] == "st-123"
    async with ctx.transaction() as session:
        assert (await session.scalars(select(Consent))).all() == []
    # The request was answered: its id is dead.
    replay = await submit(client, page, "/consent", decision="allow")
    assert replay.status_code == 400 and "location" not in replay.headers


async def test_S5_consent_without_or_with_another_sessions_csrf_is_refused(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    app = await openid_app(ctx)
    await make_user(ctx)
    page = await to_consent_page(client, request_params(app)[1])
    fields = hidden_fields(page)
    for csrf in (None, "", "forged-token"):
        data = {k: v for k, v in fields.items() if k != "csrf"} | ({"csrf": csrf} if csrf is not None else {})
        response = await client.post("/consent", data=data | {"decision": "allow"})
        assert response.status_code == 403 and "location" not in response.headers
    async with ctx.transaction() as session:
        assert (await session.scalars(select(Consent))).all() == []
    assert "code" in query((await submit(client, page, "/consent", decision="allow")).headers["location"])
