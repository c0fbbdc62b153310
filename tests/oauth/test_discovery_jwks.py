"""Metadata (RFC 8414, OIDC Discovery), JWKS (J8) and CORS (C1-C3)."""

from __future__ import annotations

import httpx
import pytest

from authserver.context import AppContext
from tests.conftest import ISSUER
from tests.oauth.helpers import make_client, unverified_claims

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k", "oth"}


@pytest.mark.parametrize(
    "path", ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"]
)
async def test_D1_D5_metadata_matches_what_is_enforced(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    meta = response.json()
    assert meta["issuer"] == ISSUER  # D1
    for field in ("authorization_endpoint", "token_endpoint", "jwks_uri", "response_types_supported"):
        assert meta[field]  # D3
    assert meta["code_challenge_methods_supported"] == ["S256"]  # P7
    assert meta["response_types_supported"] == ["code"]  # A11: no implicit
    assert set(meta["grant_types_supported"]) == {
        "authorization_code",
        "client_credentials",
        "password",
        "refresh_token",
    }
    for key, value in meta.items():
        if key.endswith("_signing_alg_values_supported"):
            assert "none" not in value and "RS256" in value  # D4
    for key in ("token_endpoint", "jwks_uri", "introspection_endpoint", "revocation_endpoint"):
        assert meta[key].startswith(ISSUER + "/")


async def test_openid_configuration_required_fields(client: httpx.AsyncClient) -> None:
    meta = (await client.get("/.well-known/openid-configuration")).json()
    assert meta["subject_types_supported"] == ["public"]
    assert meta["id_token_signing_alg_values_supported"] == ["RS256"]


async def test_J8_jwks_public_members_only(client: httpx.AsyncClient, ctx: AppContext) -> None:
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.headers["cache-control"] == f"public, max-age={ctx.settings.jwks_max_age}"
    keys = response.json()["keys"]
    assert len(keys) == 2  # current and next
    assert len({k["kid"] for k in keys}) == 2
    for key in keys:
        assert not PRIVATE_MEMBERS & set(key), key
        assert key["kty"] == "RSA" and key["use"] == "sig" and key["alg"] == "RS256"
        assert len(key["n"]) >= 342  # J10: at least 2048 bits (base64url of 256 bytes)


async def test_J9_token_kid_is_published(client: httpx.AsyncClient, ctx: AppContext) -> None:
    app = await make_client(ctx)
    token = (await client.post("/token", data={"grant_type": "client_credentials"}, auth=app.basic)).json()
    kids = {k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]}
    header = token["access_token"].split(".")[0]
    import base64
    import json

    kid = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]
    assert kid in kids
    assert unverified_claims(token["access_token"])["iss"] == ISSUER


@pytest.mark.parametrize("settings_overrides", [{"cors_origins": ["https://spa.example.com"]}])
async def test_C2_token_cors_only_for_configured_origins(client: httpx.AsyncClient) -> None:
    preflight = {"origin": "https://spa.example.com", "access-control-request-method": "POST"}
    ok = await client.options("/token", headers=preflight)
    assert ok.status_code == 204
    assert ok.headers["access-control-allow-origin"] == "https://spa.example.com"
    assert "access-control-allow-credentials" not in ok.headers  # C3
    evil = await client.options("/token", headers=preflight | {"origin": "https://evil.example"})
    assert evil.status_code == 403 and "access-control-allow-origin" not in evil.headers
    post = await client.post("/token", data={"grant_type": "x"}, headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in post.headers


async def test_C2_metadata_and_jwks_allow_any_origin(client: httpx.AsyncClient) -> None:
    for path in ("/.well-known/jwks.json", "/.well-known/openid-configuration"):
        response = await client.get(path, headers={"origin": "https://anyone.example"})
        assert response.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize("settings_overrides", [{"cors_origins": ["https://spa.example.com"]}])
async def test_C3_introspection_has_no_cors(client: httpx.AsyncClient) -> None:
    preflight = {"origin": "https://spa.example.com", "access-control-request-method": "POST"}
    response = await client.options("/introspect", headers=preflight)
    assert "access-control-allow-origin" not in response.headers
    assert response.status_code in (403, 405)
