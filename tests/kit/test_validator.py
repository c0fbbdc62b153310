"""RFC 9068 §4 validation: good tokens accepted, every RFC 8725 trick refused (J4-J7)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import respx
from joserfc.jwk import ECKey, OKPKey

from authserver_resource import ClaimMapping, InvalidToken, Issuer
from authserver_resource.validator import JwtValidator
from tests.kit.conftest import (
    AUDIENCE,
    ISSUER_URL,
    FakeClock,
    FakeIssuer,
    b64,
    claims,
    rsa_key,
    sign,
    sign_raw,
)


@dataclass(frozen=True)
class FromNow:
    seconds: int


def make(http: httpx.AsyncClient, clock: FakeClock, **overrides: Any) -> JwtValidator:
    return JwtValidator([Issuer(ISSUER_URL, audience=AUDIENCE, **overrides)], http, monotonic=clock)


async def refused(validator: JwtValidator, token: str) -> InvalidToken:
    with pytest.raises(InvalidToken) as caught:
        await validator.validate(token)
    return caught.value


async def test_accepts_a_good_token_and_maps_the_principal(
    issuer: FakeIssuer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    good = claims(roles=["admin"])
    principal = await make(http, clock).validate(sign(good, rsa_key()))
    assert principal.subject == "user-1" and principal.issuer == ISSUER_URL
    assert principal.client_id == "client-1" and principal.scopes == {"orders:read", "profile"}
    assert principal.roles == {"admin"} and principal.claims["jti"] == "jti-1"
    assert principal.source == "jwt" and principal.expires_at == good["exp"]
    assert issuer.metadata.call_count == 1 and issuer.jwks.call_count == 1


async def test_application_at_jwt_typ_and_audience_lists_accepted(
    issuer: FakeIssuer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    validator = make(http, clock)
    token = sign(claims(aud=["https://other.example", AUDIENCE]), rsa_key(), typ="application/at+jwt")
    assert (await validator.validate(token)).subject == "user-1"


async def test_J4_forged_signature_refused(
    issuer: FakeIssuer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    validator = make(http, clock)
    # Same kid, signed by a key the issuer never published.
    assert "invalid" in (await refused(validator, sign(claims(), rsa_key(1)))).description
    # A good token whose claims were edited afterwards.
    head, _, sig = sign(claims(), rsa_key()).split(".")
    await refused(validator, f"{head}.{b64(claims(sub='admin'))}.{sig}")


async def test_J4_alg_none_refused(issuer: FakeIssuer, http: httpx.AsyncClient, clock: FakeClock) -> None:
    validator = make(http, clock)
    header = {"alg": "none", "typ": "at+jwt", "kid": "k1"}
    for token in (f"{b64(header)}.{b64(claims())}.", f"{b64(header)}.{b64(claims())}.c2ln"):
        error = await refused(validator, token)
        assert error.status == 401 and error.error == "invalid_token"
    assert issuer.jwks.call_count == 0  # refused before any key was needed


async def test_J4_hs256_signed_with_the_public_key_refused(
    issuer: FakeIssuer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    validator = make(http, clock)
    key = rsa_key()
    # The classic confusion attack: HMAC "keyed" with the RSA public key (PEM and JWK forms), forged
    # by hand because JOSE libraries refuse to build it.
    for secret in (key.as_pem(private=False), json.dumps(key.as_dict(private=False)).encode()):
        signing_input = f"{b64({'alg': 'HS256', 'typ': 'at+jwt', 'kid': 'k1'})}.{b64(claims())}"
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        await refused(validator, f"{signing_input}.{b64(mac)}")
    # Even if an operator lists HS256, the configuration itself is refused.
    with pytest.raises(ValueError, match="never none or HMAC"):
        Issuer(ISSUER_URL, audience=AUDIENCE, algorithms=("RS256", "HS256"))


async def test_J4_alg_outside_the_allow_list_and_key_type_mismatch_refused(
    issuer: FakeIssuer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    ec = ECKey.generate_key("P-256", private=True)
    issuer.publish(ec, "ec1")
    # PS256 is a fine algorithm, but not on this issuer's list.
    await refused(make(http, clock), sign(claims(), rsa_key(), alg="PS256"))
    # With ES256 allowed, an ES256 token naming the RSA key's kid is still refused (kty must fit).
    both = make(http, clock, algorithms=("RS256", "ES256"))
    assert (await both.validate(sign(claims(), ec, alg="ES256", kid="ec1"))).subject == "user-1"
    await refused(both, sign(claims(), ec, alg="ES256", kid="k1"))
    # An RS256 token naming the EC key's kid.
    await refused(both, sign(claims(), rsa_key(), kid="ec1"))


async def test_a_key_published_for_one_alg_is_not_used_with_another(
    router: respx.MockRouter, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    fake = FakeIssuer(router)
    fake.publish(rsa_key(), "k1", alg="PS256")
    validator = make(http, clock, algorithms=("RS256", "PS256"))
    assert (await validator.validate(sign(claims(), rsa_key(), alg="PS256"))).subject == "user-1"
    await refused(validator, sign(claims(), rsa_key(), alg="RS256"))


async def test_J5_keys_in_token_headers_are_ignored(
    issuer: FakeIssuer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    validator = make(http, clock)
    attacker = rsa_key(1)
    attacker_jwk = attacker.as_dict(private=False)
    for header in (
        {"jwk": attacker_jwk},
        {"jku": "https://evil.example/jwks"},
        {"x5u": "https://evil.example/cert.pem"},
        {"x5c": ["MIIB"]},
    ):
        await refused(validator, sign(claims(), attacker, **header))
    # Only the issuer's JWKS was ever fetched.
    assert all(call.request.url.host == "issuer.example" for call in issuer.router.calls)


async def test_J5_missing_kid_and_crit_refused(
    issuer: FakeIssuer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    validator = make(http, clock)
    await refused(validator, sign(claims(), rsa_key(), kid=None))
    # Hand-signed: a good signature over a header with an extension we do not understand.
    await refused(
        validator, sign_raw({"alg": "RS256", "typ": "at+jwt", "kid": "k1", "crit": ["x"], "x": 1}, claims())
    )
    assert (
        await validator.validate(sign_raw({"alg": "RS256", "typ": "at+jwt", "kid": "k1"}, claims()))
    ).subject


@pytest.mark.parametrize(
    ("overrides", "description"),
    [
        ({"exp": FromNow(-31)}, "The access token expired."),
        ({"nbf": FromNow(120)}, "The access token is not valid yet."),
        ({"iat": FromNow(120)}, "The access token is invalid."),
        ({"aud": "https://other-api.example"}, "The access token is not meant for this resource."),
        (
            {"aud": ["https://a.example", "https://b.example"]},
            "The access token is not meant for this resource.",
        ),
        ({"iss": "https://evil.example"}, "The access token's issuer is not trusted."),
        ({"iss": ISSUER_URL + "/"}, "The access token's issuer is not trusted."),
        ({"exp": None}, "The access token is invalid."),
        ({"exp": "never"}, "The access token is invalid."),
        ({"exp": True}, "The access token is invalid."),
        ({"sub": None}, "The access token is invalid."),
        ({"sub": 7}, "The access token is invalid."),
        ({"jti": None}, "The access token is invalid."),
        ({"client_id": None}, "The access token is invalid."),
    ],
)
async def test_J6_claims_checked(
    issuer: FakeIssuer,
    http: httpx.AsyncClient,
    clock: FakeClock,
    overrides: dict[str, Any],
    description: str,
) -> None:
    now = int(time.time())  # resolved now: parameters are built long before a test runs
    resolved = {k: now + v.seconds if isinstance(v, FromNow) else v for k, v in overrides.items()}
    error = await refused(make(http, clock), sign(claims(**resolved), rsa_key()))
    assert error.description == description and error.status == 401


async def test_leeway_tolerates_small_clock_skew(
    issuer: FakeIssuer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    now = int(time.time())
    validator = make(http, clock, leeway=30)
    token = sign(claims(exp=now - 10, nbf=now + 10, iat=now + 10), rsa_key())
    assert (await validator.validate(token)).subject == "user-1"
    await refused(make(http, clock, leeway=0), token)


async def test_J7_id_token_and_untyped_jwt_are_not_access_tokens(
    issuer: FakeIssuer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    validator = make(http, clock)
    await refused(validator, sign(claims(), rsa_key(), typ="JWT"))
    await refused(validator, sign(claims(), rsa_key(), typ=None))
    # An issuer configured without a typ rule accepts the untyped token.
    assert (await make(http, clock, typ=None).validate(sign(claims(), rsa_key(), typ=None))).subject


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "!!.??.**",
        f"{b64(b'[1]')}.{b64(claims())}.c2ln",
        f"{b64({'alg': 'RS256'})}.{b64(b'not json')}.c2ln",
        f"{b64({'alg': 'RS256'})}.{b64(b'[' * 5000 + b']' * 5000)}.c2ln",
        f"{b64({'alg': 'RS256', 'kid': 'k1'})}.{b64({'iss': ['x']})}.c2ln",
        "x" * 20000,
    ],
)
async def test_malformed_tokens_refused_without_fetching(
    issuer: FakeIssuer, http: httpx.AsyncClient, clock: FakeClock, token: str
) -> None:
    await refused(make(http, clock), token)
    assert issuer.jwks.call_count == 0


async def test_several_issuers_each_with_their_own_keys_and_rules(
    issuer: FakeIssuer, router: respx.MockRouter, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    other = "https://ba.example"
    okp = OKPKey.generate_key("Ed25519", private=True)
    router.get(f"{other}/keys").respond(json={"keys": [okp.as_dict(private=False) | {"kid": "e1"}]})
    validator = JwtValidator(
        [
            Issuer(ISSUER_URL, audience=AUDIENCE),
            Issuer(
                other,
                audience="https://ba-api.example",
                algorithms=("EdDSA",),
                typ=None,
                jwks_uri=f"{other}/keys",
                required_claims=("iss", "sub", "aud", "exp"),
                claims=ClaimMapping(scope="scp", roles="realm_access.roles", client_id="azp"),
            ),
        ],
        http,
        monotonic=clock,
    )
    theirs = claims(
        iss=other, aud="https://ba-api.example", scp=["a", "b"], azp="web", realm_access={"roles": ["r"]}
    )
    principal = await validator.validate(sign(theirs, okp, alg="EdDSA", kid="e1", typ=None))
    assert (principal.issuer, principal.client_id, principal.scopes, principal.roles) == (
        other,
        "web",
        {"a", "b"},
        {"r"},
    )
    # Issuer B's key cannot vouch for issuer A, nor A's key for B.
    await refused(validator, sign(claims(), okp, alg="EdDSA", kid="e1"))
    await refused(validator, sign(theirs, rsa_key(), kid="k1", typ=None))
    # B's audience is not A's: each issuer keeps its own.
    await refused(validator, sign(claims(aud="https://ba-api.example"), rsa_key()))
    # Ours still works alongside.
    assert (await validator.validate(sign(claims(), rsa_key()))).issuer == ISSUER_URL


async def test_malformed_scope_claims_grant_nothing(
    issuer: FakeIssuer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    principal = await make(http, clock).validate(
        sign(claims(scope={"orders:read": True}, roles=7), rsa_key())
    )
    assert principal.scopes == frozenset() and principal.roles == frozenset()


def test_configuration_refuses_unsafe_settings() -> None:
    with pytest.raises(ValueError, match="https"):
        Issuer("http://issuer.example", audience=AUDIENCE)
    with pytest.raises(ValueError, match="https"):
        Issuer(ISSUER_URL, audience=AUDIENCE, jwks_uri="http://issuer.example/jwks")
    with pytest.raises(ValueError, match="none"):
        Issuer(ISSUER_URL, audience=AUDIENCE, algorithms=("none",))
    with pytest.raises(ValueError, match="algorithms"):
        Issuer(ISSUER_URL, audience=AUDIENCE, algorithms=())
    with pytest.raises(ValueError, match="audience"):
        Issuer(ISSUER_URL, audience=())
    with pytest.raises(ValueError, match="typ"):
        Issuer(ISSUER_URL, audience=AUDIENCE, typ="JWT")
    assert Issuer("http://127.0.0.1:8000", audience="a").issuer == "http://127.0.0.1:8000"
    assert Issuer("http://[::1]:8000", audience="a").audiences == ("a",)
