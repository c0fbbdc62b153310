"""Which scopes a token may carry: authorization, kept apart from authentication.

Two limits apply (RFC 6749 §3.3): a client gets only scopes it is registered for (asking for more
is `invalid_scope`), and a scope that the role mapping names is delegated by a user only if one of
the user's roles unlocks it (such scopes are quietly left out, and the token response says which
scope was granted). Roles appear in a token only when the `roles` scope is granted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

ROLES_SCOPE = "roles"


def split(scope: str | None) -> list[str]:
    return sorted(set(scope.split())) if scope else []


def join(scopes: Iterable[str]) -> str:
    return " ".join(sorted(set(scopes)))


def beyond_registration(requested: Iterable[str], registered: Iterable[str]) -> list[str]:
    """Requested scopes the client is not registered for (any -> `invalid_scope`)."""
    allowed = set(registered)
    return sorted(s for s in requested if s not in allowed)


def delegable(
    scopes: Iterable[str], roles: Iterable[str], role_scopes: Mapping[str, Iterable[str]]
) -> list[str]:
    """The subset of `scopes` a user with `roles` may delegate."""
    restricted = {s for granted in role_scopes.values() for s in granted}
    unlocked = {s for role in roles for s in role_scopes.get(role, ())}
    return sorted(s for s in set(scopes) if s not in restricted or s in unlocked)


class MalformedScope(ValueError):
    """The scope parameter breaks RFC 6749 §3.3's grammar."""


# RFC 6749 §3.3: scope = scope-token *( SP scope-token ); scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_RE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,128}(?: [\x21\x23-\x5b\x5d-\x7e]{1,128}){0,63}")


def parse_requested(raw: str | None) -> list[str] | None:
    """The scopes a request asks for; None when it asks for none (absent or empty parameter).

    Tokens are separated by exactly one space, with none leading or trailing (RFC 6749 §3.3):
    `"a  b"` or `"a\\tb"` is malformed, not two scopes.
    """
    if raw is None or raw == "":
        return None
    if not _SCOPE_RE.fullmatch(raw):
        raise MalformedScope("scope must be scope tokens separated by single spaces (RFC 6749 section 3.3).")
    return sorted(set(raw.split(" ")))
