"""Better Auth (the TypeScript sign-in library) as a trusted identity source.

Two kinds of credential come from a Better Auth app:

- **its JWTs** (`jwt()` plugin, `GET {base}/api/auth/token`): EdDSA/Ed25519 by default, header
  `{"alg", "kid"}` with *no* `typ`, `sub` = the Better Auth user id, `iss` and `aud` = its base URL,
  15-minute lifetime, keys at `{base}/api/auth/jwks`. They are validated like any other issuer's
  tokens (`BetterAuth.issuer()` builds that issuer's rules), offline after the first JWKS fetch.
- **its sessions** (cookie `better-auth.session_token`, `__Secure-better-auth.session_token` on
  https, or `Authorization: Bearer <session token>` with its `bearer()` plugin): opaque, so the only
  portable check is to ask `GET {base}/api/auth/get-session`, which answers 200 with the session
  and user, or 200 with the body `null` when there is none. A yes is cached for a few seconds (so
  a sign-out counts within `session_cache_ttl`); a no or an error is never cached.

Identity is (`issuer`, Better Auth user id); an email is never an identity (checklist E7).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from authserver_resource._cache import PositiveCache
from authserver_resource._fetch import monotonic
from authserver_resource.errors import InvalidToken, IssuerUnavailable
from authserver_resource.issuers import ClaimMapping, Issuer, JwksPolicy, check_url
from authserver_resource.principal import Principal, lookup, string_set

log = logging.getLogger("authserver_resource")

MAX_SESSION_TOKEN_LENGTH = 4096
# RFC 6265 §4.1.1 cookie-octet: what may be forwarded in a Cookie header without breaking out of it.
_COOKIE_OCTETS = re.compile(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]+")
_NO_SESSION = "The session is not valid."
_UNAVAILABLE = "The session issuer cannot be reached."


@dataclass(frozen=True)
class BetterAuth:
    """Settings for trusting one Better Auth app.

    - `base_url`: where the app serves Better Auth (its `baseURL`), e.g. `https://app.example.com`.
    - `issuer` / `audience`: expected `iss` / `aud` of its JWTs; both default to `base_url`, as
      Better Auth's `jwt()` plugin does unless `jwt.issuer` / `jwt.audience` are set there.
    - `algorithms`: its `jwks.keyPairConfig.alg`; EdDSA by default (ES256, ES512, PS256, RS256
      possible). Never `none` or HMAC.
    - `base_path` / `jwks_path`: its `basePath` (default `/api/auth`) and `jwks.jwksPath`.
    - `sessions`: accept session tokens and cookies (each check is a call to get-session).
    - `session_cache_ttl`: seconds a confirmed session is trusted without asking again.
    - `trusted_origins`: origins allowed to make state-changing calls authenticated by the
      session *cookie* (a CSRF guard like Better Auth's own); default: the origin of `base_url`.
    - `cookie_prefix`: its `advanced.cookiePrefix` (default `better-auth`).
    """

    base_url: str
    issuer: str | None = None
    audience: str | Sequence[str] | None = None
    algorithms: Sequence[str] = ("EdDSA",)
    base_path: str = "/api/auth"
    jwks_path: str = "/jwks"
    sessions: bool = True
    session_cache_ttl: float = 10.0
    trusted_origins: Sequence[str] | None = None
    cookie_prefix: str = "better-auth"
    claims: ClaimMapping = field(default_factory=lambda: ClaimMapping(scope=None, roles=None, client_id=None))
    leeway: int = 30
    jwks: JwksPolicy = field(default_factory=JwksPolicy)
    timeout: float = 5.0

    def __post_init__(self) -> None:
        base = check_url(self.base_url, "Better Auth base_url").rstrip("/")
        object.__setattr__(self, "base_url", base)
        for path, what in ((self.base_path, "base_path"), (self.jwks_path, "jwks_path")):
            if not path.startswith("/") or ".." in path:
                raise ValueError(f"Better Auth {what} must start with '/' and not contain '..'")
        if self.session_cache_ttl < 0 or self.timeout <= 0:
            raise ValueError("Better Auth session_cache_ttl must be >= 0 and timeout > 0")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", self.cookie_prefix):
            raise ValueError("Better Auth cookie_prefix must be letters, digits, '.', '_' or '-'")
        origins = self.trusted_origins
        if origins is None:
            parts = urlsplit(base)
            origins = (f"{parts.scheme}://{parts.netloc}",)
        object.__setattr__(self, "trusted_origins", tuple(o.rstrip("/") for o in origins))

    @property
    def issuer_id(self) -> str:
        """The `iss` its JWTs carry, and the `issuer` of principals built from its sessions."""
        return self.issuer or self.base_url

    @property
    def cookie_names(self) -> tuple[str, str]:
        """Its session cookie names: plain, and with the `__Secure-` prefix it uses on https."""
        name = f"{self.cookie_prefix}.session_token"
        return (f"__Secure-{name}", name)

    def endpoint(self, path: str) -> str:
        """An absolute URL under its base path (`/jwks`, `/get-session`, `/token`)."""
        return f"{self.base_url}{self.base_path.rstrip('/')}{path}"

    def jwt_issuer(self) -> Issuer:
        """The JWT rules for this app: its JWKS, its algorithms, no `typ`, and the claims its `jwt()`
        plugin always sets (it sets no `jti`, `nbf` or `client_id`, so none is required)."""
        return Issuer(
            issuer=self.issuer_id,
            audience=self.audience if self.audience is not None else self.issuer_id,
            algorithms=self.algorithms,
            typ=None,
            jwks_uri=self.endpoint(self.jwks_path),
            required_claims=("iss", "sub", "aud", "exp", "iat"),
            claims=self.claims,
            leeway=self.leeway,
            jwks=self.jwks,
        )


class BetterAuthSessions:
    """Checks Better Auth session tokens by asking its `get-session` endpoint."""

    def __init__(
        self,
        config: BetterAuth,
        http: httpx.AsyncClient,
        *,
        clock: Callable[[], float] = monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._http = http
        self._wall = wall
        self._cache = PositiveCache(clock)

    async def verify(self, token: str, *, cookie_name: str | None = None) -> Principal:
        """The principal of a live session, else InvalidToken (IssuerUnavailable: retry later).

        `token` is the session token as the client sent it: the value of `Authorization: Bearer`
        (forwarded the same way, which needs Better Auth's `bearer()` plugin) or, with
        `cookie_name`, the value of that session cookie (forwarded as that cookie).
        """
        if not token or len(token) > MAX_SESSION_TOKEN_LENGTH or not _COOKIE_OCTETS.fullmatch(token):
            raise InvalidToken(_NO_SESSION, detail="malformed session token")
        if cookie_name is not None and cookie_name not in self._config.cookie_names:
            raise InvalidToken(_NO_SESSION, detail="not a Better Auth session cookie")
        key = PositiveCache.key(f"{cookie_name or 'bearer'}\n{token}")
        cached = self._cache.get(key)
        if isinstance(cached, Principal):
            return cached
        principal = await self._ask(token, cookie_name)
        if principal.expires_at is not None:
            ttl = min(self._config.session_cache_ttl, principal.expires_at - self._wall())
            self._cache.put(key, principal, ttl)
        return principal

    async def _ask(self, token: str, cookie_name: str | None) -> Principal:
        headers = {"Accept": "application/json"}
        if cookie_name is None:
            headers["Authorization"] = f"Bearer {token}"
        else:
            headers["Cookie"] = f"{cookie_name}={token}"
        url = self._config.endpoint("/get-session")
        try:
            response = await self._http.get(
                url,
                # Read-only: skip its cookie cache (we never forward that cookie anyway) and do not
                # extend the session's lifetime from a resource server.
                params={"disableCookieCache": "true", "disableRefresh": "true"},
                headers=headers,
                timeout=self._config.timeout,
                follow_redirects=False,
            )
        except httpx.HTTPError as exc:
            log.warning("Better Auth get-session failed: %s", type(exc).__name__)
            raise IssuerUnavailable(_UNAVAILABLE, detail="get-session unreachable") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise IssuerUnavailable(_UNAVAILABLE, detail=f"get-session HTTP {response.status_code}")
        if response.status_code != 200:
            raise InvalidToken(_NO_SESSION, detail=f"get-session HTTP {response.status_code}")
        try:
            body = json.loads(response.content)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise IssuerUnavailable(_UNAVAILABLE, detail="get-session answer not JSON") from exc
        if body is None:  # 200 with `null`: no such session (signed out, expired, forged)
            raise InvalidToken(_NO_SESSION, detail="get-session: null")
        return self._principal(body)

    def _principal(self, body: Any) -> Principal:
        session = body.get("session") if isinstance(body, dict) else None
        user = body.get("user") if isinstance(body, dict) else None
        if not isinstance(session, dict) or not isinstance(user, dict):
            raise IssuerUnavailable(_UNAVAILABLE, detail="get-session answer has no session and user")
        user_id = user.get("id")
        if not isinstance(user_id, str) or not user_id or session.get("userId", user_id) != user_id:
            raise InvalidToken(_NO_SESSION, detail="get-session: user id missing or inconsistent")
        expires_at = _timestamp(session.get("expiresAt"))
        if expires_at is None or expires_at <= self._wall():
            raise InvalidToken(_NO_SESSION, detail="get-session: session expired")
        # The same shape as its JWT payload (the user object plus sub/iss/exp), without the token.
        claims = {**user, "sub": user_id, "iss": self._config.issuer_id, "exp": int(expires_at)}
        if isinstance(session.get("id"), str):
            claims["sid"] = session["id"]
        return Principal(
            subject=user_id,
            issuer=self._config.issuer_id,
            client_id=None,
            scopes=string_set(lookup(claims, self._config.claims.scope)),
            roles=string_set(lookup(claims, self._config.claims.roles)),
            claims=claims,
            source="better_auth_session",
            expires_at=int(expires_at),
        )


def _timestamp(value: Any) -> float | None:
    """Seconds since the epoch from Better Auth's ISO 8601 date (`2026-12-02T12:22:17.289Z`)."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.timestamp() if moment.tzinfo is not None else None
