"""RFC 8693 token exchange of Better Auth JWTs and sessions (Better Auth mocked with respx).

tests/better_auth/test_better_auth_server.py does the same against a real Better Auth.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx
from joserfc.jwk import OKPKey
from sqlalchemy import func, select

from authserver.context import AppContext
from authserver.db.models import TokenFamily, User
from tests.kit.conftest import rsa_key, sign
from tests.oauth.better_auth_fake import (
    BA,
    EXCHANGE,
    JWT_TYPE,
    SESSION_TOKEN,
    FakeBetterAuth,
    jwt_exchange,
    link,
    session_exchange,
)
from tests.oauth.helpers import RegisteredApp, make_client, make_user, unverified_claims

API = "https://api.example.com"
ISSUED = "urn:ietf:params:oauth:token-type:access_token"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"better_auth_url": BA}


@pytest.fixture
def better_auth() -> Iterator[FakeBetterAuth]:
    with respx.mock(assert_all_called=False) as router:
        yield FakeBetterAuth(router)


@pytest.fixture
async def app(ctx: AppContext) -> RegisteredApp:
    return await make_client(
        ctx, grants=(EXCHANGE, "refresh_token"), scope="orders:read orders:write", resources=(API,)
    )


@pytest.fixture
async def linked(ctx: AppContext, better_auth: FakeBetterAuth) -> User:
    user = await make_user(ctx, "ada")
    await link(ctx, user.id, better_auth.user_id)
    return user


async def families(ctx: AppContext) -> int:
    async with ctx.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(TokenFamily)) or 0)


def assert_refused(response: httpx.Response, error: str = "invalid_request", status: int = 400) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == error, response.text
    assert response.headers["cache-control"] == "no-store"


async def test_better_auth_jwt_becomes_our_tokens(
    client: httpx.AsyncClient, ctx: AppContext, app: RegisteredApp, linked: User, better_auth: FakeBetterAuth
) -> None:
    response = await client.post(
        "/token", data=jwt_exchange(better_auth.jwt(), scope="orders:read"), auth=app.basic
    )
    assert response.status_code == 200, response.text
    body = response.json()
    # RFC 8693 §2.2.1: issued_token_type is required; token_type Bearer; scope as granted.
    assert body["issued_token_type"] == ISSUED and body["token_type"] == "Bearer"
    assert body["scope"] == "orders:read" and body["expires_in"] == ctx.settings.access_token_ttl
    assert "id_token" not in body
    claims = unverified_claims(body["access_token"])
    assert claims["sub"] == linked.id and claims["client_id"] == app.client_id  # the linked local user
    assert claims["iss"] == ctx.settings.issuer and claims["aud"] == ctx.settings.issuer
    assert claims["scope"] == "orders:read"
    # The refresh token rotates like any other (the client is registered for refresh_token).
    refreshed = await client.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}, auth=app.basic
    )
    assert refreshed.status_code == 200, refreshed.text
    assert unverified_claims(refreshed.json()["access_token"])["sub"] == linked.id
    async with ctx.transaction() as session:
        family = await session.scalar(select(TokenFamily))
    assert family is not None and family.grant_type == EXCHANGE and family.user_id == linked.id


async def test_better_auth_session_becomes_our_tokens(
    client: httpx.AsyncClient, app: RegisteredApp, linked: User, better_auth: FakeBetterAuth
) -> None:
    response = await client.post("/token", data=session_exchange(resource=API), auth=app.basic)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["issued_token_type"] == ISSUED and body["scope"] == "orders:read orders:write"
    claims = unverified_claims(body["access_token"])
    assert claims["sub"] == linked.id and claims["aud"] == API
    # Asked read-only, as a bearer session, and never from a cache: each exchange asks again.
    [asked] = better_auth.session_requests
    assert asked.headers["authorization"] == f"Bearer {SESSION_TOKEN}"
    assert asked.url.params["disableRefresh"] == "true" and better_auth.jwks.call_count == 0
    again = await client.post("/token", data=session_exchange(), auth=app.basic)
    assert again.status_code == 200 and better_auth.get_session.call_count == 2


async def test_no_refresh_token_unless_the_client_may_have_one(
    client: httpx.AsyncClient, ctx: AppContext, linked: User, better_auth: FakeBetterAuth
) -> None:
    only_exchange = await make_client(ctx, grants=(EXCHANGE,), scope="orders:read")
    response = await client.post("/token", data=jwt_exchange(better_auth.jwt()), auth=only_exchange.basic)
    assert response.status_code == 200, response.text
    assert "refresh_token" not in response.json()


def _b64(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _bad_jwts(fake: FakeBetterAuth) -> dict[str, str]:
    """Every way a Better Auth JWT can be wrong; each is refused before anything is issued."""
    now = int(time.time())
    stranger = OKPKey.generate_key("Ed25519", private=True)
    public = fake.key.as_dict(private=False)["x"].encode()
    head = _b64({"alg": "HS256", "kid": "ba-1", "typ": "JWT"})
    body = _b64(fake.claims())
    import hashlib
    import hmac

    hs256 = hmac.new(public, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return {
        "expired": fake.jwt(iat=now - 1000, exp=now - 100),
        "wrong_audience": fake.jwt(aud="https://elsewhere.example"),
        "foreign_issuer": fake.jwt(iss="https://evil.example"),
        "wrongly_signed": fake.jwt(key=stranger),
        "unknown_kid": fake.jwt(key=stranger, kid="ba-unknown"),
        "alg_none": f"{_b64({'alg': 'none', 'kid': 'ba-1'})}.{body}.",
        "hs256_with_public_key": f"{head}.{body}.{_b64(hs256)}",
        "rs256_from_another_issuer": sign(
            fake.claims(iss="https://other-issuer.example"), rsa_key(0), alg="RS256", kid="k1", typ=None
        ),
        "tampered": fake.jwt()[:-4] + "AAAA",
        "not_a_jwt": "definitely-not-a-jwt",
    }


# Each case and the reason the operator's debug log gives for it (the kit's `detail`).
BAD_JWT_CASES = {
    "expired": "expired",
    "wrong_audience": "aud",
    "foreign_issuer": "untrusted iss",
    "wrongly_signed": "signature: BadSignatureError",
    "unknown_kid": "unknown kid",
    "alg_none": "unsigned",
    "hs256_with_public_key": "alg 'HS256' not allowed",
    "rs256_from_another_issuer": "untrusted iss",
    "tampered": "signature: BadSignatureError",
    "not_a_jwt": "not a compact JWS",
}


@pytest.mark.parametrize("case", BAD_JWT_CASES)
async def test_X2_bad_better_auth_jwts_refused(
    client: httpx.AsyncClient,
    ctx: AppContext,
    app: RegisteredApp,
    linked: User,
    better_auth: FakeBetterAuth,
    server_logging: Any,
    case: str,
) -> None:
    token = _bad_jwts(better_auth)[case]
    response = await client.post("/token", data=jwt_exchange(token), auth=app.basic)
    # RFC 8693 §2.2.2: an invalid subject token MUST be invalid_request.
    assert_refused(response)
    assert "access_token" not in response.json() and await families(ctx) == 0
    [refusal] = [r for r in server_logging.records if r.getMessage() == "/token refused: invalid_request"]
    assert BAD_JWT_CASES[case] in refusal.reason  # type: ignore[attr-defined]
    assert all(token not in line for line in server_logging.lines())


async def test_X2_unknown_kids_refetch_the_jwks_at_most_once(
    client: httpx.AsyncClient, app: RegisteredApp, linked: User, better_auth: FakeBetterAuth
) -> None:
    stranger = OKPKey.generate_key("Ed25519", private=True)
    for n in range(20):
        response = await client.post(
            "/token", data=jwt_exchange(better_auth.jwt(key=stranger, kid=f"bogus-{n}")), auth=app.basic
        )
        assert_refused(response)
    assert better_auth.jwks.call_count <= 2  # first fetch + one rate-limited refetch


async def test_X2_signed_out_session_refused(
    client: httpx.AsyncClient, ctx: AppContext, app: RegisteredApp, linked: User, better_auth: FakeBetterAuth
) -> None:
    assert (await client.post("/token", data=session_exchange(), auth=app.basic)).status_code == 200
    better_auth.live = False  # signed out: get-session now answers 200 `null`
    assert_refused(await client.post("/token", data=session_exchange(), auth=app.basic))
    assert_refused(await client.post("/token", data=session_exchange("forged-session-token"), auth=app.basic))
    assert await families(ctx) == 1


async def test_X3_types_are_never_guessed(
    client: httpx.AsyncClient, app: RegisteredApp, linked: User, better_auth: FakeBetterAuth
) -> None:
    # A good JWT sent as a session token is looked up as a session (and Better Auth knows none).
    as_session = await client.post("/token", data=session_exchange(better_auth.jwt()), auth=app.basic)
    assert_refused(as_session)
    assert better_auth.jwks.call_count == 0 and better_auth.get_session.call_count == 1
    # A good session token sent as a JWT is malformed as a JWT; Better Auth is not even asked.
    as_jwt = await client.post("/token", data=jwt_exchange(SESSION_TOKEN), auth=app.basic)
    assert_refused(as_jwt)
    assert better_auth.get_session.call_count == 1


@pytest.mark.parametrize("kind", ["jwt", "session"])
async def test_X6_better_auth_unreachable_is_503_not_a_refusal(
    client: httpx.AsyncClient, app: RegisteredApp, linked: User, better_auth: FakeBetterAuth, kind: str
) -> None:
    better_auth.down = True
    data = jwt_exchange(better_auth.jwt()) if kind == "jwt" else session_exchange()
    response = await client.post("/token", data=data, auth=app.basic)
    assert_refused(response, "temporarily_unavailable", 503)
    assert response.headers["retry-after"] == "5"
    if kind == "session":  # nothing cached either way: the next call asks again and succeeds
        better_auth.down = False
        assert (await client.post("/token", data=data, auth=app.basic)).status_code == 200


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"subject_token": ""}, "invalid_request"),
        ({"subject_token_type": ""}, "invalid_request"),
        ({"subject_token_type": "urn:ietf:params:oauth:token-type:id_token"}, "invalid_request"),
        ({"subject_token_type": "urn:ietf:params:oauth:token-type:saml2"}, "invalid_request"),
        ({"actor_token": "x", "actor_token_type": JWT_TYPE}, "invalid_request"),
        ({"actor_token_type": JWT_TYPE}, "invalid_request"),
        ({"requested_token_type": "urn:ietf:params:oauth:token-type:refresh_token"}, "invalid_request"),
        ({"requested_token_type": "urn:ietf:params:oauth:token-type:id_token"}, "invalid_request"),
        ({"scope": "orders:read admin"}, "invalid_scope"),
        ({"resource": "https://not-registered.example"}, "invalid_target"),
        ({"audience": "https://not-registered.example"}, "invalid_target"),
        ({"resource": API, "audience": "https://other.example"}, "invalid_target"),
        ({"subject_token": "x" * 20000}, "invalid_request"),
    ],
)
async def test_X4_bad_requests_refused_before_better_auth_is_asked(
    client: httpx.AsyncClient,
    app: RegisteredApp,
    linked: User,
    better_auth: FakeBetterAuth,
    extra: dict[str, str],
    error: str,
) -> None:
    data = jwt_exchange(better_auth.jwt()) | extra
    assert_refused(await client.post("/token", data=data, auth=app.basic), error)
    assert better_auth.calls == 0


async def test_audience_parameter_names_a_registered_resource(
    client: httpx.AsyncClient, app: RegisteredApp, linked: User, better_auth: FakeBetterAuth
) -> None:
    response = await client.post("/token", data=jwt_exchange(better_auth.jwt(), audience=API), auth=app.basic)
    assert response.status_code == 200, response.text
    assert unverified_claims(response.json()["access_token"])["aud"] == API


async def test_X1_only_clients_registered_for_the_grant(
    client: httpx.AsyncClient, ctx: AppContext, linked: User, better_auth: FakeBetterAuth
) -> None:
    other = await make_client(ctx, grants=("client_credentials",), scope="orders:read")
    assert_refused(
        await client.post("/token", data=jwt_exchange(better_auth.jwt()), auth=other.basic),
        "unauthorized_client",
    )
    wrong_secret = httpx.BasicAuth(other.client_id, "wrong")
    assert_refused(
        await client.post("/token", data=jwt_exchange(better_auth.jwt()), auth=wrong_secret),
        "invalid_client",
        401,
    )
    no_client = await client.post("/token", data=jwt_exchange(better_auth.jwt()))
    assert_refused(no_client, "invalid_client", 401)
    assert better_auth.calls == 0


async def test_discovery_advertises_the_grant(client: httpx.AsyncClient) -> None:
    for path in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
        metadata = (await client.get(path)).json()
        assert EXCHANGE in metadata["grant_types_supported"], path
