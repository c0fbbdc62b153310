"""GET/POST /authorize through the real app: A1-A12, P1, O4-O6, and issue 8's authorization bullets."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select, update

from authserver.context import AppContext
from authserver.db.models import AuthorizationCode, BrowserSession, PendingAuthorization, User
from authserver.domain import users
from tests.oauth.helpers import REDIRECT, make_client, make_user, unverified_claims
from tests.pages.helpers import (
    browser,
    login,
    openid_app,
    query,
    request_params,
    run_to_code,
    sign_in,
    submit,
    token_request,
)

ISSUER = "http://127.0.0.1:8000"


def assert_error_page(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")


async def test_A1_A3_bad_redirect_uri_or_client_shows_error_page_never_redirects(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    app = await openid_app(ctx)
    _, params = request_params(app)
    for uri in (
        REDIRECT + "/x",  # prefix match
        REDIRECT + "/",  # trailing slash
        "https://app.example.com:8443/callback",  # other port
        "https://APP.example.com/callback",  # other case
        REDIRECT + "#frag",  # fragment
        "https://user@app.example.com/callback",  # userinfo
        "https://app.example.com@evil.example/callback",
        REDIRECT + "?a=1",
        "",
    ):
        response = await client.get("/authorize", params=params | {"redirect_uri": uri})
        assert_error_page(response)
        assert "evil" not in response.text and (not uri or uri not in response.text)  # never echoed
    missing = {k: v for k, v in params.items() if k != "redirect_uri"}
    assert_error_page(await client.get("/authorize", params=missing))
    assert_error_page(await client.get("/authorize", params=params | {"client_id": "unknown"}))
    assert_error_page(await client.get("/authorize", params=params | {"client_id": "bad\x00id"}))


async def test_A2_loopback_redirect_uri_matches_any_port_only(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    app = await make_client(
        ctx,
        grants=("authorization_code",),
        scope="openid",
        redirect_uris=("http://127.0.0.1/cb", "http://[::1]/cb", "http://localhost/cb"),
    )
    await make_user(ctx)
    await sign_in(client, ctx)
    for uri in ("http://127.0.0.1:53127/cb", "http://[::1]:8080/cb", "http://127.0.0.1/cb"):
        _, params = request_params(app, redirect_uri=uri, scope="openid")
        response = await client.get("/authorize", params=params)
        assert response.status_code == 302 and response.headers["location"].startswith("/consent"), uri
    for uri in (
        "http://localhost:53127/cb",  # RFC 8252 §8.3: no port leeway for a name
        "http://127.0.0.1:53127/cb/",
        "http://127.0.0.1:53127/other",
        "http://127.0.0.1:99999/cb",
        "https://127.0.0.1:53127/cb",
        "http://127.0.0.2:53127/cb",
        "http://user@127.0.0.1:53127/cb",
    ):
        _, params = request_params(app, redirect_uri=uri, scope="openid")
        assert_error_page(await client.get("/authorize", params=params))


async def test_A4_A11_response_types_and_request_objects_answer_at_redirect_uri(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    app = await openid_app(ctx)
    _, params = request_params(app)
    cases = {
        "unsupported_response_type": [{"response_type": "token"}, {"response_type": "code id_token"}],
        "invalid_request": [{"response_type": ""}, {"response_mode": "fragment"}, {"prompt": "none login"}],
        "request_not_supported": [{"request": "eyJhbGciOiJub25lIn0.e30."}],
        "request_uri_not_supported": [{"request_uri": "https://evil.example/r"}],
    }
    for error, variants in cases.items():
        for variant in variants:
            response = await client.get("/authorize", params=params | variant)
            assert response.status_code == 302, variant
            answer = query(response.headers["location"])
            assert response.headers["location"].startswith(REDIRECT + "?")
            # A6: only error, error_description, the exact state, and iss.
            assert set(answer) == {"error", "error_description", "state", "iss"}, answer
            assert answer["error"] == error and answer["state"] == "st-123" and answer["iss"] == ISSUER


async def test_A5_repeated_parameter_is_an_error_page(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app = await openid_app(ctx)
    _, params = request_params(app)
    url = "/authorize?" + httpx.QueryParams(params).__str__() + "&scope=openid"
    assert_error_page(await client.get(url))


async def test_A7_A12_post_with_reordered_params_returns_code_state_iss_exactly(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    app = await openid_app(ctx)
    await make_user(ctx)
    odd_state = "a b&c=d/é?%20+"
    verifier, params = request_params(app, state=odd_state, scope="profile openid", foo="ignored")
    await sign_in(client, ctx)
    # Consent first (through GET), then a POSTed request in reversed order is answered at once.
    await run_to_code(client, params)
    response = await client.post("/authorize", data=dict(reversed(list(params.items()))))
    assert response.status_code == 303  # A8: after a POST, 303
    answer = query(response.headers["location"])
    assert (
        set(answer) == {"code", "state", "iss"} and answer["state"] == odd_state and answer["iss"] == ISSUER
    )
    tokens = await token_request(client, app, answer["code"], verifier)
    assert unverified_claims(tokens["id_token"])["nonce"] == "n-456"


async def test_P1_P2_pkce_required_s256_only(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app = await openid_app(ctx)
    _, params = request_params(app)
    no_pkce = {k: v for k, v in params.items() if not k.startswith("code_challenge")}
    for variant in (no_pkce, params | {"code_challenge_method": "plain"}, params | {"code_challenge": "x"}):
        response = await client.get("/authorize", params=variant)
        assert query(response.headers["location"])["error"] == "invalid_request"


async def test_scope_state_nonce_and_resource_rules(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app = await openid_app(ctx, resources=("https://api.example.com",))
    _, params = request_params(app)

    async def error_of(**changes: str) -> str | None:
        response = await client.get("/authorize", params=params | changes)
        assert response.status_code == 302, response.text
        return query(response.headers["location"]).get("error")

    # RFC 6749 §3.3: single spaces only; unregistered scopes refused.
    for bad in ("openid  profile", " openid", "openid profile ", "openid admin"):
        assert await error_of(scope=bad) == "invalid_scope", bad
    # A control character anywhere is refused before anything is read: our error page (L6).
    assert_error_page(await client.get("/authorize", params=params | {"scope": "openid\tprofile"}))
    assert await error_of(nonce="n" * 513) == "invalid_request"
    assert await error_of(max_age="-1") == "invalid_request"
    assert await error_of(resource="https://other.example.com") == "invalid_target"
    too_long = await client.get("/authorize", params=params | {"state": "s" * 1025})
    answer = query(too_long.headers["location"])
    assert answer["error"] == "invalid_request" and "state" not in answer  # never echoed


async def test_resource_is_stored_on_the_code_and_becomes_the_audience(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    app = await openid_app(ctx, resources=("https://api.example.com",))
    await make_user(ctx)
    verifier, params = request_params(app, resource="https://api.example.com")
    answer = await run_to_code(client, params)
    async with ctx.transaction() as session:
        assert (await session.scalars(select(AuthorizationCode.resource))).one() == "https://api.example.com"
    tokens = await token_request(client, app, answer["code"], verifier)
    assert unverified_claims(tokens["access_token"])["aud"] == "https://api.example.com"


async def test_O5_prompt_none_without_session_or_consent(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app = await openid_app(ctx)
    await make_user(ctx)
    _, params = request_params(app, prompt="none")
    response = await client.get("/authorize", params=params)
    assert query(response.headers["location"])["error"] == "login_required"
    await sign_in(client, ctx)
    response = await client.get("/authorize", params=params)
    assert query(response.headers["location"])["error"] == "consent_required"
    await run_to_code(client, request_params(app)[1])  # consent once
    response = await client.get("/authorize", params=params)
    assert "code" in query(response.headers["location"])


async def test_O4_max_age_and_prompt_login_force_a_new_login_with_a_later_auth_time(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    app = await openid_app(ctx)
    await make_user(ctx)
    verifier, params = request_params(app)
    first = unverified_claims(
        (await token_request(client, app, (await run_to_code(client, params))["code"], verifier))["id_token"]
    )
    # Make the sign-in an hour old.
    async with ctx.transaction() as session:
        await session.execute(update(BrowserSession).values(auth_time=BrowserSession.created_at))
        row = (await session.scalars(select(BrowserSession))).one()
        from datetime import timedelta

        row.auth_time = row.auth_time - timedelta(hours=1)  # type: ignore[operator]
    # max_age=10000 does not force a login; max_age=60 does.
    fresh_enough = await client.get("/authorize", params=params | {"max_age": "10000"})
    assert "code" in query(fresh_enough.headers["location"])
    for changes in ({"max_age": "60"}, {"prompt": "login"}, {"max_age": "0"}):
        verifier, params = request_params(app, **changes)
        response = await client.get("/authorize", params=params)
        assert response.headers["location"].startswith("/login?request="), changes
        answer = await run_to_code(client, params)
        later = unverified_claims((await token_request(client, app, answer["code"], verifier))["id_token"])
        assert later["auth_time"] >= first["auth_time"] and later["auth_time"] > later["iat"] - 30
    # prompt=none with a max_age the session no longer meets: login_required.
    async with ctx.transaction() as session:
        row = (await session.scalars(select(BrowserSession))).one()
        row.auth_time = row.auth_time - timedelta(hours=1)  # type: ignore[operator]
    response = await client.get("/authorize", params=request_params(app, prompt="none", max_age="60")[1])
    assert query(response.headers["location"])["error"] == "login_required"


async def test_O6_J7_id_token_hint_must_be_our_id_token_for_this_client(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    app = await openid_app(ctx)
    other = await openid_app(ctx)
    await make_user(ctx)
    await make_user(ctx, "bob")
    verifier, params = request_params(app)
    tokens = await token_request(client, app, (await run_to_code(client, params))["code"], verifier)

    hinted = await client.get(
        "/authorize", params=request_params(app, prompt="none", id_token_hint=tokens["id_token"])[1]
    )
    assert "code" in query(hinted.headers["location"])
    for hint in (tokens["access_token"], tokens["id_token"] + "x", "not.a.jwt"):
        response = await client.get("/authorize", params=request_params(app, id_token_hint=hint)[1])
        assert query(response.headers["location"])["error"] == "invalid_request"
    foreign = await client.get(
        "/authorize", params=request_params(other, id_token_hint=tokens["id_token"])[1]
    )
    assert query(foreign.headers["location"])["error"] == "invalid_request"
    # A hint naming alice while bob is signed in issues nothing for bob.
    async with browser(ctx) as bobs:
        await sign_in(bobs, ctx, "bob")
        response = await bobs.get(
            "/authorize", params=request_params(app, prompt="none", id_token_hint=tokens["id_token"])[1]
        )
        assert query(response.headers["location"])["error"] == "login_required"


async def test_no_code_for_a_disabled_user_and_real_auth_time(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    app = await openid_app(ctx)
    await make_user(ctx)
    await sign_in(client, ctx)
    async with ctx.transaction() as session:
        signed_in_at = (await session.scalars(select(BrowserSession.auth_time))).one()
        await users.set_disabled(session, "alice", True)
    response = await client.get("/authorize", params=request_params(app)[1])
    assert response.headers["location"].startswith("/login")  # the session no longer counts
    async with ctx.transaction() as session:
        await users.set_disabled(session, "alice", False)
        assert (await session.scalars(select(User.disabled))).one() is False
    response = await client.get("/authorize", params=request_params(app)[1])
    assert response.headers["location"].startswith("/login")  # and it was not revived either
    await run_to_code(client, request_params(app)[1])
    async with ctx.transaction() as session:
        code_auth_time = (await session.scalars(select(AuthorizationCode.auth_time))).one()
        created = (await session.scalars(select(AuthorizationCode.created_at))).one()
    assert signed_in_at is not None and code_auth_time <= created


async def test_pending_request_of_another_browser_cannot_be_completed(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    app = await openid_app(ctx)
    await make_user(ctx)
    await make_user(ctx, "mallory")
    _, params = request_params(app)
    started = await client.get("/authorize", params=params)
    login_url = started.headers["location"]
    async with browser(ctx) as attacker:
        await sign_in(attacker, ctx, "mallory")
        page = await attacker.get(login_url)
        assert page.status_code == 400 and "expired" in page.text
        consent = await attacker.get(login_url.replace("/login", "/consent"))
        assert consent.status_code == 400
        own = await attacker.get("/login")
        posted = await submit(attacker, own, "/consent", request=login_url.split("=", 1)[1], decision="allow")
        assert posted.status_code == 400 and "location" not in posted.headers
    # The victim's own browser still completes it.
    assert (await login(client, login_url)).headers["location"].startswith("/consent")


@pytest.mark.parametrize("path", ["/authorize", "/login", "/consent", "/account", "/logout", "/register"])
async def test_S7_S8_C1_page_headers(client: httpx.AsyncClient, ctx: AppContext, path: str) -> None:
    response = await client.get(path, headers={"Origin": "https://evil.example"})
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp and "base-uri 'none'" in csp
    assert "script-src 'none'" in csp and "unsafe-inline" not in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    assert "access-control-allow-origin" not in response.headers


async def test_D5_discovery_advertises_what_the_pages_serve(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    metadata = (await client.get("/.well-known/openid-configuration")).json()
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert (
        metadata["request_parameter_supported"] is False
        and metadata["request_uri_parameter_supported"] is False
    )
    assert metadata["prompt_values_supported"] == ["none", "login", "consent", "create"]
    assert metadata["response_modes_supported"] == ["query"]
    assert {"sid", "email", "email_verified", "preferred_username"} <= set(metadata["claims_supported"])
    for endpoint in ("authorization_endpoint", "userinfo_endpoint", "end_session_endpoint"):
        path = metadata[endpoint].removeprefix(ISSUER)
        assert (await client.get(path)).status_code != 404, endpoint


async def test_conformance_optional_parameters_cause_no_error(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    """OpenID conformance Basic OP plan: these are accepted and ignored (login_hint fills the form)."""
    app = await openid_app(ctx)
    await make_user(ctx)
    extra = {
        "display": "popup",
        "ui_locales": "fr-CA fr en",
        "claims_locales": "de",
        "acr_values": "urn:mace:incommon:iap:silver",
        "claims": '{"userinfo":{"email":{"essential":true}}}',
        "login_hint": "alice",
        "unknown_param": "x",
    }
    verifier, params = request_params(app, **extra)
    answer = await run_to_code(client, params)
    assert answer["state"] == "st-123"
    tokens = await token_request(client, app, answer["code"], verifier)
    assert "acr" not in unverified_claims(tokens["id_token"])
    without_nonce = {k: v for k, v in request_params(app)[1].items() if k != "nonce"}
    assert "code" in query((await client.get("/authorize", params=without_nonce)).headers["location"])


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_authorize_per_ip": "3/minute"}])
async def test_anonymous_authorize_is_limited_per_address_before_anything_is_stored(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    """Each anonymous /authorize stores a browser session and a pending request: one address
    cannot add them without bound."""
    app = await openid_app(ctx)
    _, params = request_params(app)

    async def rows() -> tuple[int, int]:
        async with ctx.transaction() as session:
            sessions = len((await session.scalars(select(BrowserSession))).all())
            pending = len((await session.scalars(select(PendingAuthorization))).all())
        return sessions, pending

    for _ in range(3):
        client.cookies.clear()  # a new anonymous browser each time
        assert (await client.get("/authorize", params=params)).status_code == 302  # to /login
    assert await rows() == (3, 3)
    client.cookies.clear()
    refused = await client.get("/authorize", params=params)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert refused.headers["content-type"].startswith("text/html")
    assert await rows() == (3, 3)
