"""Better Auth as an identity source (mocked endpoints; tests/better_auth runs a real one)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx
from joserfc.jwk import OKPKey
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from authserver_resource import Authenticator, BetterAuth, InvalidToken, IssuerUnavailable
from authserver_resource.starlette import BearerAuthMiddleware, get_principal
from tests.kit.conftest import FakeClock, sign

BASE = "https://app.example.com"
SESSION = "dopjIzZciMwO3SsCNZLCw54vrxOmiP3i"
SIGNED = f"{SESSION}.OeFhOtTiqIBJ/3cnwta0xLtaQG3uxl8FTRd/oDL+mDk="
USER = {
    "id": "5gFM8Djwgd1x4PCUDdiAdivJs2xHkkcj",
    "email": "ada@example.com",
    "emailVerified": False,
    "name": "Ada",
}


def ba_claims(**overrides: Any) -> dict[str, Any]:
    """What Better Auth's jwt() plugin signs: the user object, sub, iat, exp (900 s), iss, aud."""
    now = int(time.time())
    values = USER | {"sub": USER["id"], "iat": now, "exp": now + 900, "iss": BASE, "aud": BASE}
    return {k: v for k, v in (values | overrides).items() if v is not None}


def session_body(expires_in: float = 3600, **session: Any) -> dict[str, Any]:
    expires = (datetime.now(UTC) + timedelta(seconds=expires_in)).isoformat().replace("+00:00", "Z")
    return {
        "session": {"id": "sess-1", "token": SESSION, "userId": USER["id"], "expiresAt": expires} | session,
        "user": USER,
    }


