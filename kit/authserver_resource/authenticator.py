"""The one object a service builds: every trusted issuer, and optionally a Better Auth app."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType

import httpx

from authserver_resource._fetch import monotonic
from authserver_resource.better_auth import BetterAuth, BetterAuthSessions
from authserver_resource.credentials import Credential, find_credential
from authserver_resource.errors import InvalidToken
from authserver_resource.issuers import Issuer
from authserver_resource.principal import Principal
from authserver_resource.validator import JwtValidator

_USER_AGENT = "authserver-resource/0.1"


class Authenticator:
    """Turns a credential into a verified `Principal`, or raises a `BearerError`.

    - `issuers`: the JWT issuers to trust (authserver, others), each with its own rules.
    - `better_auth`: a Better Auth app whose JWTs (as one more issuer) and, if its `sessions` is on,
      sessions are trusted.
    - `http`: the client for metadata, JWKS, introspection and get-session; by default one is made
      (and closed by `aclose`). Pass your own for proxies, custom CAs or tests.

    A bearer token with two dots is a JWT; any other bearer token is a Better Auth session token
    when sessions are trusted (Better Auth's are `<token>` or `<token>.<signature>`).
    """

    def __init__(
        self,
        issuers: Sequence[Issuer] = (),
        *,
        better_auth: BetterAuth | None = None,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = monotonic,
    ) -> None:
        trusted = list(issuers)
        if better_auth is not None:
            trusted.append(better_auth.jwt_issuer())
        if not trusted:
            raise ValueError("trust at least one issuer or a Better Auth app")
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(headers={"User-Agent": _USER_AGENT}, follow_redirects=False)
        self.better_auth = better_auth
        self._jwt = JwtValidator(trusted, self._http, clock=clock, monotonic=monotonic)
        self._sessions = (
            BetterAuthSessions(better_auth, self._http, clock=monotonic, wall=clock)
            if better_auth is not None and better_auth.sessions
            else None
        )

    async def verify_jwt(self, token: str) -> Principal:
        """A JWT from one of the trusted issuers (RFC 9068 §4 checks, introspection if configured)."""
        return await self._jwt.validate(token)

    async def verify_session(self, token: str, *, cookie_name: str | None = None) -> Principal:
        """A Better Auth session token (bearer) or session cookie value (`cookie_name`)."""
        if self._sessions is None:
            raise InvalidToken("The access token is invalid.", detail="Better Auth sessions not trusted")
        return await self._sessions.verify(token, cookie_name=cookie_name)

    async def authenticate(self, credential: Credential) -> Principal:
        """The principal for a credential found by `find_credential`."""
        if credential.cookie_name is not None:
            return await self.verify_session(credential.value, cookie_name=credential.cookie_name)
        if credential.value.count(".") == 2 or self._sessions is None:
            return await self.verify_jwt(credential.value)
        return await self.verify_session(credential.value)

    async def authenticate_request(
        self,
        *,
        authorization: Sequence[str],
        cookies: Mapping[str, str],
        method: str,
        origin: str | None,
    ) -> Principal | None:
        """The principal of a request, None when it carries no credential at all."""
        credential = find_credential(
            authorization=authorization,
            cookies=cookies,
            method=method,
            origin=origin,
            better_auth=self.better_auth,
        )
        return None if credential is None else await self.authenticate(credential)

    async def aclose(self) -> None:
        """Close the HTTP client if this object made it."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Authenticator:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
