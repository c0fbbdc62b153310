"""A fake issuer (respx routes for its metadata and JWKS, a throwaway key) and a fake clock."""

from __future__ import annotations

import base64
import json
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import respx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from joserfc import jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, OKPKey, RSAKey

ISSUER_URL = "https://issuer.example"
AUDIENCE = "https://api.example.com"
METADATA_URL = f"{ISSUER_URL}/.well-known/oauth-authorization-server"
JWKS_URL = f"{ISSUER_URL}/jwks"

# RSA key generation is slow-ish; a few throwaway keys serve every test of the session.
_RSA_KEYS: list[RSAKey] = []


def rsa_key(index: int = 0) -> RSAKey:
    while len(_RSA_KEYS) <= index:
        _RSA_KEYS.append(RSAKey.generate_key(2048, private=True))
    return _RSA_KEYS[index]


def b64(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def public_jwk(key: RSAKey | ECKey | OKPKey, kid: str, **extra: Any) -> dict[str, Any]:
    return key.as_dict(private=False) | {"kid": kid, "use": "sig"} | extra


def claims(**overrides: Any) -> dict[str, Any]:
    """RFC 9068 §2.2 claims of a good access token; `None` removes a claim."""
    now = int(time.time())
    values: dict[str, Any] = {
        "iss": ISSUER_URL,
        "sub": "user-1",
        "aud": AUDIENCE,
        "exp": now + 600,
        "iat": now,
        "nbf": now,
        "jti": "jti-1",
        "client_id": "client-1",
        "scope": "orders:read profile",
    }
    values |= overrides
    return {k: v for k, v in values.items() if v is not None}


def sign(
    payload: dict[str, Any],
    key: RSAKey | ECKey | OKPKey,
    *,
    alg: str = "RS256",
    kid: str | None = "k1",
    typ: str | None = "at+jwt",
    **header: Any,
) -> str:
    head: dict[str, Any] = {"alg": alg} | header
    if kid is not None:
        head["kid"] = kid
    if typ is not None:
        head["typ"] = typ
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)  # "EdDSA" (Better Auth's alg) is flagged
        return jwt.encode(head, payload, key, algorithms=[alg])


def sign_raw(header: dict[str, Any], payload: dict[str, Any], key: RSAKey | None = None) -> str:
    """RS256 by hand, for headers a JOSE library would refuse to produce."""
    signing_input = f"{b64(header)}.{b64(payload)}".encode()
    private = (key or rsa_key()).get_op_key("sign")
    assert isinstance(private, rsa.RSAPrivateKey)
    signature = private.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input.decode()}.{b64(signature)}"


@dataclass
class FakeIssuer:
    """The issuer's endpoints as respx routes. Change `keys`, `cache_control` or `down` at will."""

    router: respx.MockRouter
    keys: list[dict[str, Any]] = field(default_factory=list)
    cache_control: str | None = "public, max-age=300"
    down: bool = False

    def __post_init__(self) -> None:
        self.metadata = self.router.get(METADATA_URL).mock(
            side_effect=lambda request: httpx.Response(
                200,
                json={
                    "issuer": ISSUER_URL,
                    "jwks_uri": JWKS_URL,
                    "introspection_endpoint": f"{ISSUER_URL}/introspect",
                },
            )
        )
        self.jwks = self.router.get(JWKS_URL).mock(side_effect=self._jwks)

    def _jwks(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            return httpx.Response(503)
        headers = {"Cache-Control": self.cache_control} if self.cache_control else {}
        return httpx.Response(200, json={"keys": self.keys}, headers=headers)

    def publish(self, key: RSAKey | ECKey | OKPKey, kid: str, **extra: Any) -> None:
        self.keys.append(public_jwk(key, kid, **extra))


class FakeClock:
    """A monotonic clock the test moves by hand (cache lifetimes, rate limits)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def issuer(router: respx.MockRouter) -> FakeIssuer:
    fake = FakeIssuer(router)
    fake.publish(rsa_key(0), "k1")
    return fake


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def http() -> Any:
    async with httpx.AsyncClient() as client:
        yield client
