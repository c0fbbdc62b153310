"""Bearer-token errors as RFC 6750 §3 defines them, one class per error code.

Each error knows its HTTP status, its RFC 6750 §3.1 code and the `WWW-Authenticate` challenge to send,
so the framework glue (`starlette.py`, `fastapi.py`) turns any of them into a response in one place.
A public `description` goes to the client; `detail` is for the service's log only. Neither ever
contains the token.
"""

from __future__ import annotations

import re
from typing import Any

# RFC 6750 §3: error_description and scope values are limited to %x20-21 / %x23-5B / %x5D-7E, i.e.
# printable ASCII without `"` and `\`, so they can sit in a quoted-string without escaping.
_NQSCHAR = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")
# RFC 6750 §3 scope-token: NQCHAR = %x21 / %x23-5B / %x5D-7E (no space).
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")


def is_scope_token(value: str) -> bool:
    """True when `value` is a valid RFC 6749 §3.3 / RFC 6750 §3 scope-token."""
    return _SCOPE_TOKEN.fullmatch(value) is not None


def quote_realm(realm: str) -> str:
    """An RFC 9110 §5.6.4 quoted-string for the `realm` auth-param (RFC 6750 §3, RFC 9110 §11.5)."""
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in realm):
        raise ValueError("realm must not contain control characters")
    return '"' + realm.replace("\\", "\\\\").replace('"', '\\"') + '"'


class BearerError(Exception):
    """A failed protected-resource request. Subclasses fix `status` and `error`."""

    status: int = 401
    error: str | None = None

    def __init__(self, description: str = "", *, detail: str = "", scope: tuple[str, ...] = ()) -> None:
        super().__init__(detail or description or self.error or "bearer error")
        # Never let a description break out of its quoted-string (RFC 6750 §3 character set).
        self.description = _NQSCHAR.sub("", description)
        self.detail = detail
        self.scope = scope

    def challenge(self, realm: str | None = None) -> str | None:
        """The `WWW-Authenticate` value: `Bearer realm="..", error="..", error_description=".."`."""
        params: list[str] = []
        if realm is not None:
            params.append(f"realm={quote_realm(realm)}")
        if self.error is not None:
            params.append(f'error="{self.error}"')
            if self.description:
                params.append(f'error_description="{self.description}"')
        if self.scope:
            params.append(f'scope="{" ".join(self.scope)}"')
        return "Bearer " + ", ".join(params) if params else "Bearer"

    def body(self) -> dict[str, Any]:
        """A JSON body repeating the challenge's error for clients that read bodies, not headers."""
        body: dict[str, Any] = {}
        if self.error is not None:
            body["error"] = self.error
        if self.description:
            body["error_description"] = self.description
        if self.scope:
            body["scope"] = " ".join(self.scope)
        return body

    def headers(self, realm: str | None = None) -> dict[str, str]:
        """Response headers: the challenge (when there is one) and no caching of the error."""
        headers = {"Cache-Control": "no-store"}
        challenge = self.challenge(realm)
        if challenge is not None:
            headers["WWW-Authenticate"] = challenge
        return headers


class TokenMissing(BearerError):
    """RFC 6750 §3.1: a request without any authentication gets 401 and a challenge *without* an
    error code, so a client learns that a token is needed without being told something failed."""

    status = 401
    error = None

    def __init__(self) -> None:
        super().__init__("", detail="no bearer token or session in the request")

    def body(self) -> dict[str, Any]:
        return {"error_description": "A bearer token is required."}


class InvalidRequest(BearerError):
    """RFC 6750 §3.1 `invalid_request` (400): a malformed `Authorization` header, or more than one
    way of sending credentials at once (RFC 6750 §2)."""

    status = 400
    error = "invalid_request"


class InvalidToken(BearerError):
    """RFC 6750 §3.1 `invalid_token` (401): expired, revoked, malformed, forged or foreign."""

    status = 401
    error = "invalid_token"


class InsufficientScope(BearerError):
    """RFC 6750 §3.1 `insufficient_scope` (403), naming the scopes the resource needs in `scope`."""

    status = 403
    error = "insufficient_scope"

    def __init__(self, required: tuple[str, ...]) -> None:
        super().__init__(
            "The access token does not grant the scope this resource needs.",
            detail=f"missing scopes {' '.join(required)}",
            scope=required,
        )


class IssuerUnavailable(BearerError):
    """The issuer's keys, introspection or session endpoint cannot be reached and nothing cached can
    decide. The token may well be good, so this is 503 (retry later), never a 401 and never a pass.
    """

    status = 503
    error = "temporarily_unavailable"
    retry_after = 5

    def challenge(self, realm: str | None = None) -> str | None:
        return None  # not an authentication failure: no Bearer challenge

    def headers(self, realm: str | None = None) -> dict[str, str]:
        return {"Cache-Control": "no-store", "Retry-After": str(self.retry_after)}
