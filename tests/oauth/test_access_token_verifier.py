"""Our access-token verifier (used by introspection) refuses every RFC 8725 trick (J4-J7)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest

from authserver.context import AppContext
from authserver.domain.keys import KeyRing
from authserver.oauth.access_tokens import sign_access_token, sign_id_token, verify_access_token
from tests.conftest import ISSUER


def b64(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.fixture
async def ring(ctx: AppContext) -> KeyRing:
    await ctx.ensure_keys()
    return await ctx.keyring()


def good(ring: KeyRing, **overrides: Any) -> str:
    kwargs: dict[str, Any] = {
        "issuer": ISSUER,
        "subject": "u",
        "audience": "a",
        "client_id": "c",
        "scope": "read",
        "ttl": 600,
    }
    return sign_access_token(ring, **(kwargs | overrides)).value


async def test_accepts_a_good_token(ring: KeyRing) -> None:
    claims = verify_access_token(ring, good(ring), issuer=ISSUER)
    assert claims is not None and claims["sub"] == "u"


async def test_J4_alg_none_and_hs256_with_public_key_refused(ring: KeyRing) -> None:
    token = good(ring)
    head = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    payload = token.split(".")[1]
    none = f"{b64(head | {'alg': 'none'})}.{payload}."
    assert verify_access_token(ring, none, issuer=ISSUER) is None
    kid, _ = ring.signer()
    public_pem = ring.verifier(kid).as_pem(private=False)  # type: ignore[union-attr]
    # Forged by hand, as an attacker would: libraries (joserfc included) refuse to build it.
    signing_input = f"{b64(head | {'alg': 'HS256'})}.{payload}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    hs = f"{signing_input}.{b64(mac)}"
    assert verify_access_token(ring, hs, issuer=ISSUER) is None


async def test_J5_header_keys_ignored_and_unknown_kid_refused(ring: KeyRing) -> None:
    token = good(ring)
    head = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    _, payload, sig = token.split(".")
    unknown = f"{b64(head | {'kid': 'nope'})}.{payload}.{sig}"
    assert verify_access_token(ring, unknown, issuer=ISSUER) is None
    jku = f"{b64(head | {'jku': 'https://evil.example/jwks'})}.{payload}.{sig}"
    assert verify_access_token(ring, jku, issuer=ISSUER) is None  # header changed: signature breaks


async def test_J6_expired_and_foreign_issuer_refused(ring: KeyRing) -> None:
    assert verify_access_token(ring, good(ring, ttl=-10), issuer=ISSUER) is None
    assert verify_access_token(ring, good(ring, issuer="https://other.example"), issuer=ISSUER) is None


async def test_J7_id_token_is_not_an_access_token(ring: KeyRing) -> None:
    id_token = sign_id_token(
        ring,
        issuer=ISSUER,
        subject="u",
        client_id="c",
        ttl=600,
        auth_time=int(time.time()),
        nonce=None,
        access_token="x",
    )
    assert verify_access_token(ring, id_token, issuer=ISSUER) is None
