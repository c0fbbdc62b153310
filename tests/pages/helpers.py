"""Driving the pages like a browser without JavaScript: httpx keeps the cookies, we read forms."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from authserver.context import AppContext
from tests.oauth.helpers import PASSWORD, REDIRECT, RegisteredApp, make_client, make_user, pkce_pair

COOKIE = "authserver_session"
CODE_GRANTS = ("authorization_code", "refresh_token")
_FIELD = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">')


def hidden_fields(page: httpx.Response) -> dict[str, str]:
    return {name: html.unescape(value) for name, value in _FIELD.findall(page.text)}


def query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query, keep_blank_values=True).items()}


@dataclass
class Flow:
    """One sign-in: the client, its PKCE verifier and the request parameters."""

    app: RegisteredApp
    verifier: str
    params: dict[str, str]


async def openid_app(ctx: AppContext, **kwargs: Any) -> RegisteredApp:
    return await make_client(
        ctx,
        grants=CODE_GRANTS,
        scope=kwargs.pop("scope", "openid profile email offline_access read"),
        **kwargs,
    )


def request_params(app: RegisteredApp, **extra: str) -> tuple[str, dict[str, str]]:
    verifier, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": app.client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid profile",
        "state": "st-123",
        "nonce": "n-456",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return verifier, params | extra


async def submit(http: httpx.AsyncClient, page: httpx.Response, action: str, **fields: str) -> httpx.Response:
    """Post the page's form with its hidden fields (csrf, request) plus `fields`."""
    return await http.post(action, data=hidden_fields(page) | fields)


async def login(
    http: httpx.AsyncClient, location: str, username: str = "alice", password: str = PASSWORD
) -> httpx.Response:
    page = await http.get(location)
    assert page.status_code == 200, page.text
    return await submit(http, page, "/login", username=username, password=password)


async def sign_in(http: httpx.AsyncClient, ctx: AppContext, username: str = "alice") -> None:
    """A signed-in browser with no flow going on."""
    response = await login(http, "/login", username)
    assert response.status_code == 303 and response.headers["location"] == "/account", response.text


async def run_to_code(
    http: httpx.AsyncClient, params: dict[str, str], *, username: str = "alice", consent: bool = True
) -> dict[str, str]:
    """GET /authorize, then log in and allow as the pages ask, up to the client's redirect."""
    response = await http.get("/authorize", params=params)
    for _ in range(6):
        assert response.status_code in (302, 303), response.text
        location = response.headers["location"]
        if location.startswith(params["redirect_uri"].split("?")[0]) or "://" in location:
            return query(location)
        if location.startswith("/login"):
            response = await login(http, location, username)
        elif location.startswith("/consent"):
            page = await http.get(location)
            assert page.status_code == 200, page.text
            response = await submit(http, page, "/consent", decision="allow" if consent else "deny")
        else:
            raise AssertionError(f"unexpected redirect to {location}")
    raise AssertionError("too many redirects")


def browser(ctx: AppContext) -> httpx.AsyncClient:
    """Another browser (its own cookie jar) on the same app: `async with browser(ctx) as other:`."""
    from authserver.http.app import create_app

    transport = httpx.ASGITransport(app=create_app(ctx), client=("198.51.100.9", 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000")


async def token_request(
    http: httpx.AsyncClient, app: RegisteredApp, code: str, verifier: str
) -> dict[str, Any]:
    from tests.oauth.helpers import exchange

    response = await http.post("/token", data=exchange(code, verifier), auth=app.basic)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


__all__ = ["PASSWORD", "REDIRECT", "make_user"]
