"""A real Better Auth server (npm better-auth with jwt() and bearer(), see server.mjs) and us:

(1) the kit accepts its users' JWTs and sessions; (2) a real `authserver serve` exchanges each for our
tokens (RFC 8693) for the linked local account; (3) a signed-out session is refused by both.

Needs Node and `npm ci --prefix tests/better_auth` (.ci/run does it). Skipped without them on a
laptop; with CI=true a missing Node or install fails the run instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI

from authserver_resource import Authenticator, BetterAuth, InvalidToken, Issuer, Principal
from authserver_resource.fastapi import protect, require_scopes
from tests import backends
from tests.better_auth.node import better_auth_app
from tests.servers import running_server

PASSWORD = "analytical engine notes"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"
SESSION_TYPE = "urn:ietf:params:oauth:token-type:access_token"


@pytest.fixture(scope="module")
def better_auth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("better-auth")


@pytest.fixture(scope="module")
def better_auth_url(better_auth_dir: Path) -> Iterator[str]:
    """server.mjs: Better Auth with jwt() and bearer(), on a port the OS picks."""
    with better_auth_app("server.mjs", better_auth_dir) as base:
        yield base


def mark_email_verified(better_auth_dir: Path, user_id: str) -> None:
    """What Better Auth's own verification link would do (server.mjs sends no mail): set the flag
    in its database, which its get-session and token endpoints read on every call."""
    with contextlib.closing(sqlite3.connect(better_auth_dir / "better-auth.db")) as db, db:
        db.execute('UPDATE "user" SET "emailVerified" = 1 WHERE "id" = ?', (user_id,))


class SignedUp:
    """A user who signed up at Better Auth, with what its endpoints handed out."""

    def __init__(self, base: str, response: httpx.Response) -> None:
        body = response.json()
        self.user_id: str = body["user"]["id"]
        self.email: str = body["user"]["email"]
        self.session_token: str = body["token"]  # the bare token (bearer() accepts it)
        self.signed_token: str = response.headers["set-auth-token"]  # token.signature
        cookie = response.cookies.get("better-auth.session_token")
        assert cookie, response.headers
        self.cookie: str = cookie


@pytest.fixture
async def http(better_auth_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=better_auth_url, timeout=10) as client:
        yield client


async def sign_up(http: httpx.AsyncClient, base: str) -> SignedUp:
    email = f"ada-{secrets.token_hex(4)}@example.com"
    response = await http.post(
        "/api/auth/sign-up/email", json={"name": "Ada", "email": email, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    http.cookies.clear()  # every later call names its credential explicitly
    return SignedUp(base, response)


async def better_auth_jwt(http: httpx.AsyncClient, session_token: str) -> str:
    response = await http.get("/api/auth/token", headers={"Authorization": f"Bearer {session_token}"})
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


async def test_kit_accepts_better_auth_jwt_and_session(http: httpx.AsyncClient, better_auth_url: str) -> None:
    user = await sign_up(http, better_auth_url)
    token = await better_auth_jwt(http, user.session_token)
    async with Authenticator(better_auth=BetterAuth(better_auth_url)) as authenticator:
        from_jwt = await authenticator.verify_jwt(token)
        assert from_jwt.subject == user.user_id and from_jwt.issuer == better_auth_url
        assert from_jwt.claims["email"] == user.email and from_jwt.claims["emailVerified"] is False
        for session_token in (user.session_token, user.signed_token):
            from_session = await authenticator.verify_session(session_token)
            assert from_session.subject == user.user_id and from_session.source == "better_auth_session"
            assert from_session.claims["email"] == user.email
        from_cookie = await authenticator.authenticate_request(
            authorization=[], cookies={"better-auth.session_token": user.cookie}, method="GET", origin=None
        )
        assert from_cookie is not None and from_cookie.subject == user.user_id
        # A tampered JWT (claims changed after signing) is refused against the real JWKS.
        head, payload, signature = token.split(".")
        with pytest.raises(InvalidToken):
            await authenticator.verify_jwt(f"{head}.{payload}x.{signature}")


async def test_fastapi_dependency_with_better_auth(http: httpx.AsyncClient, better_auth_url: str) -> None:
    user = await sign_up(http, better_auth_url)
    token = await better_auth_jwt(http, user.session_token)
    app = FastAPI()
    authenticator = Authenticator(better_auth=BetterAuth(better_auth_url))
    protect(app, authenticator)

    @app.get("/me")
    async def me(principal: Annotated[Principal, Depends(require_scopes())]) -> dict[str, Any]:
        return {"sub": principal.subject, "source": principal.source}

    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as api:
            by_jwt = await api.get("/me", headers={"Authorization": f"Bearer {token}"})
            assert by_jwt.json() == {"sub": user.user_id, "source": "jwt"}
            by_session = await api.get("/me", headers={"Authorization": f"Bearer {user.signed_token}"})
            assert by_session.json() == {"sub": user.user_id, "source": "better_auth_session"}
            by_cookie = await api.get("/me", headers={"Cookie": f"better-auth.session_token={user.cookie}"})
            assert by_cookie.json() == {"sub": user.user_id, "source": "better_auth_session"}
            forged = await api.get("/me", headers={"Authorization": "Bearer not-a-session"})
            assert forged.status_code == 401
            assert forged.headers["www-authenticate"] == (
                'Bearer error="invalid_token", error_description="The session is not valid."'
            )
    finally:
        await authenticator.aclose()


async def test_signed_out_session_refused(http: httpx.AsyncClient, better_auth_url: str) -> None:
    user = await sign_up(http, better_auth_url)
    token = await better_auth_jwt(http, user.session_token)
    config = BetterAuth(better_auth_url, session_cache_ttl=0)
    async with Authenticator(better_auth=config) as authenticator:
        assert (await authenticator.verify_session(user.session_token)).subject == user.user_id
        signed_out = await http.post(
            "/api/auth/sign-out", headers={"Authorization": f"Bearer {user.session_token}"}
        )
        assert signed_out.status_code == 200 and signed_out.json() == {"success": True}
        for session_token in (user.session_token, user.signed_token):
            with pytest.raises(InvalidToken):
                await authenticator.verify_session(session_token)
        with pytest.raises(InvalidToken):
            await authenticator.verify_session(user.cookie, cookie_name="better-auth.session_token")
        # Its JWT is stateless: it stays valid until `exp` (15 minutes by default), as Better Auth
        # itself would judge it. Services that must see sign-outs at once use the session instead.
        assert (await authenticator.verify_jwt(token)).subject == user.user_id


# (2) and (3) through a real `authserver serve` -------------------------------------------------


class Authserver:
    """A running `authserver serve` trusting the Better Auth app, and its CLI on the same database."""

    def __init__(self, base: str, env: dict[str, str]) -> None:
        self.base = base
        self.env = env

    def cli(self, *args: str, stdin: str | None = None) -> Any:
        """`authserver ... --json` in a process of its own, as an operator runs it."""
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
def authserver(better_auth_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Authserver]:
    workdir = tmp_path_factory.mktemp("authserver")
    settings = {
        "AUTHSERVER_BETTER_AUTH_URL": better_auth_url,
        "AUTHSERVER_BETTER_AUTH_AUTO_CREATE_USERS": "true",
    }
    database_url = backends.sqlite_url(workdir)
    with running_server(database_url, workdir, env=settings) as base:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSERVER_")} | settings
        env |= {
            "AUTHSERVER_DATABASE_URL": database_url,
            "AUTHSERVER_KEYS_DIR": str(workdir / "keys"),
            "AUTHSERVER_ISSUER": base,
        }
        yield Authserver(base, env)


@pytest.fixture(scope="module")
def exchanger(authserver: Authserver) -> httpx.BasicAuth:
    """A Better Auth app's backend, registered (by the CLI) for token exchange and refresh."""
    app = authserver.cli(
        "clients", "create", "--name", "web backend", "--scope", "orders:read",
        "--grant-type", EXCHANGE, "--grant-type", "refresh_token",
    )  # fmt: skip
    return httpx.BasicAuth(app["client_id"], app["client_secret"])


