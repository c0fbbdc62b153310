"""The one object a service builds: dispatch between JWTs and Better Auth sessions, set-up errors."""

from __future__ import annotations

import httpx
import pytest
import respx

from authserver_resource import Authenticator, BetterAuth, InvalidToken, Issuer
from authserver_resource.credentials import Credential
from tests.kit.conftest import AUDIENCE, ISSUER_URL, FakeIssuer, claims, rsa_key, sign

BA = "https://app.example.com"


def test_needs_at_least_one_issuer_and_no_duplicates() -> None:
    with pytest.raises(ValueError):
        Authenticator([])
    with pytest.raises(ValueError, match="twice"):
        Authenticator([Issuer(ISSUER_URL, audience="a"), Issuer(ISSUER_URL, audience="b")])
    with pytest.raises(ValueError, match="twice"):
        Authenticator([Issuer(BA, audience="x")], better_auth=BetterAuth(BA))


async def test_two_dots_is_a_jwt_anything_else_a_session(
    issuer: FakeIssuer, router: respx.MockRouter
) -> None:
    get_session = router.get(f"{BA}/api/auth/get-session").respond(content=b"null")
    async with Authenticator([Issuer(ISSUER_URL, audience=AUDIENCE)], better_auth=BetterAuth(BA)) as auth:
        assert (await auth.authenticate(Credential(sign(claims(), rsa_key())))).issuer == ISSUER_URL
        assert get_session.call_count == 0
        for value in ("opaque", "token.signature"):
            with pytest.raises(InvalidToken, match="get-session"):
                await auth.authenticate(Credential(value))
        with pytest.raises(InvalidToken):
            await auth.authenticate(Credential("s", cookie_name="better-auth.session_token"))
        assert get_session.call_count == 3


async def test_without_better_auth_sessions_opaque_tokens_are_refused_locally(issuer: FakeIssuer) -> None:
    async with Authenticator([Issuer(ISSUER_URL, audience=AUDIENCE)]) as auth:
        with pytest.raises(InvalidToken, match="not a compact JWS"):
            await auth.authenticate(Credential("opaque"))
        with pytest.raises(InvalidToken, match="not trusted"):
            await auth.verify_session("opaque")


async def test_closes_only_the_client_it_made() -> None:
    async with httpx.AsyncClient() as mine:
        async with Authenticator([Issuer(ISSUER_URL, audience=AUDIENCE)], http=mine):
            pass
        assert not mine.is_closed
    made = Authenticator([Issuer(ISSUER_URL, audience=AUDIENCE)])
    await made.aclose()
    assert made._http.is_closed
