"""JWKS caching: Cache-Control within bounds, rotation without restart, outages, bogus-kid floods."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import respx
from cryptography.hazmat.primitives.asymmetric.rsa import generate_private_key
from joserfc.jwk import ECKey, OctKey, OKPKey

from authserver_resource import InvalidToken, Issuer, IssuerUnavailable, JwksPolicy
from authserver_resource.jwks import cache_seconds, parse_jwks
from authserver_resource.validator import JwtValidator
from tests.kit.conftest import (
    AUDIENCE,
    ISSUER_URL,
    FakeClock,
    FakeIssuer,
    b64,
    claims,
    public_jwk,
    rsa_key,
    sign,
)

POLICY = JwksPolicy(min_ttl=60, max_ttl=3600, default_ttl=300, refetch_interval=10)


def make(http: httpx.AsyncClient, clock: FakeClock, **overrides: Any) -> JwtValidator:
    issuer = Issuer(ISSUER_URL, audience=AUDIENCE, jwks=POLICY, **overrides)
    return JwtValidator([issuer], http, monotonic=clock)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("public, max-age=600", 600),
        ("max-age=5", 60),  # floor
        ("max-age=999999", 3600),  # ceiling
        ('max-age="120", must-revalidate', 120),
        ("s-maxage=10, max-age=900", 900),
        ("no-store", 60),
        ("no-cache, max-age=900", 60),
        ("public", 300),
        (None, 300),
        ("max-age=-5", 300),
    ],
)
def test_cache_control_honoured_within_floor_and_ceiling(header: str | None, seconds: float) -> None:
    assert cache_seconds(header, Issuer(ISSUER_URL, audience=AUDIENCE, jwks=POLICY)) == seconds


async def test_cache_lifetime_follows_max_age(
    issuer: FakeIssuer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    issuer.cache_control = "max-age=120"
    validator = make(http, clock)
    token = sign(claims(), rsa_key())
    await validator.validate(token)
    clock.advance(119)
    await validator.validate(token)
    assert issuer.jwks.call_count == 1
    clock.advance(2)
    await validator.validate(token)
    assert issuer.jwks.call_count == 2


async def test_issuer_side_rotation_picked_up_without_restart(
    issuer: FakeIssuer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    validator = make(http, clock)
    await validator.validate(sign(claims(), rsa_key(0), kid="k1"))
    clock.advance(30)  # well inside the cache lifetime, past the refetch interval
    # The issuer rotates: a new key signs, the old one is withdrawn.
    issuer.keys[:] = [public_jwk(rsa_key(1), "k2")]
    assert (await validator.validate(sign(claims(), rsa_key(1), kid="k2"))).subject == "user-1"
    assert issuer.jwks.call_count == 2
    # The withdrawn key is gone at once: its tokens no longer verify.
    with pytest.raises(InvalidToken):
        await validator.validate(sign(claims(), rsa_key(0), kid="k1"))


async def test_jwks_outage_served_from_warm_cache(
    issuer: FakeIssuer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    validator = make(http, clock)
    token = sign(claims(), rsa_key())
    await validator.validate(token)
    issuer.down = True
    clock.advance(301)  # the cached JWKS has expired and the refresh fails
    for _ in range(50):
        assert (await validator.validate(token)).subject == "user-1"
    assert issuer.jwks.call_count == 2  # one failed refresh, then no hammering of the sick issuer
    clock.advance(11)
    await validator.validate(token)
    assert issuer.jwks.call_count == 3  # retried after the interval
    issuer.down = False
    clock.advance(11)
    await validator.validate(token)
    assert issuer.jwks.call_count == 4
    clock.advance(299)
    await validator.validate(token)
    assert issuer.jwks.call_count == 4  # fresh again: cached for max-age


async def test_cold_cache_outage_is_503_not_401_and_rate_limited(
    issuer: FakeIssuer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    issuer.down = True
    validator = make(http, clock)
    token = sign(claims(), rsa_key())
    for _ in range(20):
        with pytest.raises(IssuerUnavailable) as caught:
            await validator.validate(token)
    assert caught.value.status == 503 and caught.value.headers()["Retry-After"] == "5"
    assert caught.value.challenge() is None
    assert issuer.jwks.call_count == 1
    issuer.down = False
    clock.advance(10)
    assert (await validator.validate(token)).subject == "user-1"


async def test_flood_of_1000_bogus_kids_costs_at_most_two_fetches(
    issuer: FakeIssuer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    validator = make(http, clock)
    await validator.validate(sign(claims(), rsa_key()))
    clock.advance(30)  # a refetch is allowed again
    bogus = [sign(claims(), rsa_key(1), kid=f"bogus-{i}") for i in range(20)]
    for i in range(1000):
        with pytest.raises(InvalidToken):
            await validator.validate(bogus[i % 20])
    assert issuer.jwks.call_count == 2  # the first fetch plus one rate-limited refetch
    assert (await validator.validate(sign(claims(), rsa_key()))).subject == "user-1"


async def test_concurrent_misses_share_one_fetch(
    issuer: FakeIssuer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    validator = make(http, clock)
    tokens = [sign(claims(), rsa_key(1), kid=f"bogus-{i}") for i in range(10)]
    good = sign(claims(), rsa_key())
    results = await asyncio.gather(
        *(validator.validate(tokens[i % 10]) for i in range(1000)),
        *(validator.validate(good) for _ in range(50)),
        return_exceptions=True,
    )
    assert all(isinstance(r, InvalidToken) for r in results[:1000])
    assert all(not isinstance(r, BaseException) for r in results[1000:])
    assert issuer.jwks.call_count == 1 and issuer.metadata.call_count == 1


def test_parse_jwks_keeps_only_usable_public_signing_keys() -> None:
    rsa = rsa_key()
    numbers = generate_private_key(65537, 1024).public_key().public_numbers()  # noqa: S505 (the point)
    small = {"kty": "RSA", "kid": "weak", "e": "AQAB", "n": b64(numbers.n.to_bytes(128, "big"))}
    ec, okp = ECKey.generate_key("P-256", private=True), OKPKey.generate_key("Ed25519", private=True)
    secret = OctKey.generate_key(256)
    document = {
        "keys": [
            rsa.as_dict(private=True) | {"kid": "private-members"},  # imported public part only
            public_jwk(rsa, "enc", use="enc"),
            public_jwk(rsa, "ops", key_ops=["encrypt"]),
            small,
            secret.as_dict() | {"kid": "oct"},
            public_jwk(ec, "ec"),
            public_jwk(okp, "okp"),
            public_jwk(rsa, "dup"),
            public_jwk(ec, "dup"),
            {"kid": "junk", "kty": "RSA", "n": "!!", "e": "AQAB"},
            {"kty": "RSA", "n": "x"},
            "not a key",
            public_jwk(rsa, "bad-alg", alg="HS256"),
        ]
    }
    keys = parse_jwks(document, ("RS256", "ES256"))
    assert sorted(keys) == ["ec", "private-members"]
    assert not keys["private-members"].key.is_private
    assert sorted(parse_jwks(document, ("EdDSA",))) == ["okp"]


@pytest.mark.parametrize("body", [{"nokeys": []}, {"keys": "x"}, [1, 2]])
async def test_a_broken_jwks_document_keeps_the_old_keys(
    issuer: FakeIssuer, router: respx.MockRouter, http: httpx.AsyncClient, clock: FakeClock, body: Any
) -> None:
    validator = make(http, clock)
    token = sign(claims(), rsa_key())
    await validator.validate(token)
    issuer.jwks.mock(return_value=httpx.Response(200, json=body))
    clock.advance(400)
    assert (await validator.validate(token)).subject == "user-1"


async def test_oversized_jwks_refused(
    router: respx.MockRouter, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    router.get(f"{ISSUER_URL}/jwks").respond(200, content=b'{"keys": [' + b" " * 300_000 + b"]}")
    validator = make(http, clock, jwks_uri=f"{ISSUER_URL}/jwks")
    with pytest.raises(IssuerUnavailable):
        await validator.validate(sign(claims(), rsa_key()))


async def test_redirects_are_not_followed(
    router: respx.MockRouter, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    router.get(f"{ISSUER_URL}/jwks").respond(302, headers={"Location": "https://evil.example/jwks"})
    evil = router.get("https://evil.example/jwks").respond(json={"keys": [public_jwk(rsa_key(), "k1")]})
    validator = make(http, clock, jwks_uri=f"{ISSUER_URL}/jwks")
    with pytest.raises(IssuerUnavailable):
        await validator.validate(sign(claims(), rsa_key()))
    assert evil.call_count == 0