async def exchange(
    authserver: Authserver, auth: httpx.BasicAuth, token: str, token_type: str
) -> httpx.Response:
    async with httpx.AsyncClient(base_url=authserver.base, timeout=10) as http:
        data = {"grant_type": EXCHANGE, "subject_token": token, "subject_token_type": token_type}
        return await http.post("/token", data=data, auth=auth)


async def test_token_exchange_for_a_linked_local_user(
    http: httpx.AsyncClient, better_auth_url: str, authserver: Authserver, exchanger: httpx.BasicAuth
) -> None:
    user = await sign_up(http, better_auth_url)
    # A local account, and the operator's link from the Better Auth user id to it.
    local = authserver.cli(
        "users", "create", "--email", "ada.local@example.com", "--username", "ada-local", "--password-stdin",
        stdin="correct horse battery staple\n",
    )  # fmt: skip
    link = authserver.cli("identities", "link", local["id"], user.user_id)
    assert link["issuer"] == better_auth_url and link["user_id"] == local["id"]
    token = await better_auth_jwt(http, user.session_token)
    async with Authenticator([Issuer(authserver.base, audience=authserver.base)]) as ours:
        for subject_token, token_type in (
            (token, JWT_TYPE),
            (user.session_token, SESSION_TYPE),  # the bare session token (bearer() accepts it)
            (user.signed_token, SESSION_TYPE),  # token.signature, as its set-auth-token header gives it
        ):
            response = await exchange(authserver, exchanger, subject_token, token_type)
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["issued_token_type"] == SESSION_TYPE and body["refresh_token"]
            principal = await ours.verify_jwt(body["access_token"])  # verified against our JWKS
            assert principal.subject == local["id"] and principal.scopes == {"orders:read"}
    assert [row["subject"] for row in authserver.cli("identities", "list", "--user", local["id"])] == [
        user.user_id
    ]


