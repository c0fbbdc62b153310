"""Client authentication at the token, introspection and revocation endpoints: one rule, everywhere.

RFC 6749 §2.3 and RFC 7521 §4.2 (checklist T3, T4, T12, I1, I5):

- A request carries exactly one mechanism: HTTP Basic, ``client_secret`` in the body, or a
  ``client_assertion`` (private_key_jwt). Two at once is ``invalid_request``; none at all means a
  public client naming itself with ``client_id`` (method ``none``).
- A ``client_id`` in the body must name the same client as the mechanism (Basic user name or the
  assertion's ``sub``).
- A client authenticates with the method it registered, and only where the endpoint allows it.
- An unknown client, a wrong secret and a bad assertion read the same to the caller; the reason
  goes to the debug log (never the credential). Only a caller that proved the credential is told
  that it used the wrong method.

Discovery's ``*_auth_methods_supported`` lists are built from the constants here, so what is
advertised is what is enforced (D5).
"""

from __future__ import annotations

import binascii
import logging
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote

from authlib.oauth2.rfc6749 import InvalidClientError, InvalidRequestError

from authserver.domain import identifiers

log = logging.getLogger("authserver.oauth.client_auth")

BASIC = "client_secret_basic"
POST = "client_secret_post"
PRIVATE_KEY_JWT = "private_key_jwt"
NONE = "none"

SECRET_METHODS = (BASIC, POST)
CONFIDENTIAL_METHODS = (BASIC, POST, PRIVATE_KEY_JWT)
ALL_METHODS = (*CONFIDENTIAL_METHODS, NONE)
# Where each endpoint lets a client in. Introspection is for resource servers, which are
# confidential clients (RFC 7662 §2.1); revocation also serves public clients (RFC 7009 §2.1).
TOKEN_ENDPOINT_METHODS = ALL_METHODS
INTROSPECTION_METHODS = CONFIDENTIAL_METHODS
REVOCATION_METHODS = ALL_METHODS

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
FAILED = "Client authentication failed."
REALM = 'Basic realm="authserver"'


class ClientFailed(InvalidClientError):  # type: ignore[misc]
    """`invalid_client`, always 401 with a Basic challenge (RFC 6749 §5.2), one public text.

    `reason` is for the operator's debug log only.
    """

    def __init__(self, reason: str, description: str = FAILED) -> None:
        super().__init__(description=description, status_code=401)
        self.reason = reason

    def get_headers(self) -> list[tuple[str, str]]:
        headers: list[tuple[str, str]] = super(InvalidClientError, self).get_headers()
        headers.append(("WWW-Authenticate", REALM))
        return headers


class AuthenticatedClient(Protocol):
    """What this module needs of a loaded client."""

    client_id: str

    @property
    def auth_method(self) -> str: ...

    def check_client_secret(self, secret: str) -> bool: ...


class ClientLoader(Protocol):
    def __call__(self, client_id: str) -> Any: ...


class AssertionVerifier(Protocol):
    def __call__(self, assertion: str) -> tuple[str, Any]: ...


@dataclass(frozen=True)
class Presented:
    """What the request offers to prove who the client is."""

    method: str
    client_id: str
    secret: str | None = None
    assertion: str | None = None


def _basic(header: str) -> tuple[str, str]:
    """RFC 6749 §2.3.1 / RFC 7617: base64 of form-urlencoded id ':' secret, UTF-8."""
    encoded = header[6:].strip()
    try:
        raw = binascii.a2b_base64(encoded.encode("ascii"), strict_mode=True)
        text = raw.decode("utf-8")
    except (binascii.Error, ValueError, UnicodeError):
        raise ClientFailed("Basic credentials are not base64 of UTF-8 text") from None
    client_id, sep, secret = text.partition(":")
    if not sep:
        raise ClientFailed("Basic credentials have no ':'")
    try:
        return unquote(client_id, errors="strict"), unquote(secret, errors="strict")
    except UnicodeError:
        raise ClientFailed("Basic credentials are not percent-encoded UTF-8") from None


def presented(headers: Any, form: dict[str, str]) -> Presented:
    """The one mechanism this request uses (T4), or an error."""
    authorization = headers.get("authorization") or ""
    uses_basic = authorization[:6].lower() == "basic "
    uses_post = "client_secret" in form
    uses_assertion = "client_assertion" in form or "client_assertion_type" in form
    if uses_basic + uses_post + uses_assertion > 1:
        raise InvalidRequestError("Use one client authentication method, not several.")
    body_id = form.get("client_id")
    if uses_basic:
        client_id, secret = _basic(authorization)
        found = Presented(BASIC, client_id, secret=secret)
    elif uses_post:
        found = Presented(POST, body_id or "", secret=form["client_secret"])
    elif uses_assertion:
        if form.get("client_assertion_type") != ASSERTION_TYPE or not form.get("client_assertion"):
            raise InvalidRequestError(f"client_assertion_type must be {ASSERTION_TYPE}.")
        return Presented(PRIVATE_KEY_JWT, body_id or "", assertion=form["client_assertion"])
    else:
        found = Presented(NONE, body_id or "")
    if body_id is not None and body_id != found.client_id:
        raise InvalidRequestError("client_id in the body does not match the authenticated client.")
    return found


def authenticate(
    headers: Any,
    form: dict[str, str],
    allowed: tuple[str, ...],
    load_client: ClientLoader,
    verify_assertion: AssertionVerifier,
) -> tuple[Any, str]:
    """Return (client, method) or raise `ClientFailed` / `InvalidRequestError`."""
    offer = presented(headers, form)
    if offer.method == PRIVATE_KEY_JWT:
        assert offer.assertion is not None
        subject, client = verify_assertion(offer.assertion)  # raises ClientFailed itself
        if offer.client_id and offer.client_id != subject:
            raise InvalidRequestError("client_id in the body does not match the assertion's sub.")
        return _check_method(client, PRIVATE_KEY_JWT, allowed), PRIVATE_KEY_JWT

    if not offer.client_id:
        raise ClientFailed("no client authentication and no client_id")
    if not identifiers.is_client_id(offer.client_id):
        raise ClientFailed("client_id is malformed")
    client = load_client(offer.client_id)
    if client is None:
        raise ClientFailed("unknown client")
    if offer.method == NONE:
        if client.auth_method != NONE:
            raise ClientFailed("a confidential client sent no credentials")
        return _check_method(client, NONE, allowed), NONE
    assert offer.secret is not None
    if not client.check_client_secret(offer.secret):
        raise ClientFailed("wrong or expired client secret")
    return _check_method(client, offer.method, allowed), offer.method


def _check_method(client: Any, method: str, allowed: tuple[str, ...]) -> Any:
    """The credential was proved: the caller may now hear which method to use instead."""
    registered = client.auth_method
    if method != registered:
        raise ClientFailed(
            f"client registered for {registered} used {method}",
            f"This client is registered for {registered}; authenticate with that method.",
        )
    if method not in allowed:
        raise ClientFailed(
            f"{method} is not accepted at this endpoint",
            f"Authentication method {method} is not accepted at this endpoint.",
        )
    return client
