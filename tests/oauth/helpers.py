"""Helpers for token-service tests: clients, users, PKCE pairs and codes, through the real services."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from authserver.context import AppContext
from authserver.db.models import User
from authserver.domain import clients, users
from authserver.oauth.authorize import authorize

PASSWORD = "correct horse battery staple"
REDIRECT = "https://app.example.com/callback"


@dataclass(frozen=True)
class RegisteredApp:
    client_id: str
    secret: str | None

    @property
    def basic(self) -> httpx.BasicAuth:
        assert self.secret is not None
        return httpx.BasicAuth(self.client_id, self.secret)


async def make_client(
    ctx: AppContext,
    *,
    grants: tuple[str, ...] = ("client_credentials",),
    scope: str = "read write",
    public: bool = False,
    redirect_uris: tuple[str, ...] = (REDIRECT,),
    resources: tuple[str, ...] = (),
    auth_method: str | None = None,
    introspect: bool = False,
) -> RegisteredApp:
    async with ctx.transaction() as session:
        registered = await clients.create_client(
            session,
            name="test client",
            grant_types=grants,
            redirect_uris=redirect_uris if "authorization_code" in grants else (),
            scopes=scope,
            public=public,
            resources=resources,
            auth_method=auth_method,
            introspection_allowed=introspect,
        )
    return RegisteredApp(registered.client.client_id, registered.secret)


async def make_resource_server(ctx: AppContext) -> RegisteredApp:
    """A confidential client an operator allowed to introspect (RFC 7662 §4, I9)."""
    return await make_client(ctx, introspect=True)


async def make_user(ctx: AppContext, username: str = "alice", roles: tuple[str, ...] = ()) -> User:
    async with ctx.transaction() as session:
        return await users.create_user(
            session,
            ctx.hasher,
            ctx.password_rules,
            email=f"{username}@example.com",
            username=username,
            password=PASSWORD,
            roles=roles,
        )


def exchange(code: str, verifier: str | None, **extra: str) -> dict[str, str]:
    """The token request that redeems a code (RFC 6749 §4.1.3 with RFC 7636's verifier)."""
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    if verifier is not None:
        data["code_verifier"] = verifier
    return data | extra


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


async def get_code(
    ctx: AppContext,
    client: RegisteredApp,
    user: User,
    *,
    scope: str = "read",
    challenge: str | None = None,
    extra: dict[str, str] | None = None,
) -> str:
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": REDIRECT,
        "scope": scope,
        "state": "xyz",
    }
    if challenge is not None:
        params |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    await ctx.ensure_keys()  # the app's lifespan makes them; some tests call authorize() without it
    result = await authorize(ctx, params | (extra or {}), user)
    assert result.location and result.error is None, result
    query = parse_qs(urlsplit(result.location).query)
    assert query["state"] == ["xyz"]
    return query["code"][0]


def unverified_claims(token: str) -> dict[str, Any]:
    import json

    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))  # type: ignore[no-any-return]


def unverified_header(token: str) -> dict[str, Any]:
    import json

    head = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))  # type: ignore[no-any-return]


async def introspect(http: httpx.AsyncClient, rs: RegisteredApp, token: str) -> dict[str, Any]:
    response = await http.post("/introspect", data={"token": token}, auth=rs.basic)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]
