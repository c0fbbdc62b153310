"""RFC 7662 introspection on top of local validation: revocation counts, errors never pass."""

from __future__ import annotations

import base64
import time
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from authserver_resource import Introspection, InvalidToken, Issuer, IssuerUnavailable
from authserver_resource.validator import JwtValidator
from tests.kit.conftest import AUDIENCE, ISSUER_URL, FakeClock, FakeIssuer, claims, rsa_key, sign

INTROSPECT = f"{ISSUER_URL}/introspect"


class FakeIntrospection:
    """The issuer's introspection endpoint: active until `revoke`d."""

    def __init__(self, router: respx.MockRouter) -> None:
        self.revoked: set[str] = set()
        self.requests: list[httpx.Request] = []
        self.route = router.post(INTROSPECT).mock(side_effect=self._answer)

    def _answer(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        form = parse_qs(request.content.decode())
        token = form["token"][0]
        if token in self.revoked:
            return httpx.Response(200, json={"active": False})
        return httpx.Response(200, json={"active": True, "iss": ISSUER_URL, "exp": int(time.time()) + 600})


@pytest.fixture
def introspection(router: respx.MockRouter) -> FakeIntrospection:
    return FakeIntrospection(router)


def make(http: httpx.AsyncClient, clock: FakeClock, **options: Any) -> JwtValidator:
    config = Introspection("rs-client", "s3cret/with:odd chars", **options)
    return JwtValidator([Issuer(ISSUER_URL, audience=AUDIENCE, introspection=config)], http, monotonic=clock)


async def test_revoked_token_refused_when_introspection_is_on(
    issuer: FakeIssuer, introspection: FakeIntrospection, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    validator = make(http, clock, cache_ttl=5)
    token = sign(claims(), rsa_key())
    assert (await validator.validate(token)).subject == "user-1"
    introspection.revoked.add(token)
    clock.advance(5)  # the short positive cache has run out
    with pytest.raises(InvalidToken) as caught:
        await validator.validate(token)
    assert caught.value.description == "The access token is not active."
    # A negative answer is never cached as success, nor at all: each try asks again.
    with pytest.raises(InvalidToken):
        await validator.validate(token)
    assert introspection.route.call_count == 3


async def test_positive_answers_cached_briefly(
    issuer: FakeIssuer, introspection: FakeIntrospection, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    validator = make(http, clock, cache_ttl=5)
    token = sign(claims(), rsa_key())
    for _ in range(10):
        await validator.validate(token)
    assert introspection.route.call_count == 1
    clock.advance(4.9)
    await validator.validate(token)
    assert introspection.route.call_count == 1
    clock.advance(0.2)
    await validator.validate(token)
    assert introspection.route.call_count == 2


async def test_cache_ttl_zero_asks_every_time(
    issuer: FakeIssuer, introspection: FakeIntrospection, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    validator = make(http, clock, cache_ttl=0)
    token = sign(claims(), rsa_key())
    await validator.validate(token)
    await validator.validate(token)
    assert introspection.route.call_count == 2


async def test_request_is_an_authenticated_form_post(
    issuer: FakeIssuer, introspection: FakeIntrospection, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    token = sign(claims(), rsa_key())
    await make(http, clock).validate(token)
    request = introspection.requests[0]
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.content.decode()) == {"token": [token], "token_type_hint": ["access_token"]}
    # RFC 6749 §2.3.1: id and secret are form-encoded before Basic.
    basic = base64.b64decode(request.headers["authorization"].removeprefix("Basic ")).decode()
    assert basic == "rs-client:s3cret%2Fwith%3Aodd%20chars"


async def test_forged_tokens_never_reach_introspection(
    issuer: FakeIssuer, introspection: FakeIntrospection, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    with pytest.raises(InvalidToken):
        await make(http, clock).validate(sign(claims(), rsa_key(1)))
    assert introspection.route.call_count == 0


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(500),
        httpx.Response(401, json={"error": "invalid_client"}),
        httpx.Response(200, content=b"<html>"),
        httpx.Response(200, json={"active": "true"}),
        httpx.Response(200, json=["active", True]),
        httpx.Response(200, json={}),
    ],
)
async def test_errors_are_503_never_a_pass_and_never_cached(
    issuer: FakeIssuer,
    router: respx.MockRouter,
    http: httpx.AsyncClient,
    clock: FakeClock,
    response: httpx.Response,
) -> None:
    route = router.post(INTROSPECT).mock(return_value=response)
    validator = make(http, clock)
    token = sign(claims(), rsa_key())
    for _ in range(2):
        with pytest.raises(IssuerUnavailable):
            await validator.validate(token)
    assert route.call_count == 2


async def test_network_error_is_503(
    issuer: FakeIssuer, router: respx.MockRouter, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    router.post(INTROSPECT).mock(side_effect=httpx.ConnectTimeout("slow"))
    with pytest.raises(IssuerUnavailable):
        await make(http, clock).validate(sign(claims(), rsa_key()))


async def test_answer_for_another_issuer_is_inactive(
    issuer: FakeIssuer, router: respx.MockRouter, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    router.post(INTROSPECT).respond(json={"active": True, "iss": "https://evil.example"})
    with pytest.raises(InvalidToken):
        await make(http, clock).validate(sign(claims(), rsa_key()))


async def test_configured_endpoint_needs_no_metadata(
    router: respx.MockRouter, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    from tests.kit.conftest import public_jwk

    router.get(f"{ISSUER_URL}/jwks").respond(json={"keys": [public_jwk(rsa_key(), "k1")]})
    route = router.post("https://introspect.example/check").respond(json={"active": True})
    config = Introspection("rs", "secret", endpoint="https://introspect.example/check")
    issuer = Issuer(ISSUER_URL, audience=AUDIENCE, jwks_uri=f"{ISSUER_URL}/jwks", introspection=config)
    validator = JwtValidator([issuer], http, monotonic=clock)
    assert (await validator.validate(sign(claims(), rsa_key()))).subject == "user-1"
    assert route.call_count == 1
