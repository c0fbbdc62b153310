"""The kit against a real Better Auth server (npm better-auth with jwt() and bearer(), see server.mjs).

Needs Node and `npm ci --prefix tests/better_auth` (.ci/run does it). Skipped without them on a
laptop; with CI=true a missing Node or install fails the run instead.
"""

from __future__ import annotations

import os
import secrets
import select
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI

from authserver_resource import Authenticator, BetterAuth, InvalidToken, Principal
from authserver_resource.fastapi import protect, require_scopes

HERE = Path(__file__).resolve().parent
PASSWORD = "analytical engine notes"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the Better Auth integration test must run)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def better_auth_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start server.mjs on a port the OS picks; it prints `LISTENING <base URL>` when ready."""
    node = shutil.which("node")
    if node is None:
        _unavailable("node is not installed")
    if not (HERE / "node_modules" / "better-auth").is_dir():
        _unavailable("Better Auth is not installed: run npm ci --prefix tests/better_auth")
    workdir = tmp_path_factory.mktemp("better-auth")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(workdir),
        "BETTER_AUTH_SECRET": secrets.token_urlsafe(32),
        "BA_DATABASE": str(workdir / "better-auth.db"),
        "NODE_ENV": "test",
    }
    log = (workdir / "server.log").open("wb")
    proc = subprocess.Popen(
        [str(node), "server.mjs"],
        cwd=HERE,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
    )
    assert proc.stdout is not None and proc.stdin is not None
    try:
        base = _wait_for_listening(proc, workdir / "server.log")
        yield base
    finally:
        proc.stdin.close()  # server.mjs exits when its stdin closes
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        log.close()


def _wait_for_listening(proc: subprocess.Popen[bytes], log: Path) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"Better Auth exited {proc.returncode}: {log.read_text()[-2000:]}")
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            line = proc.stdout.readline().decode().strip()
            if line.startswith("LISTENING "):
                return line.removeprefix("LISTENING ")
    raise RuntimeError(f"Better Auth did not start: {log.read_text()[-2000:]}")


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