class FakeBetterAuth:
    def __init__(self, router: respx.MockRouter) -> None:
        self.key = OKPKey.generate_key("Ed25519", private=True)
        self.jwks = router.get(f"{BASE}/api/auth/jwks").respond(
            json={"keys": [self.key.as_dict(private=False) | {"kid": "ba-1", "alg": "EdDSA"}]}
        )
        self.live = True
        self.requests: list[httpx.Request] = []
        self.get_session = router.get(f"{BASE}/api/auth/get-session").mock(side_effect=self._session)

    def _session(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if not self.live:  # Better Auth's "no session": 200 with the JSON body `null`
            return httpx.Response(200, content=b"null", headers={"Content-Type": "application/json"})
        return httpx.Response(200, json=session_body())

    def jwt(self, **overrides: Any) -> str:
        return sign(ba_claims(**overrides), self.key, alg="EdDSA", kid="ba-1", typ=None)


@pytest.fixture
def better_auth(router: respx.MockRouter) -> FakeBetterAuth:
    return FakeBetterAuth(router)


@pytest.fixture
async def authenticator(better_auth: FakeBetterAuth, clock: FakeClock) -> AsyncIterator[Authenticator]:
    async with Authenticator(better_auth=BetterAuth(BASE, session_cache_ttl=10), monotonic=clock) as auth:
        yield auth


async def test_better_auth_jwt_accepted(authenticator: Authenticator, better_auth: FakeBetterAuth) -> None:
    principal = await authenticator.verify_jwt(better_auth.jwt())
    assert principal.subject == USER["id"] and principal.issuer == BASE
    assert principal.claims["email"] == "ada@example.com" and principal.claims["emailVerified"] is False
    assert principal.client_id is None and principal.scopes == frozenset() and principal.source == "jwt"
    # The same token through the request path (a JWT has two dots, so no get-session call).
    found = await authenticator.authenticate_request(
        authorization=[f"Bearer {better_auth.jwt()}"], cookies={}, method="GET", origin=None
    )
    assert found is not None and found.subject == USER["id"] and better_auth.get_session.call_count == 0


@pytest.mark.parametrize(
    "overrides",
    [
        {"aud": "https://other.example"},
        {"iss": "https://other.example"},
        {"exp": int(time.time()) - 60},
        {"sub": None},
        {"iat": None},
    ],
)
async def test_bad_better_auth_jwts_refused(
    authenticator: Authenticator, better_auth: FakeBetterAuth, overrides: dict[str, Any]
) -> None:
    with pytest.raises(InvalidToken):
        await authenticator.verify_jwt(better_auth.jwt(**overrides))


async def test_better_auth_jwt_signed_by_another_key_or_alg_refused(
    authenticator: Authenticator, better_auth: FakeBetterAuth
) -> None:
    stranger = OKPKey.generate_key("Ed25519", private=True)
    with pytest.raises(InvalidToken):
        await authenticator.verify_jwt(sign(ba_claims(), stranger, alg="EdDSA", kid="ba-1", typ=None))
    # The published key says alg EdDSA; the RFC 9864 name is another algorithm to us.
    with pytest.raises(InvalidToken):
        await authenticator.verify_jwt(
            sign(ba_claims(), better_auth.key, alg="Ed25519", kid="ba-1", typ=None)
        )


def test_settings_defaults_follow_better_auth() -> None:
    config = BetterAuth(BASE + "/")
    issuer = config.jwt_issuer()
    assert (issuer.issuer, issuer.audiences, tuple(issuer.algorithms), issuer.typ) == (
        BASE,
        (BASE,),
        ("EdDSA",),
        None,
    )
    assert issuer.jwks_uri == f"{BASE}/api/auth/jwks"
    assert config.cookie_names == ("__Secure-better-auth.session_token", "better-auth.session_token")
    assert config.trusted_origins == (BASE,)
    custom = BetterAuth(
        BASE, issuer="https://id.example", audience="https://api.example", algorithms=("ES256",)
    )
    assert custom.jwt_issuer().audiences == ("https://api.example",)
    with pytest.raises(ValueError):
        BetterAuth("http://app.example.com")
    with pytest.raises(ValueError):
        BetterAuth(BASE, algorithms=("HS256",)).jwt_issuer()


async def test_session_bearer_checked_with_get_session(
    authenticator: Authenticator, better_auth: FakeBetterAuth
) -> None:
    principal = await authenticator.verify_session(SIGNED)
    assert principal.subject == USER["id"] and principal.source == "better_auth_session"
    assert principal.claims["email"] == "ada@example.com" and principal.claims["sid"] == "sess-1"
    assert SESSION not in str(dict(principal.claims))  # the session token is not kept in claims
    request = better_auth.requests[0]
    assert request.headers["authorization"] == f"Bearer {SIGNED}" and "cookie" not in request.headers
    assert (
        request.url.params["disableCookieCache"] == "true" and request.url.params["disableRefresh"] == "true"
    )


async def test_session_cookie_forwarded_as_that_cookie(
    authenticator: Authenticator, better_auth: FakeBetterAuth
) -> None:
    encoded = SIGNED.replace("/", "%2F").replace("+", "%2B").replace("=", "%3D")
    found = await authenticator.authenticate_request(
        authorization=[], cookies={"better-auth.session_token": encoded}, method="GET", origin=None
    )
    assert found is not None and found.subject == USER["id"]
    request = better_auth.requests[0]
    assert request.headers["cookie"] == f"better-auth.session_token={encoded}"
    assert "authorization" not in request.headers


async def test_positive_session_answer_cached_briefly_negative_never(
    authenticator: Authenticator, better_auth: FakeBetterAuth, clock: FakeClock
) -> None:
    await authenticator.verify_session(SIGNED)
    await authenticator.verify_session(SIGNED)
    assert better_auth.get_session.call_count == 1
    better_auth.live = False  # signed out at Better Auth
    clock.advance(10)
    for _ in range(3):
        with pytest.raises(InvalidToken) as caught:
            await authenticator.verify_session(SIGNED)
    assert caught.value.description == "The session is not valid."
    assert better_auth.get_session.call_count == 4
    # A bearer answer is not reused for a cookie of the same value, nor the other way round.
    better_auth.live = True
    await authenticator.verify_session(SIGNED)
    await authenticator.verify_session(SIGNED, cookie_name="better-auth.session_token")
    assert better_auth.get_session.call_count == 6


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(200, content=b"null"), InvalidToken),
        (httpx.Response(200, content=b""), IssuerUnavailable),
        (httpx.Response(200, json=session_body(expires_in=-5)), InvalidToken),
        (httpx.Response(200, json=session_body(userId="someone-else")), InvalidToken),
        (httpx.Response(200, json={"session": None, "user": None}), IssuerUnavailable),
        (httpx.Response(200, content=b"<html>"), IssuerUnavailable),
        (httpx.Response(500), IssuerUnavailable),
        (httpx.Response(429), IssuerUnavailable),
        (httpx.Response(401), InvalidToken),
        (httpx.Response(302, headers={"Location": "https://evil.example"}), InvalidToken),
    ],
)
async def test_get_session_answers(
    router: respx.MockRouter, clock: FakeClock, response: httpx.Response, error: type[Exception]
) -> None:
    route = router.get(f"{BASE}/api/auth/get-session").mock(return_value=response)
    async with Authenticator(better_auth=BetterAuth(BASE), monotonic=clock) as authenticator:
        for _ in range(2):
            with pytest.raises(error):
                await authenticator.verify_session(SIGNED)
    assert route.call_count == 2  # never cached


