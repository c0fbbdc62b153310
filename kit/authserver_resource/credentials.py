"""Finding the credential in a request: an RFC 6750 §2.1 bearer token or a Better Auth session cookie.

Framework-neutral: the glue modules pass in header values and cookies.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from authserver_resource.better_auth import BetterAuth
from authserver_resource.errors import InvalidRequest

# RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token; b64token = 1*( ALPHA / DIGIT / "-" / "." /
# "_" / "~" / "+" / "/" ) *"="
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
# RFC 9110 §9.2.1: methods that must not change state; anything else needs CSRF protection.
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Credential:
    """What the client presented: a bearer token, or a session cookie (`cookie_name` set)."""

    value: str = field(repr=False)
    cookie_name: str | None = None


def bearer_token(authorization: Sequence[str]) -> str | None:
    """The token of an `Authorization: Bearer` header; None when there is no Bearer header.

    InvalidRequest (400, RFC 6750 §3.1) for several Authorization headers or a Bearer header whose
    token does not follow the b64token syntax: such a request is malformed, not unauthenticated.
    """
    if not authorization:
        return None
    if len(authorization) > 1:
        raise InvalidRequest("The request has more than one Authorization header.")
    scheme, _, rest = authorization[0].strip().partition(" ")
    if scheme.lower() != "bearer":  # RFC 9110 §11.1: auth schemes are case-insensitive
        return None  # another scheme is not ours to judge: the request carries no bearer token
    token = rest.strip(" ")
    if not _B64TOKEN.fullmatch(token):
        raise InvalidRequest("The Authorization header is not a valid Bearer credential.")
    return token


def find_credential(
    *,
    authorization: Sequence[str],
    cookies: Mapping[str, str],
    method: str,
    origin: str | None,
    better_auth: BetterAuth | None,
) -> Credential | None:
    """The request's credential, the Authorization header first, else a Better Auth session cookie.

    A cookie is sent by the browser on its own, so a state-changing request authenticated only by
    the cookie must come from a trusted `Origin` (the same guard Better Auth applies to its own
    endpoints); otherwise a foreign page could make the user's browser act for it (CSRF).
    """
    token = bearer_token(authorization)
    if token is not None:
        return Credential(token)
    if better_auth is None or not better_auth.sessions:
        return None
    for name in better_auth.cookie_names:
        value = cookies.get(name)
        if not value:
            continue
        trusted = better_auth.trusted_origins or ()
        if method.upper() not in _SAFE_METHODS and (origin or "").rstrip("/") not in trusted:
            raise InvalidRequest("A session cookie is accepted on this method only from a trusted Origin.")
        return Credential(value, cookie_name=name)
    return None
