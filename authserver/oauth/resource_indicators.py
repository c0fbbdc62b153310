"""RFC 8707 resource indicators: which audience (`aud`) an access token is for.

A new grant (client_credentials, password) may name any resource the client is registered for;
without one the token is for the default audience. A token request that continues a grant (code
redemption, refresh) may only stay within what that grant covers (RFC 8707 §2.2): the resource the
user authorized at /authorize, or the default audience if none was named there. Anything else is
`invalid_target`, never a wider token.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import OAuth2Error


class InvalidTargetError(OAuth2Error):  # type: ignore[misc]
    """RFC 8707 §2: the requested resource is not one this client may get tokens for."""

    error = "invalid_target"


def _well_formed(resource: str) -> bool:
    # RFC 8707 §2: an absolute URI without a fragment. A malformed one must not raise.
    try:
        parts = urlsplit(resource)
    except ValueError:
        return False
    return bool(parts.scheme and parts.netloc) and not parts.fragment and "#" not in resource


def for_new_grant(requested: str | None, registered: list[str], default: str) -> str:
    if not requested:  # RFC 6749 §3.1: a parameter sent without a value is treated as omitted
        return default
    if not _well_formed(requested) or requested not in registered:
        raise InvalidTargetError("The requested resource is not allowed for this client.")
    return requested


def within_grant(requested: str | None, granted: str) -> str:
    """The grant's own audience; a different `resource` would widen it. An empty one is
    omitted (RFC 6749 §3.1)."""
    if requested and requested != granted:
        raise InvalidTargetError("The requested resource is outside what this grant covers.")
    return granted
