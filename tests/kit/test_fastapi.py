"""The FastAPI dependency: `Depends(require_scopes(...))` gives a principal or an RFC 6750 error."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI

from authserver_resource import Authenticator, Issuer, Principal
from authserver_resource.fastapi import protect, require_scopes
from authserver_resource.starlette import BearerAuthMiddleware
from tests.kit.conftest import AUDIENCE, ISSUER_URL, FakeIssuer, claims, rsa_key, sign

Reader = Annotated[Principal, Depends(require_scopes("orders:read"))]
Anyone = Annotated[Principal, Depends(require_scopes())]


def build(authenticator: Authenticator) -> FastAPI:
    app = FastAPI()
    protect(app, authenticator, realm="orders")

    @app.get("/orders")
    async def orders(principal: Reader) -> dict[str, Any]:
        return {
            "subject": principal.subject,
            "issuer": principal.issuer,
            "client_id": principal.client_id,
            "scopes": sorted(principal.scopes),
            "roles": sorted(principal.roles),
            "jti": principal.claims["jti"],
        }

    @app.get("/me")
    async def me(principal: Anyone) -> dict[str, str]:
        return {"subject": principal.subject}

    return app


@pytest.fixture
async def authenticator(issuer: FakeIssuer) -> AsyncIterator[Authenticator]:
    async with Authenticator([Issuer(ISSUER_URL, audience=AUDIENCE)]) as auth:
        yield auth


async def get(app: FastAPI, path: str, token: str | None = None, **headers: str) -> httpx.Response:
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api.test"
    ) as client:
        return await client.get(path, headers=headers)


async def test_handler_gets_the_verified_principal(authenticator: Authenticator) -> None:
    response = await get(build(authenticator), "/orders", sign(claims(roles="admin ops"), rsa_key()))
    assert response.status_code == 200
    assert response.json() == {
        "subject": "user-1",
        "issuer": ISSUER_URL,
        "client_id": "client-1",
        "scopes": ["orders:read", "profile"],
        "roles": ["admin", "ops"],
        "jti": "jti-1",
    }


async def test_no_token_401_bare_challenge(authenticator: Authenticator) -> None:
    response = await get(build(authenticator), "/orders")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="orders"'
    assert response.json() == {"error_description": "A bearer token is required."}


async def test_bad_token_401_invalid_token(authenticator: Authenticator) -> None:
    token = sign(claims(), rsa_key(1))  # forged
    response = await get(build(authenticator), "/orders", token)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == (
        'Bearer realm="orders", error="invalid_token", error_description="The access token is invalid."'
    )
    assert response.json() == {"error": "invalid_token", "error_description": "The access token is invalid."}
    assert token not in response.text


async def test_missing_scope_403_insufficient_scope(authenticator: Authenticator) -> None:
    response = await get(build(authenticator), "/orders", sign(claims(scope="profile"), rsa_key()))
    assert response.status_code == 403
    assert response.headers["www-authenticate"] == (
        'Bearer realm="orders", error="insufficient_scope", '
        'error_description="The access token does not grant the scope this resource needs.", '
        'scope="orders:read"'
    )
    assert response.json()["scope"] == "orders:read"
    # No scope demanded: any valid token will do.
    assert (
        await get(build(authenticator), "/me", sign(claims(scope="profile"), rsa_key()))
    ).status_code == 200


async def test_malformed_header_400(authenticator: Authenticator) -> None:
    response = await get(build(authenticator), "/orders", Authorization="Bearer")
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    assert response.headers["www-authenticate"].startswith('Bearer realm="orders", error="invalid_request"')


async def test_dependency_reuses_the_middleware_principal(
    authenticator: Authenticator, issuer: FakeIssuer
) -> None:
    app = build(authenticator)
    app.add_middleware(BearerAuthMiddleware, authenticator=authenticator, realm="orders")
    response = await get(app, "/orders", sign(claims(), rsa_key()))
    assert response.status_code == 200 and issuer.jwks.call_count == 1


async def test_forgetting_protect_is_a_loud_error(authenticator: Authenticator) -> None:
    app = FastAPI()

    @app.get("/x")
    async def x(principal: Anyone) -> dict[str, str]:
        return {}

    with pytest.raises(RuntimeError, match="protect"):
        await get(app, "/x", "a.b.c")


def test_invalid_scope_names_refused_at_import_time() -> None:
    with pytest.raises(ValueError):
        require_scopes("orders read")
