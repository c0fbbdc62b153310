"""authserver as a real Better Auth app's sign-in provider (its genericOAuth plugin, oauth_app.mjs).

Driven like a browser without JavaScript (httpx with one cookie jar, every redirect followed by
hand): Better Auth's sign-in endpoint sends us to our /authorize, our login and consent forms are
filled in, our redirect takes the code to Better Auth's callback, which redeems it at our token
endpoint (client_secret_post, PKCE), verifies our ID token against our JWKS (with its nonce) and
reads the profile, until Better Auth's get-session reports the user.

Needs Node and `npm ci --prefix tests/better_auth`; skipped without them, a failure with CI=true.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest

from tests import backends
from tests.better_auth.node import better_auth_app
from tests.servers import running_server

PASSWORD = "correct horse battery staple"
PROVIDER = "authserver"
# A loopback redirect URI matches on any port (RFC 8252 §7.3), and the app's port is picked at start.
CALLBACK = f"http://127.0.0.1/api/auth/callback/{PROVIDER}"
_HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">')


@dataclass
class Stack:
    authserver: str
    app: str  # the Better Auth app's base URL
    env: dict[str, str]

    def cli(self, *args: str, stdin: str | None = None) -> Any:
        result = subprocess.run(
            [sys.executable, "-m", "authserver", *args, "--json"],
            input=stdin,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("sign-in-with-authserver")
    database_url = backends.sqlite_url(workdir)
    with running_server(database_url, workdir) as issuer:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSERVER_")} | {
            "AUTHSERVER_DATABASE_URL": database_url,
            "AUTHSERVER_KEYS_DIR": str(workdir / "keys"),
            "AUTHSERVER_ISSUER": issuer,
        }
        stack = Stack(issuer, "", env)
        # The README's registration: Better Auth's defaults are PKCE and client_secret_post.
        client = stack.cli(
            "clients", "create", "--name", "Better Auth app",
            "--grant-type", "authorization_code", "--redirect-uri", CALLBACK,
            "--scope", "openid profile email", "--auth-method", "client_secret_post",
        )  # fmt: skip
        app_env = {
            "AUTHSERVER_ISSUER": issuer,
            "AUTHSERVER_CLIENT_ID": client["client_id"],
            "AUTHSERVER_CLIENT_SECRET": client["client_secret"],
        }
        with better_auth_app("oauth_app.mjs", workdir, app_env) as app:
            stack.app = app
            yield stack


def make_user(stack: Stack, username: str) -> dict[str, Any]:
    return stack.cli(  # type: ignore[no-any-return]
        "users", "create", "--email", f"{username}@example.com", "--username", username, "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip


def hidden_fields(page: httpx.Response) -> dict[str, str]:
    return {name: html.unescape(value) for name, value in _HIDDEN.findall(page.text)}


async def sign_in_with_authserver(
    browser: httpx.AsyncClient, stack: Stack, username: str, *, pages: list[str]
) -> httpx.Response:
    """From Better Auth's sign-in button to the last redirect of its callback; `pages` records
    which of our pages were shown."""
    start = await browser.post(
        f"{stack.app}/api/auth/sign-in/social",
        json={"provider": PROVIDER, "callbackURL": "/dashboard"},
        headers={"Origin": stack.app},
    )
    assert start.status_code == 200, start.text
    url = start.json()["url"]
    assert url.startswith(f"{stack.authserver}/authorize?")
    sent = parse_qs(urlsplit(url).query)
    assert sent["code_challenge_method"] == ["S256"] and sent["nonce"] and sent["state"]
    response = await browser.get(url)
    for _ in range(10):
        assert response.status_code in (302, 303), response.text
        url = urljoin(str(response.request.url), response.headers["location"])
        if not url.startswith(stack.authserver):
            break  # back at the Better Auth app
        path = urlsplit(url).path
        pages.append(path)
        page = await browser.get(url)
        assert page.status_code == 200, page.text
        if path == "/login":
            fields = hidden_fields(page) | {"username": username, "password": PASSWORD}
            response = await browser.post(f"{stack.authserver}/login", data=fields)
        elif path == "/consent":
            response = await browser.post(
                f"{stack.authserver}/consent", data=hidden_fields(page) | {"decision": "allow"}
            )
        else:
            raise AssertionError(f"unexpected page {url}")
    assert url.startswith(f"{stack.app}/api/auth/callback/{PROVIDER}?"), url
    callback = parse_qs(urlsplit(url).query)
    assert callback["iss"] == [stack.authserver] and callback["code"]  # RFC 9207
    return await browser.get(url)  # Better Auth redeems the code and signs the user in


async def session(browser: httpx.AsyncClient, stack: Stack) -> Any:
    response = await browser.get(f"{stack.app}/api/auth/get-session")
    assert response.status_code == 200, response.text
    return response.json()


async def test_sign_in_with_authserver(stack: Stack) -> None:
    ours = make_user(stack, "grace")
    async with httpx.AsyncClient(timeout=20) as browser:
        pages: list[str] = []
        done = await sign_in_with_authserver(browser, stack, "grace", pages=pages)
        assert pages == ["/login", "/consent"]
        assert done.status_code == 302 and done.headers["location"] == "/dashboard", done.text
        signed_in = await session(browser, stack)
        assert signed_in is not None, "get-session reports nobody"
        user = signed_in["user"]
        assert user["email"] == "grace@example.com" and user["name"] == "grace"
        # Our email_verified is false (we have not verified the address), and Better Auth keeps it so.
        assert user["emailVerified"] is False
        accounts = (await browser.get(f"{stack.app}/api/auth/list-accounts")).json()
        [account] = [a for a in accounts if a["providerId"] == PROVIDER]
        assert account["accountId"] == ours["id"]  # our `sub`: the identity, not the email
        # Signed out of the app but still signed in with us: back without our login page, and
        # without consent (remembered), as the same Better Auth user.
        signed_out = await browser.post(f"{stack.app}/api/auth/sign-out", headers={"Origin": stack.app})
        assert signed_out.status_code == 200 and await session(browser, stack) is None
        pages.clear()
        again = await sign_in_with_authserver(browser, stack, "grace", pages=pages)
        assert pages == [] and again.headers["location"] == "/dashboard"
        assert (await session(browser, stack))["user"]["id"] == user["id"]


async def test_an_existing_app_account_is_not_taken_over_by_an_unverified_email(stack: Stack) -> None:
    """Someone signed up at the app as hopper@example.com; our user with that email (unverified
    here) signing in with authserver must not get that account. Better Auth refuses to link an
    unverified email from an untrusted provider, and sends the browser to its error page."""
    async with httpx.AsyncClient(timeout=20) as browser:
        signup = await browser.post(
            f"{stack.app}/api/auth/sign-up/email",
            json={"name": "Hopper at the app", "email": "hopper@example.com", "password": PASSWORD},
        )
        assert signup.status_code == 200, signup.text
    make_user(stack, "hopper")
    async with httpx.AsyncClient(timeout=20) as browser:
        done = await sign_in_with_authserver(browser, stack, "hopper", pages=[])
        assert done.status_code == 302
        assert "error=account_not_linked" in done.headers["location"], done.headers["location"]
        assert await session(browser, stack) is None


def test_the_app_script_is_the_readme_config() -> None:
    """The README's genericOAuth provider config is the one this test runs (indentation aside)."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    script = (Path(__file__).resolve().parent / "oauth_app.mjs").read_text()
    start = script.index('providerId: "authserver"')
    block = script[start : script.index("\n          },\n", start)]

    def flat(text: str) -> str:
        return "\n".join(line.strip() for line in text.splitlines())

    assert flat(block) in flat(readme)
