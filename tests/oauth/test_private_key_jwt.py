"""private_key_jwt client authentication (RFC 7523; OIDC Core §9; T12)."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from authserver.context import AppContext
from authserver.domain import clients
from authserver.domain.errors import InvalidInput
from tests.conftest import ISSUER

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


async def register(ctx: AppContext, key: Any) -> str:
    async with ctx.transaction() as session:
        registered = await clients.create_client(
            session,
            name="signed",
            grant_types=["client_credentials"],
            scopes="read",
            auth_method="private_key_jwt",
            jwks={"keys": [key.as_dict(private=False) | {"kid": "k1"}]},
        )
    assert registered.secret is None
    return registered.client.client_id


def assertion(key: Any, client_id: str, alg: str = "RS256", **claims: Any) -> str:
    now = int(time.time())
    body = {
        "iss": client_id,
        "sub": client_id,
        "aud": ISSUER + "/token",
        "exp": now + 60,
        "iat": now,
        "jti": secrets.token_urlsafe(16),
    } | claims
    return jwt.encode(
        {"alg": alg, "kid": "k1"}, {k: v for k, v in body.items() if v is not None}, key, algorithms=[alg]
    )


async def token(http: httpx.AsyncClient, value: str) -> httpx.Response:
    return await http.post(
        "/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": value,
        },
    )


@pytest.fixture
def rsa() -> RSAKey:
    return RSAKey.generate_key(2048, private=True)


async def test_T12_valid_assertion_authenticates(
    client: httpx.AsyncClient, ctx: AppContext, rsa: RSAKey
) -> None:
    client_id = await register(ctx, rsa)
    for aud in (ISSUER + "/token", ISSUER):
        response = await token(client, assertion(rsa, client_id, aud=aud))
        assert response.status_code == 200, response.text


async def test_ec_keys_work(client: httpx.AsyncClient, ctx: AppContext) -> None:
    ec = ECKey.generate_key("P-256", private=True)
    client_id = await register(ctx, ec)
    assert (await token(client, assertion(ec, client_id, alg="ES256"))).status_code == 200


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "https://other.example/token"},
        {"aud": None},
        {"exp": int(time.time()) - 300},
        {"exp": None},
        {"exp": int(time.time()) + 7200},
        {"jti": None},
        {"iss": "someone-else"},
    ],
    ids=["wrong-aud", "no-aud", "expired", "no-exp", "too-long", "no-jti", "iss-not-sub"],
)
async def test_T12_bad_claims_are_invalid_client(
    client: httpx.AsyncClient, ctx: AppContext, rsa: RSAKey, claims: dict[str, Any]
) -> None:
    client_id = await register(ctx, rsa)
    response = await token(client, assertion(rsa, client_id, **claims))
    assert response.status_code in (400, 401) and response.json()["error"] == "invalid_client", response.text


async def test_T12_replayed_jti_refused_even_concurrently(
    client: httpx.AsyncClient, ctx: AppContext, rsa: RSAKey
) -> None:
    client_id = await register(ctx, rsa)
    value = assertion(rsa, client_id)
    answers = await asyncio.gather(*(token(client, value) for _ in range(5)))
    assert [a.status_code for a in answers].count(200) == 1
    assert all(a.json()["error"] == "invalid_client" for a in answers if a.status_code != 200)


async def test_wrong_key_and_symmetric_algorithms_refused(
    client: httpx.AsyncClient, ctx: AppContext, rsa: RSAKey
) -> None:
    client_id = await register(ctx, rsa)
    other = RSAKey.generate_key(2048, private=True)
    assert (await token(client, assertion(other, client_id))).json()["error"] == "invalid_client"
    from joserfc.jwk import OctKey

    hs = jwt.encode(
        {"alg": "HS256", "kid": "k1"},
        {"iss": client_id, "sub": client_id, "aud": ISSUER, "exp": int(time.time()) + 60, "jti": "x"},
        OctKey.generate_key(256),
        algorithms=["HS256"],
    )
    assert (await token(client, hs)).json()["error"] == "invalid_client"


async def test_secret_methods_not_accepted_for_a_key_client(
    client: httpx.AsyncClient, ctx: AppContext, rsa: RSAKey
) -> None:
    client_id = await register(ctx, rsa)
    response = await client.post(
        "/token", data={"grant_type": "client_credentials"}, auth=(client_id, "guess")
    )
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


async def test_registration_refuses_private_or_symmetric_keys(ctx: AppContext, rsa: RSAKey) -> None:
    from joserfc.jwk import OctKey

    bad = [
        {"keys": [rsa.as_dict(private=True)]},
        {"keys": [OctKey.generate_key(256).as_dict()]},
        {"keys": []},
        {"nope": 1},
    ]
    for jwks in bad:
        async with ctx.transaction() as session:
            with pytest.raises(InvalidInput):
                await clients.create_client(
                    session,
                    name="x",
                    grant_types=["client_credentials"],
                    auth_method="private_key_jwt",
                    jwks=jwks,
                )


async def test_metadata_advertises_private_key_jwt(client: httpx.AsyncClient) -> None:
    meta = (await client.get("/.well-known/oauth-authorization-server")).json()
    assert "private_key_jwt" in meta["token_endpoint_auth_methods_supported"]
    assert "none" not in meta["token_endpoint_auth_signing_alg_values_supported"]
    assert not {"HS256", "HS384", "HS512"} & set(meta["token_endpoint_auth_signing_alg_values_supported"])


@pytest.mark.parametrize(
    "exp",
    [1e20, 1.5e12, float(2**63), True, "9999999999", [1], {"a": 1}],
    ids=["1e20", "far-float", "2^63", "bool", "string", "list", "object"],
)
async def test_T12_L6_any_exp_is_bounded_never_500(
    client: httpx.AsyncClient, ctx: AppContext, rsa: RSAKey, exp: Any
) -> None:
    client_id = await register(ctx, rsa)
    response = await token(client, assertion(rsa, client_id, exp=exp))
    assert response.status_code == 401 and response.json()["error"] == "invalid_client", response.text


async def test_T12_float_exp_within_bounds_is_accepted(
    client: httpx.AsyncClient, ctx: AppContext, rsa: RSAKey
) -> None:
    client_id = await register(ctx, rsa)
    response = await token(client, assertion(rsa, client_id, exp=time.time() + 90.5))
    assert response.status_code == 200, response.text


async def test_T12_jti_stays_used_when_the_request_then_fails(
    client: httpx.AsyncClient, ctx: AppContext, rsa: RSAKey
) -> None:
    client_id = await register(ctx, rsa)
    value = assertion(rsa, client_id)
    failed = await client.post(
        "/token",
        data={
            "grant_type": "client_credentials",
            "scope": "admin",  # not registered: the grant fails after the client authenticated
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": value,
        },
    )
    assert failed.status_code == 400 and failed.json()["error"] == "invalid_scope"
    replay = await token(client, value)
    assert replay.status_code == 401 and replay.json()["error"] == "invalid_client"


@pytest.mark.parametrize("claim", ["sub", "jti"])
async def test_L6_control_characters_in_assertion_claims(
    client: httpx.AsyncClient, ctx: AppContext, rsa: RSAKey, claim: str
) -> None:
    client_id = await register(ctx, rsa)
    claims: dict[str, Any] = {claim: ("bad\x00" + client_id) if claim == "sub" else "jti\x00\x01"}
    if claim == "sub":
        claims["iss"] = claims["sub"]
    response = await token(client, assertion(rsa, client_id, **claims))
    assert response.status_code == 401 and response.json()["error"] == "invalid_client", response.text


async def test_T4_body_client_id_must_equal_assertion_sub(
    client: httpx.AsyncClient, ctx: AppContext, rsa: RSAKey
) -> None:
    client_id = await register(ctx, rsa)
    other = await register(ctx, RSAKey.generate_key(2048, private=True))
    form = {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE}
    mismatch = await client.post(
        "/token", data=form | {"client_id": other, "client_assertion": assertion(rsa, client_id)}
    )
    assert mismatch.status_code == 400 and mismatch.json()["error"] == "invalid_request"
    same = await client.post(
        "/token", data=form | {"client_id": client_id, "client_assertion": assertion(rsa, client_id)}
    )
    assert same.status_code == 200, same.text