async def test_unreachable_better_auth_is_503(router: respx.MockRouter, clock: FakeClock) -> None:
    router.get(f"{BASE}/api/auth/get-session").mock(side_effect=httpx.ConnectError("refused"))
    async with Authenticator(better_auth=BetterAuth(BASE), monotonic=clock) as authenticator:
        with pytest.raises(IssuerUnavailable):
            await authenticator.verify_session(SIGNED)


@pytest.mark.parametrize("token", ["", "a b", "a;b=c", "a\r\nb", "x" * 5000])
async def test_malformed_session_tokens_never_sent(
    authenticator: Authenticator, better_auth: FakeBetterAuth, token: str
) -> None:
    with pytest.raises(InvalidToken):
        await authenticator.verify_session(token)
    with pytest.raises(InvalidToken):
        await authenticator.verify_session("abc", cookie_name="session")
    assert better_auth.get_session.call_count == 0


async def test_sessions_can_be_switched_off(better_auth: FakeBetterAuth, clock: FakeClock) -> None:
    async with Authenticator(better_auth=BetterAuth(BASE, sessions=False), monotonic=clock) as authenticator:
        with pytest.raises(InvalidToken):
            await authenticator.verify_session(SIGNED)
        assert (await authenticator.verify_jwt(better_auth.jwt())).subject == USER["id"]
    assert better_auth.get_session.call_count == 0


async def test_middleware_with_cookie_sessions_and_csrf_guard(
    authenticator: Authenticator, better_auth: FakeBetterAuth
) -> None:
    async def me(request: Request) -> JSONResponse:
        principal = get_principal(request)
        assert principal is not None
        return JSONResponse({"sub": principal.subject, "source": principal.source})

    app = Starlette(
        routes=[Route("/me", me, methods=["GET", "POST"])],
        middleware=[Middleware(BearerAuthMiddleware, authenticator=authenticator)],
    )
    cookie = {"Cookie": f"better-auth.session_token={SESSION}"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://api.example.com"
    ) as api:
        ok = await api.get("/me", headers=cookie)
        assert ok.json() == {"sub": USER["id"], "source": "better_auth_session"}
        cross_site = await api.post("/me", headers=cookie | {"Origin": "https://evil.example"})
        assert cross_site.status_code == 400 and cross_site.json()["error"] == "invalid_request"
        same_site = await api.post("/me", headers=cookie | {"Origin": BASE})
        assert same_site.status_code == 200
        bearer_session = await api.post("/me", headers={"Authorization": f"Bearer {SIGNED}"})
        assert bearer_session.status_code == 200
        better_auth.live = False
        signed_out = await api.get("/me", headers={"Authorization": "Bearer another-session-token"})
        assert signed_out.status_code == 401
        assert signed_out.headers["www-authenticate"] == (
            'Bearer error="invalid_token", error_description="The session is not valid."'
        )