async def test_token_exchange_creates_an_account_on_first_use(
    http: httpx.AsyncClient,
    better_auth_url: str,
    better_auth_dir: Path,
    authserver: Authserver,
    exchanger: httpx.BasicAuth,
) -> None:
    """AUTHSERVER_BETTER_AUTH_AUTO_CREATE_USERS is on for this server: an unlinked Better Auth user
    whose email Better Auth has verified gets a new local account, then always the same one; until
    it is verified, nothing is created (account pre-hijacking)."""
    user = await sign_up(http, better_auth_url)
    for token, token_type in (
        (await better_auth_jwt(http, user.session_token), JWT_TYPE),
        (user.session_token, SESSION_TYPE),
    ):
        refused = await exchange(authserver, exchanger, token, token_type)
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_request", refused.text
    assert [u for u in authserver.cli("users", "list") if u["email"] == user.email] == []
    mark_email_verified(better_auth_dir, user.user_id)
    first = await exchange(authserver, exchanger, await better_auth_jwt(http, user.session_token), JWT_TYPE)
    assert first.status_code == 200, first.text
    again = await exchange(authserver, exchanger, user.session_token, SESSION_TYPE)
    assert again.status_code == 200, again.text
    async with Authenticator([Issuer(authserver.base, audience=authserver.base)]) as ours:
        subjects = {(await ours.verify_jwt(r.json()["access_token"])).subject for r in (first, again)}
    [sub] = subjects
    [account] = [u for u in authserver.cli("users", "list") if u["id"] == sub]
    assert account["email"] == user.email and account["email_verified"] is True
    [row] = authserver.cli("identities", "list", "--user", sub)
    assert row["subject"] == user.user_id and row["linked_by"] == "auto"


async def test_signed_out_session_is_not_exchanged(
    http: httpx.AsyncClient,
    better_auth_url: str,
    better_auth_dir: Path,
    authserver: Authserver,
    exchanger: httpx.BasicAuth,
) -> None:
    user = await sign_up(http, better_auth_url)
    mark_email_verified(better_auth_dir, user.user_id)  # so the exchange succeeds before sign-out
    assert (await exchange(authserver, exchanger, user.session_token, SESSION_TYPE)).status_code == 200
    signed_out = await http.post(
        "/api/auth/sign-out", headers={"Authorization": f"Bearer {user.session_token}"}
    )
    assert signed_out.status_code == 200
    for session_token in (user.session_token, user.signed_token):
        refused = await exchange(authserver, exchanger, session_token, SESSION_TYPE)
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_request", refused.text
    # A forged JWT (signed by nobody Better Auth knows) is refused the same way.
    forged = await exchange(authserver, exchanger, "eyJhbGciOiJFZERTQSIsImtpZCI6IngifQ.e30.AAAA", JWT_TYPE)
    assert forged.status_code == 400 and forged.json()["error"] == "invalid_request"
