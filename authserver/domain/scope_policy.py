"""Which scopes a token may carry: authorization, kept apart from authentication.

Two limits apply (RFC 6749 §3.3): a client gets only scopes it is registered for (asking for more
is `invalid_scope`), and a scope that the role mapping names is delegated by a user only if one of
the user's roles unlocks it (such scopes are quietly left out, and the token response says which
scope was granted). Roles appear in a token only when the `roles` scope is granted.
"""

from __future__ import annotations

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
