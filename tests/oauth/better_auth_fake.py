"""A Better Auth app as respx routes (its JWKS and get-session), for the token-exchange tests.

It behaves as Better Auth 1.7 does (checked against the real one in tests/better_auth/): JWTs signed
EdDSA/Ed25519 with header `{alg, kid}` and no `typ`, claims = the user object + sub, iat, exp (900 s),
iss and aud = the base URL; get-session answers 200 with `{session, user}` or 200 with `null`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import respx
from joserfc.jwk import OKPKey

from authserver.context import AppContext
from authserver.domain import external_identities
from tests.kit.conftest import sign

BA = "https://app.example.com"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"
SESSION_TYPE = "urn:ietf:params:oauth:token-type:access_token"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
SESSION_TOKEN = "dopjIzZciMwO3SsCNZLCw54vrxOmiP3i"


@dataclass
class FakeBetterAuth:
    router: respx.MockRouter
    user: dict[str, Any] = field(
        default_factory=lambda: {
            "id": "5gFM8Djwgd1x4PCUDdiAdivJs2xHkkcj",
            "email": "ada@example.com",
            "emailVerified": False,
            "name": "Ada",
        }
    )
    live: bool = True  # the session exists
    down: bool = False  # every endpoint answers 503

    def __post_init__(self) -> None:
        self.key = OKPKey.generate_key("Ed25519", private=True)
        self.jwks = self.router.get(f"{BA}/api/auth/jwks").mock(side_effect=self._jwks)
        self.get_session = self.router.get(f"{BA}/api/auth/get-session").mock(side_effect=self._session)
        self.session_requests: list[httpx.Request] = []

    @property
    def user_id(self) -> str:
        return str(self.user["id"])

    def _jwks(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            return httpx.Response(503)
        jwk = self.key.as_dict(private=False) | {"kid": "ba-1", "alg": "EdDSA"}
        return httpx.Response(200, json={"keys": [jwk]})

    def _session(self, request: httpx.Request) -> httpx.Response:
        self.session_requests.append(request)
        if self.down:
            return httpx.Response(503)
        if not self.live or request.headers.get("authorization") != f"Bearer {SESSION_TOKEN}":
            return httpx.Response(200, content=b"null", headers={"Content-Type": "application/json"})
        expires = (datetime.now(UTC) + timedelta(days=7)).isoformat().replace("+00:00", "Z")
        session = {"id": "sess-1", "token": SESSION_TOKEN, "userId": self.user_id, "expiresAt": expires}
        return httpx.Response(200, json={"session": session, "user": self.user})

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        values = self.user | {"sub": self.user_id, "iat": now, "exp": now + 900, "iss": BA, "aud": BA}
        return {k: v for k, v in (values | overrides).items() if v is not None}

    def jwt(self, *, key: OKPKey | None = None, kid: str = "ba-1", **overrides: Any) -> str:
        return sign(self.claims(**overrides), key or self.key, alg="EdDSA", kid=kid, typ=None)

    @property
    def calls(self) -> int:
        """Requests that reached Better Auth at all."""
        return self.jwks.call_count + self.get_session.call_count


def jwt_exchange(token: str, **extra: str) -> dict[str, str]:
    return {"grant_type": EXCHANGE, "subject_token": token, "subject_token_type": JWT_TYPE} | extra


def session_exchange(token: str = SESSION_TOKEN, **extra: str) -> dict[str, str]:
    return {"grant_type": EXCHANGE, "subject_token": token, "subject_token_type": SESSION_TYPE} | extra


async def link(ctx: AppContext, user_id: str, subject: str) -> None:
    async with ctx.transaction() as session:
        await external_identities.link(session, issuer=BA, subject=subject, user_ref=user_id)
