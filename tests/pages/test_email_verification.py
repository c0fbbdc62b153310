"""E6: verification at signup, email_verified in userinfo and the ID token, the optional refusal
of unverified sign-ins, and a throttled resend."""

from __future__ import annotations

import httpx
import jwt
import pytest

from authserver.context import AppContext
from tests.oauth.helpers import PASSWORD
from tests.pages.helpers import hidden_fields, login, openid_app, request_params, run_to_code, token_request
from tests.pages.mail_helpers import links, outbox

SIGNUP = {"email": "carol@example.com", "username": "carol", "password": PASSWORD}


async def test_E6_verification_sets_email_verified(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app = await openid_app(ctx)
    assert (await client.post("/signup", json=SIGNUP)).status_code == 201
    [(path, token)] = links(ctx, "email_verification")
    assert path == "/email/verify"
    page = await client.get("/email/verify", params={"token": token})  # a GET changes nothing
    assert page.status_code == 200 and "Confirm my email address" in page.text
    verifier, params = request_params(app, scope="openid email")
    before = await token_request(
        client, app, (await run_to_code(client, params, username="carol"))["code"], verifier
    )
    assert jwt.decode(before["id_token"], options={"verify_signature": False})["email_verified"] is False
    page = await client.get("/email/verify", params={"token": token})  # the login renewed the session
    done = await client.post("/email/verify", data=hidden_fields(page))
    assert done.status_code == 200 and "confirmed" in done.text
    again = await client.post("/email/verify", json={"token": token})
    assert again.status_code == 400 and again.json()["error"] == "invalid_token"  # single use
    info = await client.get("/userinfo", headers={"authorization": f"Bearer {before['access_token']}"})
    assert info.json()["email_verified"] is True
    verifier, params = request_params(app, scope="openid email")
    after = await token_request(
        client, app, (await run_to_code(client, params, username="carol"))["code"], verifier
    )
    assert jwt.decode(after["id_token"], options={"verify_signature": False})["email_verified"] is True


@pytest.mark.parametrize("settings_overrides", [{"require_verified_email": True}])
async def test_E6_unverified_accounts_can_be_refused(client: httpx.AsyncClient, ctx: AppContext) -> None:
    assert (await client.post("/signup", json=SIGNUP)).status_code == 201
    refused = await login(client, "/login", "carol")
    assert refused.status_code == 400 and "Confirm your email address first" in refused.text
    wrong = await login(client, "/login", "carol", "not the password at all")
    assert "Confirm your email" not in wrong.text  # only the right password learns this
    [(_, token)] = links(ctx, "email_verification")
    assert (await client.post("/email/verify", json={"token": token})).json() == {"status": "verified"}
    assert (await login(client, "/login", "carol")).status_code == 303


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_verification_resend_per_account": "2/hour"}])
async def test_E6_resend_is_throttled_and_kills_the_older_link(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    await client.post("/signup", json=SIGNUP)
    for _ in range(4):
        answer = await client.post("/email/verify/resend", json={"email": "carol@example.com"})
        assert answer.status_code == 202 and answer.json() == {"status": "accepted"}
    sent = links(ctx, "email_verification")
    assert len(sent) == 3  # the signup's mail and two resends; the rest were dropped silently
    assert (await client.post("/email/verify", json={"token": sent[0][1]})).status_code == 400
    assert (await client.post("/email/verify", json={"token": sent[-1][1]})).status_code == 200
    assert len(outbox(ctx)) == 3
