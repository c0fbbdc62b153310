"""Client registration rules (RFC 9700 §2.1, RFC 6749 §3.1.2, RFC 8252 §7; checklist A2)."""

from __future__ import annotations

import pytest

from authserver.context import AppContext
from authserver.domain import clients
from authserver.domain.errors import InvalidInput

REFUSED = {
    "backslash": "https://app.example.com\\@evil.example/cb",
    "userinfo": "https://user@app.example.com/cb",
    "userinfo-with-password": "https://user:pw@app.example.com/cb",
    "wildcard-host": "https://*.example.com/cb",
    "wildcard-path": "https://app.example.com/*",
    "encoded-nul": "https://app.example.com/cb%00",
    "encoded-newline": "https://app.example.com/cb?x=%0d%0aSet-Cookie",
    "encoded-del": "https://app.example.com/%7F",
    "bad-percent": "https://app.example.com/%zz",
    "fragment": "https://app.example.com/cb#frag",
    "empty-fragment": "https://app.example.com/cb#",
    "plain-http": "http://app.example.com/cb",
    "http-lookalike-loopback": "http://127.0.0.1.evil.example/cb",
    "javascript": "javascript:alert(1)",
    "data": "data:text/html,hi",
    "non-ascii": "https://app.example.com/café",
    "space": "https://app.example.com/a b",
    "bad-port": "https://app.example.com:99999/cb",
    "relative": "/cb",
    "no-host": "https:///cb",
    "private-scheme-without-dot": "myapp:/cb",
}
ACCEPTED = [
    "https://app.example.com/cb",
    "https://app.example.com:8443/cb?tenant=a&x=%20",
    "http://127.0.0.1/cb",
    "http://[::1]:3000/cb",
    "http://localhost:8080/callback",
    "com.example.app:/oauth2redirect",
]


@pytest.mark.parametrize("uri", REFUSED.values(), ids=list(REFUSED))
def test_A2_registration_refuses_ambiguous_redirect_uris(uri: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        clients.validate_redirect_uri(uri)
    assert refused.value.field == "redirect_uri"


@pytest.mark.parametrize("uri", ACCEPTED)
def test_A2_registration_accepts_https_loopback_and_native_schemes(uri: str) -> None:
    assert clients.validate_redirect_uri(uri) == uri


async def test_T9_public_client_cannot_register_the_password_grant(ctx: AppContext) -> None:
    async with ctx.transaction() as session:
        with pytest.raises(InvalidInput) as refused:
            await clients.create_client(session, name="spa", grant_types=["password"], public=True)
    assert refused.value.field == "grant_type"


async def test_I9_public_client_cannot_be_allowed_to_introspect(ctx: AppContext) -> None:
    async with ctx.transaction() as session:
        with pytest.raises(InvalidInput):
            await clients.create_client(
                session,
                name="spa",
                grant_types=["authorization_code"],
                redirect_uris=["https://app.example.com/cb"],
                public=True,
                introspection_allowed=True,
            )
